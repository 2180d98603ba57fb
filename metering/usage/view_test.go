package usage_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/emulator"
	"github.com/azure-vote/azure-vote/metering/meteringtest"
	"github.com/azure-vote/azure-vote/metering/usage"
)

const (
	resource = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.KubernetesConfiguration/extensions/my-app"
	// neighbour is another resource of the same subscription and plan.
	neighbour = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.KubernetesConfiguration/extensions/other-app"
	plan      = "basic"
	dim       = "pervote"
)

// fixture is a ledger and the emulator of the service, on one clock.
type fixture struct {
	clock  *meteringtest.Clock
	ledger *meteringtest.Ledger
	emu    *emulator.Emulator
	client *metering.Client
}

func newFixture(t *testing.T, o emulator.Options) *fixture {
	t.Helper()
	clk := meteringtest.NewClock(time.Date(2026, 11, 22, 8, 30, 0, 0, time.UTC))
	o.Now = clk.Now
	emu := emulator.New(o)
	api := httptest.NewServer(emu)
	t.Cleanup(api.Close)
	client, err := metering.NewClient(api.URL+"/api", metering.StaticToken("emulator"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{clock: clk, ledger: meteringtest.NewLedger(clk.Now), emu: emu, client: client}
}

func (f *fixture) hourAgo(n int) time.Time {
	return metering.HourOf(f.clock.Now()).Add(-time.Duration(n) * time.Hour)
}

// report sends the hour's usage for res and, for our resource, records the
// service's answer in the ledger as the reporter does.
func (f *fixture) report(t *testing.T, res string, hour time.Time, q float64) {
	t.Helper()
	ctx := context.Background()
	ans, err := f.client.SendUsageEvent(ctx, metering.NewUsageEvent(res, plan, dim, hour, q))
	if err != nil || ans.Status != metering.StatusAccepted {
		t.Fatalf("send %s: %+v %v", hour, ans, err)
	}
	if res != resource {
		return
	}
	recs, err := f.ledger.History(ctx, dim, hour)
	if err != nil || len(recs) == 0 || !recs[0].Hour.Equal(hour) {
		t.Fatalf("no record of %s: %v %v", hour, recs, err)
	}
	rec := recs[0]
	rec.State, rec.Sent, rec.Reported, rec.UsageEventID, rec.Attempts = metering.StateAccepted, q, ans.Quantity, ans.UsageEventID, 1
	if _, err := f.ledger.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) view(o usage.Options) *usage.View {
	o.Ledger, o.Dimension, o.Now = f.ledger, dim, f.clock.Now
	if o.Resource == "" {
		o.Resource, o.PlanID = resource, plan
	}
	return usage.NewView(o)
}

func (f *fixture) calls() int { return f.emu.Stats().Count(emulator.EndpointUsageEvents, 200) }

func TestViewReport(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	f.ledger.Count(dim, f.hourAgo(2), 5)
	f.ledger.Count(dim, f.hourAgo(1), 3)
	f.ledger.Count(dim, f.hourAgo(0), 2)
	f.report(t, resource, f.hourAgo(2), 5)
	// Another resource of the plan: the query cannot leave it out, the
	// view does.
	f.report(t, neighbour, f.hourAgo(2), 100)
	v := f.view(usage.Options{Events: f.client, RateCard: &usage.RateCard{Price: 0.5, Included: 2}})
	rep, err := v.Report(context.Background(), f.hourAgo(23))
	if err != nil {
		t.Fatal(err)
	}
	var statuses []usage.Status
	for _, h := range rep.Hours {
		statuses = append(statuses, h.Status)
	}
	if len(statuses) != 3 || statuses[0] != usage.StatusOpen || statuses[1] != usage.StatusPending || statuses[2] != usage.StatusAccepted {
		t.Errorf("statuses %v", statuses)
	}
	if rep.Totals.Counted != 10 || rep.Totals.Billed != 5 || rep.Totals.Waiting != 3 {
		t.Errorf("totals %+v", rep.Totals)
	}
	svc := rep.Service
	if !svc.Answered() || len(svc.Records) != 1 || !strings.EqualFold(svc.Records[0].UsageResourceID, resource) || svc.Note != "" {
		t.Fatalf("service %+v", svc)
	}
	today := rep.Reconciliation[len(rep.Reconciliation)-1]
	if today.Submitted != 5 || today.Billed != 5 || today.Unsettled != 5 || today.Status != usage.DayUnreported {
		t.Errorf("today %+v", today)
	}
	// 5 billed by the service and 5 not reported yet; 2 included.
	if c := rep.Charges; c == nil || c.Source != usage.SourceService || c.Quantity != 10 || c.Billable != 8 || c.Amount != 4 {
		t.Errorf("charges %+v", c)
	}
}

// The service is asked at most once a minute, and again after a pass that
// held the lock, so that a page shows what the pass reported.
func TestViewAsksTheServiceOnceAMinute(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	f.ledger.Count(dim, f.hourAgo(2), 5)
	v := f.view(usage.Options{Events: f.client})
	ctx := context.Background()
	ask := func(since time.Time, want int, why string) {
		t.Helper()
		if _, err := v.Report(ctx, since); err != nil {
			t.Fatal(err)
		}
		if got := f.calls(); got != want {
			t.Fatalf("%s: %d calls to the service, want %d", why, got, want)
		}
	}
	ask(f.hourAgo(23), 1, "first view")
	ask(f.hourAgo(23), 1, "a view within the minute")
	ask(f.hourAgo(5), 1, "a shorter window")
	// The first call asked from the month's first day, for the charges.
	ask(f.hourAgo(47), 1, "a window within the month")
	ask(f.hourAgo(23*24), 2, "a window reaching into the month before")
	v.Observe(metering.PassResult{Start: f.clock.Now(), Locked: false})
	ask(f.hourAgo(23), 2, "after a pass of another reporter")
	f.report(t, resource, f.hourAgo(2), 5)
	v.Observe(metering.PassResult{Start: f.clock.Now(), Duration: time.Second, Locked: true})
	ask(f.hourAgo(23), 3, "after a pass")
	f.clock.Add(59 * time.Second)
	ask(f.hourAgo(23), 3, "59 s later")
	f.clock.Add(time.Second)
	ask(f.hourAgo(23), 4, "a minute later")

	rep, err := v.Report(ctx, f.hourAgo(23))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 11, 22, 8, 30, 1, 0, time.UTC); !rep.LastPass.Equal(want) {
		t.Errorf("last pass %s, want %s", rep.LastPass, want)
	}
	if d := rep.Reconciliation[len(rep.Reconciliation)-1]; d.Submitted != 5 || d.Status != usage.DayMatch {
		t.Errorf("today %+v", d)
	}

	// Viewers arriving together share one call.
	v.Observe(metering.PassResult{Start: f.clock.Now(), Locked: true})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.Report(ctx, f.hourAgo(23)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := f.calls(); got != 5 {
		t.Errorf("8 viewers together made %d calls", got-4)
	}
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// A service that fails is part of the report, with the call's correlation
// id; the ledger's side stands, and the failure is asked again sooner.
func TestViewServiceFails(t *testing.T) {
	f := newFixture(t, emulator.Options{Tokens: func(string) bool { return false }})
	f.ledger.Count(dim, f.hourAgo(2), 5)
	v := f.view(usage.Options{Events: f.client, RateCard: &usage.RateCard{Price: 1}})
	rep, err := v.Report(context.Background(), f.hourAgo(23))
	if err != nil {
		t.Fatal(err)
	}
	svc := rep.Service
	if svc.Answered() || !strings.Contains(svc.Error, "403") || !uuidPattern.MatchString(svc.CorrelationID) || strings.Contains(svc.Error, svc.CorrelationID) {
		t.Errorf("service %+v", svc)
	}
	if f.emu.Stats().Count(emulator.EndpointUsageEvents, 403) != 1 {
		t.Errorf("stats %+v", f.emu.Stats())
	}
	if len(rep.Hours) != 1 || rep.Reconciliation[1].Status != usage.DayUnchecked || rep.Charges.Source != usage.SourceLedger || rep.Charges.Quantity != 5 {
		t.Errorf("report %+v", rep)
	}
	f.clock.Add(14 * time.Second)
	if rep, _ := v.Report(context.Background(), f.hourAgo(23)); rep.Service.CorrelationID != svc.CorrelationID {
		t.Error("a failure was not kept for 14 s")
	}
	f.clock.Add(time.Second)
	if rep, _ := v.Report(context.Background(), f.hourAgo(23)); rep.Service.CorrelationID == svc.CorrelationID || rep.Service.Error == "" {
		t.Errorf("a failure was kept for 15 s: %+v", rep.Service)
	}
}

// Without a way to the service (reporting paused) the report says why, and
// the rest of it stands.
func TestViewWithoutService(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	f.ledger.Count(dim, f.hourAgo(2), 5)
	v := f.view(usage.Options{Unavailable: "no identity", Note: "not shown"})
	rep, err := v.Report(context.Background(), f.hourAgo(23))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Service.Unavailable != "no identity" || rep.Service.Note != "" || len(rep.Service.Records) != 0 || rep.Service.Records == nil {
		t.Errorf("service %+v", rep.Service)
	}
	if len(rep.Hours) != 1 || rep.Totals.Waiting != 5 || rep.Reconciliation[1].Status != usage.DayUnchecked {
		t.Errorf("report %+v", rep)
	}
}

// A service that names the resource otherwise than we do: every row of the
// plan and dimension, and a note that says so.
func TestViewResourceNamedOtherwise(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	f.ledger.Count(dim, f.hourAgo(2), 5)
	f.report(t, neighbour, f.hourAgo(2), 5)
	v := f.view(usage.Options{Events: f.client, Note: "An emulator."})
	rep, err := v.Report(context.Background(), f.hourAgo(23))
	if err != nil {
		t.Fatal(err)
	}
	svc := rep.Service
	if len(svc.Records) != 1 || !strings.HasPrefix(svc.Note, "An emulator. The service names the resource differently ("+neighbour+")") ||
		!strings.HasSuffix(svc.Note, "plan basic and dimension pervote.") {
		t.Errorf("service %+v", svc)
	}
}

// A ledger that cannot be read is the report's error.
func TestViewLedgerUnavailable(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	v := usage.NewView(usage.Options{Ledger: brokenLedger{f.ledger}, Dimension: dim, Events: f.client, Now: f.clock.Now})
	if _, err := v.Report(context.Background(), f.hourAgo(23)); !errors.Is(err, errUnreadable) {
		t.Errorf("error %v", err)
	}
	if f.calls() != 0 {
		t.Error("the service was asked for a report that failed")
	}
}

var errUnreadable = errors.New("ledger unreadable")

// brokenLedger is a ledger whose history cannot be read, as a store that
// is away.
type brokenLedger struct{ usage.Ledger }

func (brokenLedger) History(context.Context, string, time.Time) ([]metering.Record, error) {
	return nil, errUnreadable
}

// The window's first day is compared whole: the service counts per day,
// so the ledger's hours of that day before the window count too.
func TestViewReconcilesTheFirstDayWhole(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	early := f.hourAgo(3) // 2026-11-22 05:00
	f.ledger.Count(dim, early, 4)
	f.report(t, resource, early, 4)
	// A day later the window's first hour is 09:00 of that day.
	f.clock.Add(24 * time.Hour)
	rep, err := f.view(usage.Options{Events: f.client}).Report(context.Background(), f.hourAgo(23))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Hours) != 0 || rep.Totals.Counted != 0 {
		t.Errorf("hours before the window shown: %+v", rep.Hours)
	}
	if d := rep.Reconciliation[0]; !d.Day.Equal(metering.DayOf(early)) || d.Billed != 4 || d.Submitted != 4 || d.Hours != 1 || d.Status != usage.DayMatch {
		t.Errorf("the first day %+v", d)
	}
}
