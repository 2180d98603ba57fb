package web

import (
	"strings"
	"testing"
	"time"

	"github.com/azure-vote/azure-vote/metering"
)

func TestHourStatus(t *testing.T) {
	closed, open := hourAgo(2), hourAgo(0)
	for _, tc := range []struct {
		name string
		rec  metering.Record
		want string
	}{
		{"the current hour, nothing recorded", metering.Record{Hour: open}, statusOpen},
		{"a closed hour never sent", metering.Record{Hour: closed}, statusPending},
		{"a closed hour, pending", metering.Record{Hour: closed, State: metering.StatePending}, statusPending},
		{"in flight", metering.Record{Hour: closed, State: metering.StateInflight}, statusPending},
		{"refused", metering.Record{Hour: closed, State: metering.StatePending, LastError: "403"}, statusFailed},
		{"timed out", metering.Record{Hour: closed, State: metering.StateInflight, LastError: "timeout"}, statusFailed},
		{"refused after a try that may have arrived", metering.Record{Hour: closed, State: metering.StatePending, LastError: "403", MaybeBilled: true}, statusFailed},
		{"may be billed, no answer yet", metering.Record{Hour: closed, State: metering.StatePending, MaybeBilled: true}, statusMaybeBilled},
		{"unresolved", metering.Record{Hour: closed, State: metering.StateUnresolved, MaybeBilled: true, LastError: "timeout"}, statusUnresolved},
		{"accepted", metering.Record{Hour: closed, State: metering.StateAccepted}, statusAccepted},
		{"duplicate", metering.Record{Hour: closed, State: metering.StateDuplicate}, statusDuplicate},
		{"mismatch", metering.Record{Hour: closed, State: metering.StateMismatch}, statusMismatch},
		{"expired", metering.Record{Hour: closed, State: metering.StateExpired}, statusCarried},
		{"an hour after the demo clock restarted behind it", metering.Record{Hour: testNow.Add(3 * time.Hour), Counted: 1}, statusOpen},
	} {
		if got := hourStatus(tc.rec, testNow); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestHourRow(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rec       metering.Record
		state     metering.State
		status    string
		noteParts []string
	}{
		{"the open hour has a state", metering.Record{Hour: hourAgo(0), Counted: 2}, StateOpen, statusOpen, []string{"still counting"}},
		{"a closed hour is pending", metering.Record{Hour: hourAgo(1), Counted: 2}, metering.StatePending, statusPending, []string{"next pass"}},
		{"in flight", metering.Record{Hour: hourAgo(1), State: metering.StateInflight}, metering.StateInflight, statusPending, []string{"answer is not recorded"}},
		{"failing, maybe billed", metering.Record{Hour: hourAgo(1), State: metering.StatePending, LastError: "503", MaybeBilled: true},
			metering.StatePending, statusFailed, []string{"retried", "may already be billed"}},
		{"maybe billed", metering.Record{Hour: hourAgo(1), State: metering.StatePending, MaybeBilled: true},
			metering.StatePending, statusMaybeBilled, []string{"may have reached the service"}},
		{"unresolved, with its reason", metering.Record{Hour: hourAgo(30), State: metering.StateUnresolved, MaybeBilled: true, Unresolved: "past the 24-hour window after a timeout"},
			metering.StateUnresolved, statusUnresolved, []string{"past the 24-hour window after a timeout", "Never carried"}},
		{"resolved by the service's records", metering.Record{Hour: hourAgo(30), State: metering.StateAccepted, Resolution: "the service holds 4 for the hour",
			ResolvedBy: "service-records", ResolvedAt: testNow}, metering.StateAccepted, statusAccepted,
			[]string{"resolved by the service's records at 2026-11-22 08:30 UTC: the service holds 4 for the hour"}},
		{"resolved by an operator", metering.Record{Hour: hourAgo(30), State: metering.StateExpired, Resolution: "not billed, per Partner Center",
			ResolvedBy: "ops@example.com"}, metering.StateExpired, statusCarried, []string{"resolved by ops@example.com: not billed, per Partner Center"}},
		{"usage after it settled", metering.Record{Hour: hourAgo(2), State: metering.StateAccepted, Counted: 5, Reported: 4},
			metering.StateAccepted, statusAccepted, []string{"1 counted after it settled"}},
	} {
		row := hourRow(tc.rec, testNow)
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

func TestAttention(t *testing.T) {
	report := func(change func(*Usage)) UsageReport {
		u := Usage{Mode: "azure", Detail: "Resource r, plan p.", Dimension: "pervote", NextPass: testNow.Add(35 * time.Minute),
			Service: Service{FetchedAt: testNow, Records: []metering.UsageRecord{
				{UsageDate: metering.Time{Time: metering.DayOf(testNow)}, SubmittedQuantity: 5, ProcessedQuantity: 5}}},
			Hours: []metering.Record{
				{Hour: hourAgo(0), Counted: 1},
				{Hour: hourAgo(2), State: metering.StateAccepted, Counted: 5, Sent: 5, Reported: 5},
			}}
		change(&u)
		win, _ := windowOf("24h")
		return buildReport(u, win, hourAgo(23), testNow)
	}
	failing := metering.Record{Hour: hourAgo(1), State: metering.StatePending, Counted: 2,
		LastError: "metering: POST usageEvent: 403 Forbidden: not authorized (correlation id c-9)"}
	for _, tc := range []struct {
		name     string
		change   func(*Usage)
		level    string
		headline string
		action   string
	}{
		{"every closed hour reported", func(*Usage) {}, LevelOK, "Every closed hour is reported.", ""},
		{"nothing yet", func(u *Usage) { u.Hours, u.Service.Records = nil, nil }, LevelOK, "Nothing to report in this window yet.", ""},
		{"a closed hour waits for its pass", func(u *Usage) { u.Hours = append(u.Hours, metering.Record{Hour: hourAgo(1), Counted: 3}) },
			LevelInfo, "3 units of closed hours wait for the next reporting pass.", ""},
		{"an hour refused", func(u *Usage) { u.Hours = append(u.Hours, failing) },
			LevelError, "Reporting is failing", "The service refused the identity: check that CLIENT_ID (global.azure.identity.clientId)"},
		{"an endpoint that refuses connections", func(u *Usage) {
			f := failing
			f.LastError = "metering: POST usageEvent: dial tcp 127.0.0.1:9: connect: connection refused (correlation id c-1)"
			u.Hours = append(u.Hours, f)
		}, LevelError, "Reporting is failing", "check METERING_ENDPOINT"},
		{"an unresolved hour", func(u *Usage) {
			u.Hours = append(u.Hours, metering.Record{Hour: hourAgo(20), State: metering.StateUnresolved, Counted: 2, Sent: 2, MaybeBilled: true, Unresolved: "no answer before the window closed"})
		}, LevelError, "cannot be settled automatically", "Unresolved hours are never resent nor carried"},
		{"an hour unresolved before the window", func(u *Usage) { u.Earlier.Unresolved = 1 },
			LevelError, "cannot be settled automatically", "1 hour of them lie before this window"},
		{"an hour failing before the window", func(u *Usage) { u.Earlier.Failing = 2 },
			LevelError, "Reporting is failing", "2 hours of them lie before this window"},
		{"paused", func(u *Usage) { u.Mode, u.Detail, u.NextPass = "paused", "Set CLIENT_ID.", time.Time{} },
			LevelError, "Reporting is paused", "Set CLIENT_ID."},
		{"a mismatch", func(u *Usage) {
			u.Hours = append(u.Hours, metering.Record{Hour: hourAgo(3), State: metering.StateMismatch, Counted: 2, Sent: 2, Reported: 3})
		}, LevelError, "The service billed more than was counted for 1 hour.", "Nothing is changed automatically"},
		{"the service's records unreadable", func(u *Usage) {
			u.Service = Service{FetchedAt: testNow, Error: "metering: GET usageEvents: 503 Service Unavailable"}
		},
			LevelWarn, "The Metering Service's records could not be read", "retried at every pass"},
		{"a day that differs", func(u *Usage) {
			u.Service.Records = []metering.UsageRecord{{UsageDate: metering.Time{Time: hourAgo(2)}, SubmittedQuantity: 7, ProcessedQuantity: 7}}
		}, LevelWarn, "1 day where the service's totals differ", ""},
		{"maybe billed", func(u *Usage) {
			u.Hours = append(u.Hours, metering.Record{Hour: hourAgo(1), State: metering.StatePending, Counted: 2, Sent: 2, MaybeBilled: true})
		}, LevelWarn, "1 hour may already be billed", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := report(tc.change).Attention
			if a.Level != tc.level || !strings.Contains(a.Headline, tc.headline) || !strings.Contains(a.Action, tc.action) {
				t.Errorf("attention %+v, want %s %q %q", a, tc.level, tc.headline, tc.action)
			}
			if tc.level == LevelError && !strings.Contains(tc.name, "before the window") && tc.name != "paused" && tc.name != "a mismatch" &&
				(a.LastFailure == "" || a.LastFailureHour.IsZero()) {
				t.Errorf("no last failure: %+v", a)
			}
			if tc.name != "paused" && !a.NextPass.Equal(testNow.Add(35*time.Minute)) {
				t.Errorf("next pass %v", a.NextPass)
			}
		})
	}
}

func TestWords(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{statusText(statusMaybeBilled), "maybe billed"},
		{statusText(statusOpen), "open"},
		{dayText(ReconUnreported), "not reported yet"},
		{dayText(ReconNoUsage), "no usage"},
		{dayText(ReconMatch), "match"},
		{plural(1, "hour"), "1 hour"},
		{plural(3, "day"), "3 days"},
		{formatAmount("", 5.3), "5.30"},
		{formatAmount("USD", 5.3), "5.30 USD"},
		{formatAmount("$", 0.125), "$0.125"},
		{formatAmount("€", 12), "€12.00"},
	} {
		if tc.got != tc.want {
			t.Errorf("%q, want %q", tc.got, tc.want)
		}
	}
}

func TestTarget(t *testing.T) {
	for _, tc := range []struct{ endpoint, want string }{
		{"", "Azure Marketplace"},
		{metering.DefaultEndpoint, "Azure Marketplace"},
		{"http://127.0.0.1:8090/api", "the Metering API at http://127.0.0.1:8090/api"},
	} {
		if got := (Usage{Endpoint: tc.endpoint}).Target(); got != tc.want {
			t.Errorf("Target(%q) = %q, want %q", tc.endpoint, got, tc.want)
		}
	}
}
