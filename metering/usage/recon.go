package usage

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/azure-vote/azure-vote/metering"
)

// Service is what GET usageEvents answered for the resource, plan and
// dimension. The service counts per UTC day, not per hour.
type Service struct {
	// Unavailable says why the service was not asked (reporting paused).
	Unavailable   string                 `json:"unavailable,omitempty"`
	Error         string                 `json:"error,omitempty"`
	CorrelationID string                 `json:"correlationId,omitempty"` // of the call that failed
	FetchedAt     time.Time              `json:"fetchedAt,omitzero"`
	Note          string                 `json:"note,omitempty"` // a caveat about the source, e.g. an emulator's memory
	Records       []metering.UsageRecord `json:"records"`
}

// Answered reports whether the service's totals are known.
func (s Service) Answered() bool {
	return s.Unavailable == "" && s.Error == "" && !s.FetchedAt.IsZero()
}

// DayStatus is how a day of the ledger compares with the service's record.
type DayStatus string

// Day statuses.
const (
	DayMatch      DayStatus = "match"
	DayDiffers    DayStatus = "differs"
	DayProcessing DayStatus = "processing" // received, not yet processed by the service
	DayUnchecked  DayStatus = "unchecked"  // one side is unknown
	DayUnreported DayStatus = "unreported" // usage of the day is not reported yet
	DayUnresolved DayStatus = "unresolved" // an hour of the day may be billed unseen
	DayNoUsage    DayStatus = "no-usage"   // nothing counted, nothing at the service
)

// Day sets one UTC day of the ledger beside the service's record of it.
type Day struct {
	Day       time.Time `json:"day"`
	Hours     int       `json:"hours"`     // ledger hours of the day with usage
	Counted   float64   `json:"counted"`   // usage counted in the day
	Billed    float64   `json:"billed"`    // what the ledger says the service accepted
	Unsettled float64   `json:"unsettled"` // due in hours not settled yet
	InFlight  int       `json:"inFlight"`  // hours sent with no answer yet: the service may hold them
	// Unresolved counts the day's unresolved hours: the service may hold them.
	Unresolved int `json:"unresolved"`
	// LedgerComplete: the ledger still holds every hour of the day.
	LedgerComplete bool `json:"ledgerComplete"`
	// The service's row(s) of the day; ServiceRows 0 means none.
	ServiceRows int       `json:"serviceRows"`
	Submitted   float64   `json:"submitted"`
	Processed   float64   `json:"processed"`
	ReconStatus string    `json:"reconStatus,omitempty"` // the service's, of each row
	Difference  float64   `json:"difference"`            // Submitted - Billed
	Status      DayStatus `json:"status"`
	Note        string    `json:"note,omitempty"`
}

// ledgerRetention is how far back a ledger's History gives every hour: the
// stores keep the last 31 days, so older days cannot be reconciled hour by
// hour.
const ledgerRetention = 31 * 24 * time.Hour

// reconcile sums the ledger's hours per UTC day, the service's unit, and
// compares them with the service's rows, for every day from since's to
// now's. The comparison is of what was billed: the ledger's Reported is the
// quantity the service accepted.
func reconcile(hours []metering.Record, svc Service, since, now time.Time) []Day {
	first, last := metering.DayOf(since), metering.DayOf(now)
	var days []Day
	index := map[time.Time]int{}
	for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
		index[d] = len(days)
		days = append(days, Day{Day: d, LedgerComplete: !d.Before(now.Add(-ledgerRetention))})
	}
	for _, h := range hours {
		i, ok := index[metering.DayOf(h.Hour)]
		if !ok {
			continue
		}
		d := &days[i]
		if h.Counted > 0 {
			d.Hours++
		}
		d.Counted += h.Counted
		d.Billed += h.Reported
		if !h.State.Settled() {
			d.Unsettled += max(0, h.Due())
		}
		switch h.State {
		case metering.StateInflight:
			d.InFlight++
		case metering.StateUnresolved:
			d.Unresolved++
		}
	}
	answered := svc.Answered()
	for _, rec := range svc.Records {
		i, ok := index[metering.DayOf(rec.UsageDate.Time)]
		if !ok {
			continue
		}
		d := &days[i]
		d.ServiceRows++
		d.Submitted += rec.SubmittedQuantity
		d.Processed += rec.ProcessedQuantity
		if st := string(rec.ReconStatus); st != "" && !strings.Contains(d.ReconStatus, st) {
			d.ReconStatus = strings.TrimPrefix(d.ReconStatus+", "+st, ", ")
		}
	}
	for i := range days {
		d := &days[i]
		d.Difference = d.Submitted - d.Billed
		d.Status, d.Note = dayStatus(*d, answered)
	}
	return days
}

// dayStatus judges a day: what the service holds against what the ledger
// says it billed, then what is still to be reported. Nothing is a match
// while usage of the day is unreported, failing, unresolved or may have
// been billed unseen.
func dayStatus(d Day, answered bool) (status DayStatus, note string) {
	switch {
	case !answered:
		return DayUnchecked, "the service's totals are not available"
	case !d.LedgerComplete && d.ServiceRows > 0:
		// The ledger's hours of the day are out of reach; a day the
		// service has nothing for needs none of them.
		return DayUnchecked, "the ledger's history reaches back 31 days"
	case !same(d.Submitted, d.Billed):
		switch {
		case d.ServiceRows == 0:
			note = "the service has no record of the day"
		case d.Difference > 0:
			note = fmt.Sprintf("the service holds %s more than the ledger", qty(d.Difference))
		default:
			note = fmt.Sprintf("the service holds %s less than the ledger", qty(-d.Difference))
		}
		switch {
		case d.Unresolved > 0:
			note += "; an unresolved hour may explain it"
		case d.InFlight > 0:
			note += "; hours in flight may explain it"
		}
		return DayDiffers, note
	case strings.Contains(d.ReconStatus, string(metering.ReconRejected)) || strings.Contains(d.ReconStatus, string(metering.ReconMismatch)):
		return DayDiffers, "the service marked the day " + d.ReconStatus
	case d.Unresolved > 0:
		return DayUnresolved, fmt.Sprintf("%s unresolved: the service may hold it", plural(d.Unresolved, "hour"))
	case d.Unsettled > 0:
		note = qty(d.Unsettled) + " not reported yet"
		if d.Billed > 0 {
			note += "; what is reported matches"
		}
		return DayUnreported, note
	case d.Counted == 0 && d.Billed == 0 && d.ServiceRows == 0:
		return DayNoUsage, ""
	case !same(d.Processed, d.Submitted):
		return DayProcessing, "the service has not processed all it received yet"
	}
	return DayMatch, ""
}

// same compares quantities that went through decimal text and sums.
func same(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
