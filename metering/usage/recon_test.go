package usage

import (
	"strings"
	"testing"
	"time"

	"github.com/azure-vote/azure-vote/metering"
)

func TestReconcile(t *testing.T) {
	today, yesterday := hourAgo(8), hourAgo(32)
	day := func(d time.Time, submitted, processed float64, status metering.ReconStatus) metering.UsageRecord {
		return metering.UsageRecord{UsageDate: metering.Time{Time: d}, SubmittedQuantity: submitted, ProcessedQuantity: processed, ReconStatus: status}
	}
	settled := []metering.Record{
		{Hour: hourAgo(2), State: metering.StateAccepted, Counted: 5, Reported: 5},
		{Hour: hourAgo(3), State: metering.StateAccepted, Counted: 3, Reported: 3},
	}
	answered := func(rows ...metering.UsageRecord) Service { return Service{FetchedAt: testNow, Records: rows} }
	for _, tc := range []struct {
		name   string
		hours  []metering.Record
		svc    Service
		since  time.Time
		status DayStatus
		note   string
	}{
		{"equal", settled, answered(day(today, 8, 8, metering.ReconAccepted)), today, DayMatch, ""},
		{"several rows of a day add up", settled, answered(day(today, 5, 5, metering.ReconAccepted), day(today, 3, 3, metering.ReconAccepted)), today, DayMatch, ""},
		{"the service holds more", settled, answered(day(today, 10, 10, metering.ReconAccepted)), today, DayDiffers, "the service holds 2 more than the ledger"},
		{"the service holds less", settled, answered(day(today, 5, 5, metering.ReconAccepted)), today, DayDiffers, "the service holds 3 less than the ledger"},
		{"the service knows nothing", settled, answered(), today, DayDiffers, "the service has no record of the day"},
		{"an hour in flight", append([]metering.Record{{Hour: hourAgo(1), State: metering.StateInflight, Counted: 2, Sent: 2}}, settled...),
			answered(day(today, 10, 10, metering.ReconAccepted)), today, DayDiffers, "hours in flight may explain it"},
		{"not processed yet", settled, answered(day(today, 8, 5, metering.ReconSubmitted)), today, DayProcessing, "not processed all"},
		{"rejected by the service", settled, answered(day(today, 8, 8, metering.ReconRejected)), today, DayDiffers, "marked the day Rejected"},
		{"the call failed", settled, Service{FetchedAt: testNow, Error: "403", Records: []metering.UsageRecord{}}, today, DayUnchecked, "not available"},
		{"reporting paused", settled, Service{Unavailable: "no identity"}, today, DayUnchecked, "not available"},
		{"nothing on either side", nil, answered(), today, DayNoUsage, ""},
		// Never a green match while something of the day is unreported.
		{"the open hour counting", append([]metering.Record{{Hour: hourAgo(0), Counted: 2}}, settled...),
			answered(day(today, 8, 8, metering.ReconAccepted)), today, DayUnreported, "2 not reported yet; what is reported matches"},
		{"nothing reported yet", []metering.Record{{Hour: hourAgo(1), Counted: 3}}, answered(), today, DayUnreported, "3 not reported yet"},
		{"an hour failing", append([]metering.Record{{Hour: hourAgo(1), State: metering.StatePending, Counted: 2, LastError: "403"}}, settled...),
			answered(day(today, 8, 8, metering.ReconAccepted)), today, DayUnreported, "2 not reported yet"},
		{"an unresolved hour", append([]metering.Record{{Hour: hourAgo(1), State: metering.StateUnresolved, Counted: 2, Sent: 2, MaybeBilled: true}}, settled...),
			answered(day(today, 8, 8, metering.ReconAccepted)), today, DayUnresolved, "1 hour unresolved"},
		{"an unresolved hour the service holds", append([]metering.Record{{Hour: hourAgo(1), State: metering.StateUnresolved, Counted: 2, Sent: 2, MaybeBilled: true}}, settled...),
			answered(day(today, 10, 10, metering.ReconAccepted)), today, DayDiffers, "an unresolved hour may explain it"},
		{"all carried away", []metering.Record{{Hour: hourAgo(3), State: metering.StateExpired, Counted: 4, CarriedOut: 4}}, answered(), today, DayMatch, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			days := reconcile(tc.hours, tc.svc, tc.since, testNow)
			if len(days) != 1 || !days[0].Day.Equal(today) {
				t.Fatalf("days %+v, want today only", days)
			}
			if d := days[0]; d.Status != tc.status || !strings.Contains(d.Note, tc.note) {
				t.Errorf("status %q note %q, want %q with %q", d.Status, d.Note, tc.status, tc.note)
			}
		})
	}

	t.Run("days of the window", func(t *testing.T) {
		svc := answered(day(yesterday, 4, 4, metering.ReconAccepted), day(today, 5, 5, metering.ReconAccepted))
		hours := []metering.Record{
			{Hour: hourAgo(2), State: metering.StateAccepted, Counted: 5, Reported: 5},
			{Hour: hourAgo(12), State: metering.StateAccepted, Counted: 4, Reported: 4},
			{Hour: hourAgo(13), Counted: 2}, // yesterday, not sent yet
		}
		days := reconcile(hours, svc, hourAgo(23), testNow)
		if len(days) != 2 || !days[0].Day.Equal(yesterday) || !days[1].Day.Equal(today) {
			t.Fatalf("days %+v", days)
		}
		if y := days[0]; y.Hours != 2 || y.Counted != 6 || y.Billed != 4 || y.Unsettled != 2 || y.Status != DayUnreported || !y.LedgerComplete {
			t.Errorf("yesterday %+v", y)
		}
	})

	t.Run("days beyond the ledger's history", func(t *testing.T) {
		days := reconcile(nil, answered(day(hourAgo(32*24), 40, 40, metering.ReconAccepted)), hourAgo(33*24-1), testNow)
		if len(days) != 34 {
			t.Fatalf("%d days in a 33-day window", len(days))
		}
		old := days[1]
		if old.LedgerComplete || old.Status != DayUnchecked || old.Submitted != 40 || !strings.Contains(old.Note, "31 days") {
			t.Errorf("a day older than the ledger's history: %+v", old)
		}
		if quiet := days[2]; quiet.LedgerComplete || quiet.Status != DayNoUsage {
			t.Errorf("a day without usage on either side: %+v", quiet)
		}
		if week := reconcile(nil, answered(day(hourAgo(6*24), 40, 40, metering.ReconAccepted)), hourAgo(7*24-1), testNow); !week[1].LedgerComplete || week[1].Status != DayDiffers {
			t.Errorf("a day of the week the ledger has nothing for: %+v", week[1])
		}
		days = days[26:]
		if !days[6].LedgerComplete || days[6].Status != DayNoUsage {
			t.Errorf("yesterday: %+v", days[6])
		}
	})
}
