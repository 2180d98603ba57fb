package web

import (
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/azure-vote/azure-vote/metering/usage"
)

// templateFuncs are the helpers the templates use.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"qty":        formatQty,
		"statusText": statusText,
		"dayText":    dayText,
		"plural":     plural,
		"contains":   strings.Contains,
		"money":      formatAmount,
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

// formatAmount writes an amount in the configured currency: a code
// (USD) after the number, a symbol ($, €) before it, nothing when unset.
func formatAmount(currency string, f float64) string {
	switch {
	case currency == "":
		return formatMoney(f)
	case strings.IndexFunc(currency, func(r rune) bool { return !unicode.IsLetter(r) }) < 0:
		return formatMoney(f) + " " + currency
	}
	return currency + formatMoney(f)
}

// dayText is a reconciliation status as the page writes it.
func dayText(status usage.DayStatus) string {
	switch status {
	case usage.DayUnreported:
		return "not reported yet"
	case usage.DayNoUsage:
		return "no usage"
	}
	return string(status)
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
