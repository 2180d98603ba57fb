package meteringtest

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/emulator"
)

const (
	reportResource = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.KubernetesConfiguration/extensions/app"
	reportPlan     = "basic"
)

// reporting is a Reporter over the ledger under test, reporting to the
// emulator over real HTTP, on a clock the check moves.
type reporting struct {
	t        *testing.T
	h        Harness
	clock    *Clock
	emu      *emulator.Emulator
	reporter *metering.Reporter
	counted  float64
}

func newReporting(t *testing.T, open func(t *testing.T, now func() time.Time) Harness) *reporting {
	clock := NewClock(base)
	h := open(t, clock.Now)
	emu := emulator.New(emulator.Options{
		Plans: map[string][]string{reportPlan: {h.Dimension}}, Resources: []string{reportResource}, Now: clock.Now,
	})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	client, err := metering.NewClient(srv.URL+"/api", metering.StaticToken("test"), &metering.ClientOptions{
		ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{
			MaxRetries: 1, RetryDelay: time.Millisecond, MaxRetryDelay: time.Millisecond, TryTimeout: 5 * time.Second,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	locker := h.Locker
	if locker == nil {
		locker = NewLedger(clock.Now) // a ledger without a lock of its own pairs with any
	}
	r, err := metering.NewReporter(metering.ReporterOptions{
		Ledger: h.Ledger, Locker: locker, Sender: client, Resource: reportResource, PlanID: reportPlan,
		Dimensions: []string{h.Dimension}, Grace: 5 * time.Minute, Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &reporting{t: t, h: h, clock: clock, emu: emu, reporter: r}
}

func (r *reporting) count(at time.Time, n int) {
	r.t.Helper()
	if err := r.h.Count(r.t.Context(), at, n); err != nil {
		r.t.Fatalf("count %d at %s: %v", n, at, err)
	}
	r.counted += float64(n)
}

func (r *reporting) pass() metering.PassResult {
	r.t.Helper()
	res, err := r.reporter.Pass(r.t.Context())
	if err != nil {
		r.t.Fatalf("pass: %v", err)
	}
	return res
}

// billedOnce checks the invariant: the service holds each hour at most
// once, and in all exactly what was counted; every hour that has closed
// is settled and balanced in the ledger.
func (r *reporting) billedOnce() {
	r.t.Helper()
	seen := map[time.Time]bool{}
	var billed float64
	for _, e := range r.emu.Events() {
		if seen[e.EffectiveStartTime.Time] {
			r.t.Errorf("hour %s billed twice", e.EffectiveStartTime.Time)
		}
		seen[e.EffectiveStartTime.Time] = true
		billed += e.Quantity
	}
	if billed != r.counted {
		r.t.Errorf("billed %v, counted %v", billed, r.counted)
	}
	recs, err := r.h.Ledger.History(r.t.Context(), r.h.Dimension, base.Add(-time.Hour))
	if err != nil {
		r.t.Fatal(err)
	}
	for _, rec := range recs {
		if rec.Hour.Add(time.Hour).Before(r.clock.Now()) && (!rec.State.Settled() || rec.Due() != 0) {
			r.t.Errorf("closed hour %s not settled and balanced: %+v", rec.Hour, rec)
		}
	}
}

// testReporting runs a Reporter over the ledger: the checks above are what
// the reporter relies on, these show that it is enough.
func testReporting(t *testing.T, open func(t *testing.T, now func() time.Time) Harness) {
	t.Run("ReporterBillsEachHourOnce", func(t *testing.T) {
		r := newReporting(t, open)
		r.count(base, 3)
		r.count(base.Add(50*time.Minute), 2) // the next hour
		r.clock.Set(hourOf(base).Add(2*time.Hour + 10*time.Minute))
		if res := r.pass(); res.Accepted != 2 || res.Pending != 0 {
			t.Fatalf("first pass: %+v", res)
		}
		if res := r.pass(); res.Sent != 0 {
			t.Fatalf("second pass sent again: %+v", res)
		}
		r.billedOnce()
	})

	t.Run("ReporterBillsALostAnswerOnce", func(t *testing.T) {
		r := newReporting(t, open)
		r.count(base, 4)
		r.clock.Set(hourOf(base).Add(time.Hour + 10*time.Minute))
		// The service records the event, and its answer never comes.
		r.emu.SetFaults(emulator.Faults{DropAfterRate: 1})
		if res := r.pass(); res.Accepted != 0 || res.Pending != 1 {
			t.Fatalf("pass without answers: %+v", res)
		}
		got, err := r.h.Ledger.Records(t.Context(), r.h.Dimension)
		if err != nil || len(got) != 1 || !got[0].MaybeBilled {
			t.Fatalf("after a lost answer the hour must be kept as maybe billed: %+v, %v", got, err)
		}
		r.emu.SetFaults(emulator.Faults{})
		r.clock.Add(time.Hour)
		if res := r.pass(); res.Duplicate != 1 {
			t.Fatalf("the resend must meet the recorded event: %+v", res)
		}
		r.billedOnce()
	})

	t.Run("ReporterCarriesAnHourPastTheWindow", func(t *testing.T) {
		r := newReporting(t, open)
		r.count(base, 5)
		r.clock.Set(base.Add(metering.Window + time.Hour)) // never reported in its window
		if res := r.pass(); res.Carried != 5 {
			t.Fatalf("pass past the window: %+v", res)
		}
		r.clock.Add(time.Hour)
		if res := r.pass(); res.Accepted != 1 {
			t.Fatalf("the carried usage must go out with its new hour: %+v", res)
		}
		r.billedOnce()
	})
}
