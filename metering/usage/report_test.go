package usage

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/azure-vote/azure-vote/metering"
)

// testNow is 2026-11-22 08:30 UTC: the open hour is 08:00.
var testNow = time.Date(2026, 11, 22, 8, 30, 0, 0, time.UTC)

func hourAgo(n int) time.Time { return metering.HourOf(testNow).Add(-time.Duration(n) * time.Hour) }

// sampleHours are a day of the ledger with every status, oldest first,
// and sampleService the service's record of it.
func sampleHours() []metering.Record {
	return []metering.Record{
		{Hour: hourAgo(30), State: metering.StateExpired, Counted: 8, CarriedOut: 8, CarriedTo: hourAgo(5)},
		{Hour: hourAgo(10), State: metering.StateAccepted, Counted: 1, Sent: 1, Reported: 1, UsageEventID: "ev-yesterday", Attempts: 1},
		{Hour: hourAgo(4), State: metering.StateDuplicate, Counted: 7, Sent: 7, Reported: 4, CarriedOut: 3, CarriedTo: hourAgo(0), UsageEventID: "ev-dup", Attempts: 1},
		{Hour: hourAgo(3), State: metering.StateMismatch, Counted: 6, Sent: 6, Reported: 9, UsageEventID: "ev-mismatch", Attempts: 1},
		{Hour: hourAgo(2), State: metering.StateAccepted, Counted: 5, Sent: 5, Reported: 5, UsageEventID: "ev-accepted", MessageTime: hourAgo(1), Attempts: 1},
		{Hour: hourAgo(1), State: metering.StatePending, Counted: 4, Attempts: 1,
			LastError: "metering: POST usageEvent: 403 Forbidden (correlation id c-1)", CorrelationID: "c-1"},
		{Hour: hourAgo(0), Counted: 2, CarriedIn: 3, CarriedFrom: hourAgo(4)},
	}
}

func sampleService() Service {
	return Service{FetchedAt: testNow, Records: []metering.UsageRecord{
		{UsageDate: metering.Time{Time: hourAgo(8)}, SubmittedQuantity: 18, ProcessedQuantity: 18, ReconStatus: metering.ReconAccepted},
		{UsageDate: metering.Time{Time: hourAgo(10)}, SubmittedQuantity: 1, ProcessedQuantity: 1, ReconStatus: metering.ReconAccepted},
	}}
}

func TestBuild(t *testing.T) {
	last := testNow.Add(-25 * time.Minute)
	in := Input{Dimension: "pervote", History: sampleHours(), Service: sampleService(), LastPass: last, Since: hourAgo(47), Now: testNow}
	rep := Build(in)
	if rep.Dimension != "pervote" || !rep.Since.Equal(hourAgo(47)) || !rep.GeneratedAt.Equal(testNow) || !rep.LastPass.Equal(last) || rep.Charges != nil {
		t.Errorf("report %+v", rep)
	}
	// Newest first; the open hour has a state of its own, never "".
	var got []string
	for _, h := range rep.Hours {
		got = append(got, h.Hour.Format("15")+" "+string(h.State)+" "+string(h.Status))
	}
	want := []string{"08 open open", "07 pending failed", "06 accepted accepted", "05 mismatch mismatch", "04 duplicate duplicate",
		"22 accepted accepted", "02 expired carried"}
	if !slices.Equal(got, want) {
		t.Errorf("hours %q, want %q", got, want)
	}
	// Waiting: the failed hour's 4; the open hour's 5 is still counting.
	if want := (Totals{Counted: 33, Billed: 19, Due: 9, Carried: 11, Mismatches: 1, Failing: 1, Waiting: 4}); rep.Totals != want {
		t.Errorf("totals %+v, want %+v", rep.Totals, want)
	}
	// 48 hours from 2026-11-20 09:00: three days.
	if d := rep.Reconciliation; len(d) != 3 || d[2].Submitted != 18 || d[2].Status != DayUnreported ||
		d[1].Status != DayMatch || d[0].Status != DayNoUsage {
		t.Errorf("reconciliation %+v", d)
	}

	// A shorter window leaves the older hours out of its hours and totals.
	in.Since = hourAgo(23)
	if day := Build(in); len(day.Hours) != 6 || day.Totals.Counted != 25 || day.Totals.Carried != 3 || len(day.Reconciliation) != 2 {
		t.Errorf("24 hours: %d hours, totals %+v, %d days", len(day.Hours), day.Totals, len(day.Reconciliation))
	}

	// Nothing at all is still a report: empty lists, never nil ones.
	empty := Build(Input{Dimension: "pervote", Since: hourAgo(23), Now: testNow})
	if empty.Hours == nil || empty.Service.Records == nil || len(empty.Reconciliation) != 2 || empty.Reconciliation[0].Status != DayUnchecked {
		t.Errorf("empty report %+v", empty)
	}
}

// The hours the reporter still works on before the window are counted,
// so that a page is never fine while they wait.
func TestBuildCountsEarlierProblems(t *testing.T) {
	open := []metering.Record{
		{Hour: hourAgo(72), State: metering.StateUnresolved, Counted: 1, Sent: 1, MaybeBilled: true},
		{Hour: hourAgo(50), State: metering.StatePending, Counted: 2, LastError: "403"},
		{Hour: hourAgo(49), State: metering.StatePending, Counted: 2, LastError: "503", MaybeBilled: true},
		{Hour: hourAgo(40), State: metering.StatePending, Counted: 1}, // not failing: waits for its pass
		{Hour: hourAgo(30), State: metering.StateAccepted, Counted: 3, Reported: 3, LastError: "an old error"},
		{Hour: hourAgo(1), State: metering.StatePending, Counted: 2, LastError: "403"}, // in the window
	}
	rep := Build(Input{Dimension: "pervote", Open: open, Since: hourAgo(23), Now: testNow})
	if rep.Earlier != (Earlier{Failing: 2, Unresolved: 1}) {
		t.Errorf("earlier %+v", rep.Earlier)
	}
}

func TestHourStatus(t *testing.T) {
	closed, open := hourAgo(2), hourAgo(0)
	for _, tc := range []struct {
		name string
		rec  metering.Record
		want Status
	}{
		{"the current hour, nothing recorded", metering.Record{Hour: open}, StatusOpen},
		{"a closed hour never sent", metering.Record{Hour: closed}, StatusPending},
		{"a closed hour, pending", metering.Record{Hour: closed, State: metering.StatePending}, StatusPending},
		{"in flight", metering.Record{Hour: closed, State: metering.StateInflight}, StatusPending},
		{"refused", metering.Record{Hour: closed, State: metering.StatePending, LastError: "403"}, StatusFailed},
		{"timed out", metering.Record{Hour: closed, State: metering.StateInflight, LastError: "timeout"}, StatusFailed},
		{"refused after a try that may have arrived", metering.Record{Hour: closed, State: metering.StatePending, LastError: "403", MaybeBilled: true}, StatusFailed},
		{"may be billed, no answer yet", metering.Record{Hour: closed, State: metering.StatePending, MaybeBilled: true}, StatusMaybeBilled},
		{"unresolved", metering.Record{Hour: closed, State: metering.StateUnresolved, MaybeBilled: true, LastError: "timeout"}, StatusUnresolved},
		{"accepted", metering.Record{Hour: closed, State: metering.StateAccepted}, StatusAccepted},
		{"duplicate", metering.Record{Hour: closed, State: metering.StateDuplicate}, StatusDuplicate},
		{"mismatch", metering.Record{Hour: closed, State: metering.StateMismatch}, StatusMismatch},
		{"expired", metering.Record{Hour: closed, State: metering.StateExpired}, StatusCarried},
		{"an hour after the demo clock restarted behind it", metering.Record{Hour: testNow.Add(3 * time.Hour), Counted: 1}, StatusOpen},
	} {
		if got := hourStatus(tc.rec, testNow); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestLabel(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rec       metering.Record
		state     metering.State
		status    Status
		noteParts []string
	}{
		{"the open hour has a state", metering.Record{Hour: hourAgo(0), Counted: 2}, StateOpen, StatusOpen, []string{"still counting"}},
		{"a closed hour is pending", metering.Record{Hour: hourAgo(1), Counted: 2}, metering.StatePending, StatusPending, []string{"next pass"}},
		{"in flight", metering.Record{Hour: hourAgo(1), State: metering.StateInflight}, metering.StateInflight, StatusPending, []string{"answer is not recorded"}},
		{"failing, maybe billed", metering.Record{Hour: hourAgo(1), State: metering.StatePending, LastError: "503", MaybeBilled: true},
			metering.StatePending, StatusFailed, []string{"retried", "may already be billed"}},
		{"maybe billed", metering.Record{Hour: hourAgo(1), State: metering.StatePending, MaybeBilled: true},
			metering.StatePending, StatusMaybeBilled, []string{"may have reached the service"}},
		{"unresolved, with its reason", metering.Record{Hour: hourAgo(30), State: metering.StateUnresolved, MaybeBilled: true, Unresolved: "past the 24-hour window after a timeout"},
			metering.StateUnresolved, StatusUnresolved, []string{"past the 24-hour window after a timeout", "Never carried"}},
		{"resolved by the service's records", metering.Record{Hour: hourAgo(30), State: metering.StateAccepted, Resolution: "the service holds 4 for the hour",
			ResolvedBy: "service-records", ResolvedAt: testNow}, metering.StateAccepted, StatusAccepted,
			[]string{"resolved by the service's records at 2026-11-22 08:30 UTC: the service holds 4 for the hour"}},
		{"resolved by an operator", metering.Record{Hour: hourAgo(30), State: metering.StateExpired, Resolution: "not billed, per Partner Center",
			ResolvedBy: "ops@example.com"}, metering.StateExpired, StatusCarried, []string{"resolved by ops@example.com: not billed, per Partner Center"}},
		{"usage after it settled", metering.Record{Hour: hourAgo(2), State: metering.StateAccepted, Counted: 5, Reported: 4},
			metering.StateAccepted, StatusAccepted, []string{"1 counted after it settled"}},
	} {
		row := label(tc.rec, testNow)
		if row.State != tc.state || row.Status != tc.status {
			t.Errorf("%s: state %q status %q, want %q %q", tc.name, row.State, row.Status, tc.state, tc.status)
		}
		for _, part := range tc.noteParts {
			if !strings.Contains(row.Note, part) {
				t.Errorf("%s: note %q lacks %q", tc.name, row.Note, part)
			}
		}
	}
}
