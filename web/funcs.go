package web

import (
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// templateFuncs are the helpers the templates use.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"qty":      formatQty,
		"status":   hourStatus,
		"contains": strings.Contains,
		"money":    formatMoney,
		"signed": func(f float64) string {
			if f > 0 {
				return "+" + formatQty(f)
			}
			return formatQty(f)
		},
		"utc": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		},
		"hour": func(t time.Time) string { return t.UTC().Format("Jan 2, 15:04") },
		"day":  func(t time.Time) string { return t.UTC().Format("Mon Jan 2") },
		"month": func(t time.Time) string {
			return t.UTC().Format("January 2006")
		},
		"iso": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format(time.RFC3339)
		},
		// coord writes an SVG coordinate without float noise.
		"coord": func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 32) },
	}
}

// formatQty writes a quantity as a person reads it: no exponent, and no
// float noise from sums of decimals (0.1+0.2 is 0.3).
func formatQty(f float64) string {
	return strconv.FormatFloat(math.Round(f*1e6)/1e6, 'f', -1, 64)
}

// formatMoney writes an amount with two decimals, or up to four when it
// has them (unit prices of a fraction of a cent).
func formatMoney(f float64) string {
	s := strconv.FormatFloat(math.Round(f*1e4)/1e4, 'f', 4, 64)
	s = strings.TrimRight(s, "0")
	if i := strings.IndexByte(s, '.'); len(s)-i < 3 {
		s += strings.Repeat("0", 3-(len(s)-i))
	}
	return s
}
