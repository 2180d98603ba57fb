package web

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// csvHeader names the columns of the ledger's CSV export, in the ledger's
// JSON field names, so that a script can read either.
func csvHeader() []string {
	return []string{
		"hour", "dimension", "state", "status", "counted", "carriedIn", "carriedOut", "sent", "reported",
		"usageEventId", "messageTime", "attempts", "lastError", "correlationId", "carriedTo", "carriedFrom",
		"maybeBilled", "unresolved", "resolution", "resolvedBy", "resolvedAt", "note",
	}
}

// usageCSV answers the window's ledger as CSV (GET /api/usage.csv, or
// /api/usage?format=csv), newest hour first, for the publisher's books.
func (s *Server) usageCSV(w http.ResponseWriter, r *http.Request) {
	rep, win, ok := s.loadUsage(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", `attachment; filename="usage-`+fileSafe(rep.Dimension)+"-"+
		rep.GeneratedAt.UTC().Format("20060102T1504Z")+"-"+win.Key+`.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write(csvHeader())
	for _, h := range rep.Hours {
		_ = cw.Write([]string{
			csvTime(h.Hour), csvText(h.Dimension), string(h.State), string(h.Status),
			formatQty(h.Counted), formatQty(h.CarriedIn), formatQty(h.CarriedOut), formatQty(h.Sent), formatQty(h.Reported),
			csvText(h.UsageEventID), csvTime(h.MessageTime), strconv.Itoa(h.Attempts), csvText(h.LastError),
			csvText(h.CorrelationID), csvTime(h.CarriedTo), csvTime(h.CarriedFrom),
			strconv.FormatBool(h.MaybeBilled), csvText(h.Unresolved), csvText(h.Resolution), csvText(h.ResolvedBy),
			csvTime(h.ResolvedAt), csvText(h.Note),
		})
	}
	cw.Flush()
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// csvText keeps a text cell from being read as a formula by a spreadsheet:
// error messages come from the service and may start with anything.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// fileSafe keeps the characters a file name may always hold.
func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '.' || r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, s)
}
