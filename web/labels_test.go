package web

import (
	"strings"
	"testing"
	"time"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/usage"
)

func TestAttention(t *testing.T) {
	report := func(change func(*sample)) UsageReport {
		u := &sample{Usage: Usage{Mode: "azure", Detail: "Resource r, plan p.", NextPass: testNow.Add(35 * time.Minute)},
			Service: usage.Service{FetchedAt: testNow, Records: []metering.UsageRecord{
				{UsageDate: metering.Time{Time: metering.DayOf(testNow)}, SubmittedQuantity: 5, ProcessedQuantity: 5}}},
			Hours: []metering.Record{
				{Hour: hourAgo(0), Counted: 1},
				{Hour: hourAgo(2), State: metering.StateAccepted, Counted: 5, Sent: 5, Reported: 5},
			}}
		change(u)
		return u.report("24h")
	}
	failing := metering.Record{Hour: hourAgo(1), State: metering.StatePending, Counted: 2,
		LastError: "metering: POST usageEvent: 403 Forbidden: not authorized (correlation id c-9)"}
	for _, tc := range []struct {
		name     string
		change   func(*sample)
		level    string
		headline string
		action   string
	}{
		{"every closed hour reported", func(*sample) {}, LevelOK, "Every closed hour is reported.", ""},
		{"nothing yet", func(u *sample) { u.Hours, u.Service.Records = nil, nil }, LevelOK, "Nothing to report in this window yet.", ""},
		{"a closed hour waits for its pass", func(u *sample) { u.Hours = append(u.Hours, metering.Record{Hour: hourAgo(1), Counted: 3}) },
			LevelInfo, "3 units of closed hours wait for the next reporting pass.", ""},
		{"an hour refused", func(u *sample) { u.Hours = append(u.Hours, failing) },
			LevelError, "Reporting is failing", "The service refused the identity: check that CLIENT_ID (global.azure.identity.clientId)"},
		{"an endpoint that refuses connections", func(u *sample) {
			f := failing
			f.LastError = "metering: POST usageEvent: dial tcp 127.0.0.1:9: connect: connection refused (correlation id c-1)"
			u.Hours = append(u.Hours, f)
		}, LevelError, "Reporting is failing", "check METERING_ENDPOINT"},
		{"an unresolved hour", func(u *sample) {
			u.Hours = append(u.Hours, metering.Record{Hour: hourAgo(20), State: metering.StateUnresolved, Counted: 2, Sent: 2, MaybeBilled: true, Unresolved: "no answer before the window closed"})
		}, LevelError, "cannot be settled automatically", "Unresolved hours are never resent nor carried"},
		{"an hour unresolved before the window", func(u *sample) { u.Earlier.Unresolved = 1 },
			LevelError, "cannot be settled automatically", "1 hour of them lie before this window"},
		{"an hour failing before the window", func(u *sample) { u.Earlier.Failing = 2 },
			LevelError, "Reporting is failing", "2 hours of them lie before this window"},
		{"paused", func(u *sample) { u.Mode, u.Detail, u.NextPass = "paused", "Set CLIENT_ID.", time.Time{} },
			LevelError, "Reporting is paused", "Set CLIENT_ID."},
		{"a mismatch", func(u *sample) {
			u.Hours = append(u.Hours, metering.Record{Hour: hourAgo(3), State: metering.StateMismatch, Counted: 2, Sent: 2, Reported: 3})
		}, LevelError, "The service billed more than was counted for 1 hour.", "Nothing is changed automatically"},
		{"the service's records unreadable", func(u *sample) {
			u.Service = usage.Service{FetchedAt: testNow, Error: "metering: GET usageEvents: 503 Service Unavailable"}
		},
			LevelWarn, "The Metering Service's records could not be read", "retried at every pass"},
		{"a day that differs", func(u *sample) {
			u.Service.Records = []metering.UsageRecord{{UsageDate: metering.Time{Time: hourAgo(2)}, SubmittedQuantity: 7, ProcessedQuantity: 7}}
		}, LevelWarn, "1 day where the service's totals differ", ""},
		{"maybe billed", func(u *sample) {
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
		{statusText(usage.StatusMaybeBilled), "maybe billed"},
		{statusText(usage.StatusOpen), "open"},
		{dayText(usage.DayUnreported), "not reported yet"},
		{dayText(usage.DayNoUsage), "no usage"},
		{dayText(usage.DayMatch), "match"},
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
		if got := (UsageReport{Endpoint: tc.endpoint}).Target(); got != tc.want {
			t.Errorf("Target(%q) = %q, want %q", tc.endpoint, got, tc.want)
		}
	}
}
