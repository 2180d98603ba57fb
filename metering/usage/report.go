package usage

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/azure-vote/azure-vote/metering"
)

// Report is what a usage page shows of one dimension: the ledger's hours of
// a window, their totals, each UTC day of the window set beside the
// service's records of it, and the month's estimated charges.
type Report struct {
	Dimension   string    `json:"dimension"`
	GeneratedAt time.Time `json:"generatedAt"` // the clock's time the report describes
	Since       time.Time `json:"since"`       // first hour of the window
	// Hours are the ledger's hours of the window, newest first.
	Hours  []Hour `json:"hours"`
	Totals Totals `json:"totals"`
	// Earlier counts the problems of hours before the window, which a page
	// should not let out of sight whatever its window.
	Earlier Earlier `json:"earlier"`
	// LastPass is the end of the last reporting pass that held the lock;
	// zero before the first.
	LastPass time.Time `json:"lastPass,omitzero"`
	Service  Service   `json:"service"`
	// Reconciliation has one entry per UTC day of the window, oldest first.
	Reconciliation []Day    `json:"reconciliation"`
	Charges        *Charges `json:"charges,omitempty"` // nil without a rate card
}

// Input is what Build computes a report from: what a View reads, for
// callers that read the ledger and the service themselves.
type Input struct {
	Dimension string
	// History is every hour of the ledger (Ledger.History) from the first
	// day of the window, or from the first day of the month if that is
	// earlier, in any order.
	History []metering.Record
	// Open are the hours the reporter still works on (Ledger.Records):
	// those before the window are counted in Report.Earlier.
	Open     []metering.Record
	Service  Service
	RateCard *RateCard // nil: no charges
	LastPass time.Time
	// Since is the first hour of the window; Now is the time of the report,
	// which tells the open hour and the month.
	Since, Now time.Time
}

// Build computes the report of in. It only reads in.
func Build(in Input) Report {
	now, since := in.Now.UTC(), metering.HourOf(in.Since)
	svc := in.Service
	if svc.Records == nil {
		svc.Records = []metering.UsageRecord{}
	}
	rep := Report{
		Dimension: in.Dimension, GeneratedAt: now, Since: since, Hours: []Hour{}, LastPass: in.LastPass, Service: svc,
		Charges: charges(in.RateCard, in.History, svc, MonthOf(now)),
	}
	window := slices.DeleteFunc(slices.Clone(in.History), func(r metering.Record) bool { return r.Hour.Before(since) })
	slices.SortFunc(window, func(a, b metering.Record) int { return b.Hour.Compare(a.Hour) })
	for _, r := range window {
		h := label(r, now)
		rep.Hours = append(rep.Hours, h)
		rep.Totals.add(h)
	}
	for _, r := range in.Open {
		switch {
		case !r.Hour.Before(since):
		case r.State == metering.StateUnresolved:
			rep.Earlier.Unresolved++
		case !r.State.Settled() && r.LastError != "":
			rep.Earlier.Failing++
		}
	}
	// Whole days: the service counts per day, so the hours of the first
	// day before the window count too.
	rep.Reconciliation = reconcile(in.History, svc, since, now)
	return rep
}

// MonthOf is the first instant of t's UTC month: charges are per month.
func MonthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// Status is an hour's status as a reader of a usage page thinks of it: the
// ledger's state, told apart by what it means for the hour.
type Status string

// Hour statuses.
const (
	StatusOpen        Status = "open"    // the current hour, still counting
	StatusPending     Status = "pending" // closed, not sent yet, or sent with no answer yet
	StatusAccepted    Status = "accepted"
	StatusDuplicate   Status = "duplicate"
	StatusCarried     Status = "carried" // too old to send: moved to a later hour
	StatusMismatch    Status = "mismatch"
	StatusFailed      Status = "failed"       // the last send was refused or failed; retried
	StatusMaybeBilled Status = "maybe-billed" // a try may have reached the service; resent until it answers
	StatusUnresolved  Status = "unresolved"   // may be billed, cannot be resent: someone must decide
)

// StateOpen is the State a report gives the current hour when the ledger
// has recorded nothing for it yet; a closed hour without a state is
// metering.StatePending. So no Hour has an empty State.
const StateOpen metering.State = "open"

// Hour is a ledger hour with its status.
type Hour struct {
	metering.Record
	Status Status `json:"status"`
	// Note says why, for a status that needs it, or how the hour was
	// resolved.
	Note string `json:"note,omitempty"`
}

// label gives a ledger hour its status and note at now.
func label(r metering.Record, now time.Time) Hour {
	open := r.Hour.Add(time.Hour).After(now)
	if r.State == "" {
		r.State = metering.StatePending
		if open {
			r.State = StateOpen
		}
	}
	h := Hour{Record: r, Status: hourStatus(r, now)}
	switch h.Status {
	case StatusOpen:
		h.Note = "still counting; reported once the hour has closed"
	case StatusPending:
		h.Note = "closed; reported at the next pass"
		if r.State == metering.StateInflight {
			h.Note = "sent; the answer is not recorded yet"
		}
	case StatusFailed:
		h.Note = "retried at the next pass"
		if r.MaybeBilled {
			h.Note += "; an earlier try may already be billed"
		}
	case StatusMaybeBilled:
		h.Note = "a try may have reached the service; resent until its answer settles the hour"
	case StatusUnresolved:
		h.Note = "may be billed, and can no longer be resent"
		if r.Unresolved != "" {
			h.Note += ": " + r.Unresolved
		}
		h.Note += ". Never carried; settled by the service's records or by an operator (azure-vote settle)"
	}
	if r.Resolution != "" {
		h.Note = strings.TrimPrefix(h.Note+"; ", "; ") + "resolved by " + resolver(r.ResolvedBy)
		if !r.ResolvedAt.IsZero() {
			h.Note += " at " + r.ResolvedAt.UTC().Format("2006-01-02 15:04 UTC")
		}
		h.Note += ": " + r.Resolution
	}
	if r.State.Settled() && r.Due() > 0 {
		h.Note = strings.TrimPrefix(h.Note+"; ", "; ") + qty(r.Due()) + " counted after it settled, carried at the next pass"
	}
	return h
}

// resolver names who resolved an hour.
func resolver(by string) string {
	switch by {
	case "":
		return "an operator"
	case metering.ResolvedByRecords:
		return "the service's records"
	}
	return by
}

// hourStatus is the status of a ledger hour at now.
func hourStatus(r metering.Record, now time.Time) Status {
	switch r.State {
	case metering.StateUnresolved:
		return StatusUnresolved
	case metering.StateAccepted:
		return StatusAccepted
	case metering.StateDuplicate:
		return StatusDuplicate
	case metering.StateMismatch:
		return StatusMismatch
	case metering.StateExpired:
		return StatusCarried
	}
	switch {
	case r.LastError != "":
		return StatusFailed
	case r.MaybeBilled:
		return StatusMaybeBilled
	case r.Hour.Add(time.Hour).After(now):
		return StatusOpen
	}
	return StatusPending
}

// Totals add up the window's hours.
type Totals struct {
	Counted    float64 `json:"counted"`
	Billed     float64 `json:"billed"`  // reported: what the service accepted
	Due        float64 `json:"due"`     // counted, not yet billed nor carried
	Carried    float64 `json:"carried"` // moved to a later hour
	Mismatches int     `json:"mismatches"`
	Failing    int     `json:"failing"`    // hours whose last send failed
	Unresolved int     `json:"unresolved"` // hours that may be billed and cannot be resent
	// MaybeBilled counts unsettled hours a try of which may have reached
	// the service.
	MaybeBilled int `json:"maybeBilled"`
	// Waiting is the usage of closed hours not reported yet.
	Waiting float64 `json:"waiting"`
}

func (t *Totals) add(h Hour) {
	t.Counted += h.Counted
	t.Billed += h.Reported
	t.Due += max(0, h.Due())
	t.Carried += h.CarriedOut
	switch h.Status {
	case StatusMismatch:
		t.Mismatches++
	case StatusFailed:
		t.Failing++
	case StatusUnresolved:
		t.Unresolved++
	case StatusMaybeBilled:
		t.MaybeBilled++
	}
	if h.Status != StatusOpen && !h.State.Settled() {
		t.Waiting += max(0, h.Due())
	}
}

// Earlier are the problems of hours before the window.
type Earlier struct {
	Failing    int `json:"failing"`
	Unresolved int `json:"unresolved"`
}

// qty writes a quantity for a note: no exponent, and no float noise from
// sums of decimals (0.1+0.2 is 0.3).
func qty(f float64) string {
	return strconv.FormatFloat(math.Round(f*1e6)/1e6, 'f', -1, 64)
}

// plural writes n and a noun, in the plural unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
