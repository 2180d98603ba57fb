package web

import (
	"fmt"
	"strings"
	"time"

	"github.com/azure-vote/azure-vote/metering/usage"
)

// The words of the usage page: how it names what the metering kit's report
// holds, and its top line. Each is a pure function of the report, so each
// is tested on its own. One rule runs through them all: nothing is shown as
// fine (green) while usage is unreported, failing, unresolved or may have
// been billed unseen.

// chartStatuses are every hour status, in the legend's order.
func chartStatuses() []usage.Status {
	return []usage.Status{usage.StatusOpen, usage.StatusPending, usage.StatusAccepted, usage.StatusDuplicate, usage.StatusCarried,
		usage.StatusMaybeBilled, usage.StatusUnresolved, usage.StatusMismatch, usage.StatusFailed}
}

// statusText is a status as the page writes it.
func statusText(status usage.Status) string { return strings.ReplaceAll(string(status), "-", " ") }

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
		if h.Status == usage.StatusFailed || h.Status == usage.StatusUnresolved {
			a.LastFailureHour = h.Hour
			a.LastFailure = h.LastError
			if h.Status == usage.StatusUnresolved {
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
func differing(days []usage.Day) int {
	n := 0
	for _, d := range days {
		if d.Status == usage.DayDiffers {
			n++
		}
	}
	return n
}
