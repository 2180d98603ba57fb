package web

import (
	"fmt"
	"strings"
	"time"

	"github.com/azure-vote/azure-vote/metering"
)

// The rules by which the usage page and /api/usage name what they show.
// Each is a pure function of the report, so each is tested on its own. One
// rule runs through them all: nothing is shown as fine (green) while usage
// is unreported, failing, unresolved or may have been billed unseen.

// Hour statuses: the ledger's states as a reader of the page thinks of them.
const (
	statusOpen        = "open"    // the current hour, still counting
	statusPending     = "pending" // closed, not sent yet, or sent with no answer yet
	statusAccepted    = "accepted"
	statusDuplicate   = "duplicate"
	statusCarried     = "carried" // too old to send: moved to a later hour
	statusMismatch    = "mismatch"
	statusFailed      = "failed"       // the last send was refused or failed; retried
	statusMaybeBilled = "maybe-billed" // a try may have reached the service; resent until it answers
	statusUnresolved  = "unresolved"   // may be billed, cannot be resent: someone must decide
)

// StateOpen is the state /api/usage gives the current hour, which the
// ledger has not recorded anything for yet.
const StateOpen metering.State = "open"

// chartStatuses are every hour status, in the legend's order.
func chartStatuses() []string {
	return []string{statusOpen, statusPending, statusAccepted, statusDuplicate, statusCarried,
		statusMaybeBilled, statusUnresolved, statusMismatch, statusFailed}
}

// statusText is a status as the page writes it.
func statusText(status string) string { return strings.ReplaceAll(status, "-", " ") }

// HourRow is a ledger hour as the page and /api/usage show it.
type HourRow struct {
	metering.Record
	// Status is the page's name for the hour (open, pending, accepted,
	// duplicate, carried, maybe-billed, unresolved, mismatch, failed).
	Status string `json:"status"`
	// Note says why, for a status that needs it, or how the hour was
	// resolved.
	Note string `json:"note,omitempty"`
}

// hourRow labels a ledger hour at now. The ledger's zero state becomes
// "open" for an hour still counting and "pending" for a closed one.
func hourRow(r metering.Record, now time.Time) HourRow {
	open := r.Hour.Add(time.Hour).After(now)
	if r.State == "" {
		r.State = metering.StatePending
		if open {
			r.State = StateOpen
		}
	}
	row := HourRow{Record: r, Status: hourStatus(r, now)}
	switch row.Status {
	case statusOpen:
		row.Note = "still counting; reported once the hour has closed"
	case statusPending:
		row.Note = "closed; reported at the next pass"
		if r.State == metering.StateInflight {
			row.Note = "sent; the answer is not recorded yet"
		}
	case statusFailed:
		row.Note = "retried at the next pass"
		if r.MaybeBilled {
			row.Note += "; an earlier try may already be billed"
		}
	case statusMaybeBilled:
		row.Note = "a try may have reached the service; resent until its answer settles the hour"
	case statusUnresolved:
		row.Note = "may be billed, and can no longer be resent"
		if r.Unresolved != "" {
			row.Note += ": " + r.Unresolved
		}
		row.Note += ". Never carried; settled by the service's records or by an operator (azure-vote settle)"
	}
	if r.Resolution != "" {
		row.Note = strings.TrimPrefix(row.Note+"; ", "; ") + "resolved by " + resolver(r.ResolvedBy)
		if !r.ResolvedAt.IsZero() {
			row.Note += " at " + r.ResolvedAt.UTC().Format("2006-01-02 15:04 UTC")
		}
		row.Note += ": " + r.Resolution
	}
	if r.State.Settled() && r.Due() > 0 {
		row.Note = strings.TrimPrefix(row.Note+"; ", "; ") + formatQty(r.Due()) + " counted after it settled, carried at the next pass"
	}
	return row
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

// hourStatus is the page's status of a ledger hour at now.
func hourStatus(r metering.Record, now time.Time) string {
	switch r.State {
	case metering.StateUnresolved:
		return statusUnresolved
	case metering.StateAccepted:
		return statusAccepted
	case metering.StateDuplicate:
		return statusDuplicate
	case metering.StateMismatch:
		return statusMismatch
	case metering.StateExpired:
		return statusCarried
	}
	switch {
	case r.LastError != "":
		return statusFailed
	case r.MaybeBilled:
		return statusMaybeBilled
	case r.Hour.Add(time.Hour).After(now):
		return statusOpen
	}
	return statusPending
}

// dayStatus judges a reconciliation day: what the service holds against
// what the ledger says it billed, then what is still to be reported.
func dayStatus(d ReconDay, answered bool) (status, note string) {
	switch {
	case !answered:
		return ReconUnchecked, "the service's totals are not available"
	case !d.LedgerComplete && d.ServiceRows > 0:
		// The ledger's hours of the day are out of reach; a day the
		// service has nothing for needs none of them.
		return ReconUnchecked, "the ledger's history reaches back 31 days"
	case !same(d.Submitted, d.Billed):
		switch {
		case d.ServiceRows == 0:
			note = "the service has no record of the day"
		case d.Difference > 0:
			note = fmt.Sprintf("the service holds %s more than the ledger", formatQty(d.Difference))
		default:
			note = fmt.Sprintf("the service holds %s less than the ledger", formatQty(-d.Difference))
		}
		switch {
		case d.Unresolved > 0:
			note += "; an unresolved hour may explain it"
		case d.InFlight > 0:
			note += "; hours in flight may explain it"
		}
		return ReconDiffers, note
	case strings.Contains(d.ReconStatus, string(metering.ReconRejected)) || strings.Contains(d.ReconStatus, string(metering.ReconMismatch)):
		return ReconDiffers, "the service marked the day " + d.ReconStatus
	case d.Unresolved > 0:
		return ReconUnresolved, fmt.Sprintf("%s unresolved: the service may hold it", plural(d.Unresolved, "hour"))
	case d.Unsettled > 0:
		note = formatQty(d.Unsettled) + " not reported yet"
		if d.Billed > 0 {
			note += "; what is reported matches"
		}
		return ReconUnreported, note
	case d.Counted == 0 && d.Billed == 0 && d.ServiceRows == 0:
		return ReconNoUsage, ""
	case !same(d.Processed, d.Submitted):
		return ReconProcessing, "the service has not processed all it received yet"
	}
	return ReconMatch, ""
}

// plural writes n and a noun, in the plural unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// Attention levels, from fine to wrong.
const (
	LevelOK    = "ok"
	LevelInfo  = "info"
	LevelWarn  = "warn"
	LevelError = "error"
)

// Attention is what the top of the usage page says, in words: whether
// anything is wrong now, why, and what to do.
type Attention struct {
	Level    string `json:"level"` // ok, info, warn or error
	Headline string `json:"headline"`
	// FailingOrUnresolved counts the window's hours whose last send failed
	// or that are unresolved.
	FailingOrUnresolved int `json:"failingOrUnresolved"`
	// LastFailure is the newest such hour's error or reason.
	LastFailure     string    `json:"lastFailure,omitempty"`
	LastFailureHour time.Time `json:"lastFailureHour,omitzero"`
	NextPass        time.Time `json:"nextPass,omitzero"`
	Action          string    `json:"action,omitempty"` // what to do
}

// attention sums a report up for its top line. The worst problem wins;
// fine is said only when no closed hour waits.
func attention(rep UsageReport) Attention {
	failing := rep.Totals.Failing + rep.Earlier.Failing
	unresolved := rep.Totals.Unresolved + rep.Earlier.Unresolved
	a := Attention{NextPass: rep.NextPass, FailingOrUnresolved: failing + unresolved}
	for _, h := range rep.Hours { // newest first
		if h.Status == statusFailed || h.Status == statusUnresolved {
			a.LastFailureHour = h.Hour
			a.LastFailure = h.LastError
			if h.Status == statusUnresolved {
				a.LastFailure = strings.TrimSpace("unresolved: " + h.Unresolved)
			}
			break
		}
	}
	switch {
	case rep.Mode == "paused":
		a.Level, a.Headline = LevelError, "Reporting is paused: usage is counted and kept, nothing is sent."
		a.Action = rep.Detail
	case a.FailingOrUnresolved > 0:
		a.Level = LevelError
		a.Headline = "Reporting is failing: the failing hours are not billed yet."
		if failing == 0 {
			a.Headline = "Some hours may be billed and cannot be settled automatically."
		}
		a.Action = adviceFor(a.LastFailure)
		if n := rep.Earlier.Failing + rep.Earlier.Unresolved; n > 0 {
			a.Action = strings.TrimSpace(a.Action + " " + plural(n, "hour") + " of them lie before this window; the 7 days window shows those of the past week.")
		}
		if unresolved > 0 {
			a.Action = strings.TrimSpace(a.Action + " Unresolved hours are never resent nor carried: check each in Partner Center, then settle it" +
				` with azure-vote settle HOUR --as accepted|carry --reason "...".`)
		}
	case rep.Totals.Mismatches > 0:
		a.Level = LevelError
		a.Headline = "The service billed more than was counted for " + plural(rep.Totals.Mismatches, "hour") + "."
		a.Action = "Nothing is changed automatically: compare the ledger's mismatch hours with the service's records and raise the difference with Microsoft."
	case rep.Service.Error != "":
		a.Level = LevelWarn
		a.Headline = "The Metering Service's records could not be read: " + rep.Service.Error
		a.Action = adviceFor(rep.Service.Error)
	case differing(rep.Reconciliation) > 0:
		a.Level = LevelWarn
		a.Headline = plural(differing(rep.Reconciliation), "day") + " where the service's totals differ from the ledger's."
		a.Action = "See Reconciliation, below: each day says by how much and why it may be."
	case rep.Totals.MaybeBilled > 0:
		a.Level = LevelWarn
		a.Headline = plural(rep.Totals.MaybeBilled, "hour") + " may already be billed without an answer; they are resent until the service settles them."
	case rep.Totals.Waiting > 0:
		a.Level = LevelInfo
		a.Headline = formatQty(rep.Totals.Waiting) + " units of closed hours wait for the next reporting pass."
	default:
		a.Level = LevelOK
		a.Headline = "Every closed hour is reported."
		if rep.Totals.Counted == 0 {
			a.Headline = "Nothing to report in this window yet."
		}
	}
	return a
}

// adviceFor says what to do about an error of the Metering API, by its kind.
func adviceFor(err string) string {
	switch {
	case err == "":
		return ""
	case strings.Contains(err, " 401 ") || strings.Contains(err, " 403 "):
		return "The service refused the identity: check that CLIENT_ID (global.azure.identity.clientId) is the managed identity of this offer's extension, " +
			"and that EXTENSION_RESOURCE_ID and PLAN_ID are the purchased resource and plan. Failed hours are retried at every pass."
	case strings.Contains(err, " 400 "):
		return "The service refused the events as invalid: check EXTENSION_RESOURCE_ID, PLAN_ID and METERING_DIMENSION against the offer. Failed hours are retried at every pass."
	case strings.Contains(err, "connection refused"), strings.Contains(err, "no such host"),
		strings.Contains(err, "timeout"), strings.Contains(err, "deadline exceeded"):
		return "The Metering API could not be reached: check METERING_ENDPOINT and the network. Failed hours are retried at every pass."
	}
	return "Failed hours are retried at every pass; the ledger below has each hour's error and correlation id."
}

// differing counts the days the service and the ledger disagree on.
func differing(days []ReconDay) int {
	n := 0
	for _, d := range days {
		if d.Status == ReconDiffers {
			n++
		}
	}
	return n
}
