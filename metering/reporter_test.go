package metering_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/emulator"
	"github.com/azure-vote/azure-vote/store"
	"github.com/azure-vote/azure-vote/store/redistest"
)

const (
	resource = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.KubernetesConfiguration/extensions/azure-vote"
	plan     = "basic"
	dim      = "pervote"
)

// clock is the fake time shared by votes, the reporter, the store and the emulator.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// testStore is what the tests need of either store.
type testStore interface {
	metering.Ledger
	Vote(ctx context.Context, choice string, at time.Time) (map[string]int64, error)
	Close() error
}

// world is one reporter's surroundings: a store, an emulator on real HTTP
// and a client with fast retries.
type world struct {
	t      testing.TB
	clock  *clock
	store  testStore
	emu    *emulator.Emulator
	client *metering.Client
	votes  map[time.Time]float64 // votes cast, by hour
	total  float64
}

var start = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// forEachStore runs f on real Redis and on the embedded store.
func forEachStore(t *testing.T, f func(t *testing.T, w *world)) {
	for _, kind := range []string{"redis", "bolt"} {
		t.Run(kind, func(t *testing.T) { f(t, newWorld(t, kind)) })
	}
}

// worldOption changes the emulator or the client of a new world.
type worldOption func(*emulator.Options, *metering.ClientOptions)

// newWorld builds a world on a store of the kind ("redis" or "bolt"), with
// the clock at start.
func newWorld(tb testing.TB, kind string, opts ...worldOption) *world {
	tb.Helper()
	c := &clock{t: start}
	storeOpts := store.Options{Dimension: dim, Now: c.Now}
	var st testStore
	if kind == "redis" {
		ro, err := store.ParseRedisAddr(redistest.Start(tb).Addr(), "")
		if err != nil {
			tb.Fatal(err)
		}
		st = store.NewRedis(ro, storeOpts)
	} else {
		b, err := store.OpenBolt(tb.TempDir(), storeOpts)
		if err != nil {
			tb.Fatal(err)
		}
		st = b
	}
	tb.Cleanup(func() { st.Close() })
	eo := emulator.Options{
		Plans: map[string][]string{plan: {dim}}, Resources: []string{resource}, Now: c.Now,
	}
	co := &metering.ClientOptions{
		ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{
			MaxRetries: 3, RetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Millisecond, TryTimeout: 500 * time.Millisecond,
		}},
	}
	for _, o := range opts {
		o(&eo, co)
	}
	emu := emulator.New(eo)
	srv := httptest.NewServer(emu)
	tb.Cleanup(srv.Close)
	client, err := metering.NewClient(srv.URL+"/api", metering.StaticToken("test-token"), co)
	if err != nil {
		tb.Fatal(err)
	}
	return &world{t: tb, clock: c, store: st, emu: emu, client: client, votes: map[time.Time]float64{}}
}

func (w *world) reporter(l metering.Ledger) *metering.Reporter {
	return metering.NewReporter(metering.ReporterOptions{
		Ledger: l, Sender: w.client, Resource: resource, PlanID: plan, Dimension: dim,
		Grace: 5 * time.Minute, Now: w.clock.Now,
	})
}

// vote casts n votes at the given time.
func (w *world) vote(at time.Time, n int) {
	w.t.Helper()
	for range n {
		if _, err := w.store.Vote(context.Background(), "Cats", at); err != nil {
			w.t.Fatal(err)
		}
	}
	w.votes[metering.HourOf(at)] += float64(n)
	w.total += float64(n)
}

func (w *world) pass(r *metering.Reporter) metering.PassResult {
	w.t.Helper()
	res, err := r.Pass(context.Background())
	if err != nil {
		w.t.Fatalf("pass: %v", err)
	}
	return res
}

// settle moves time forward and runs passes until every hour with usage,
// carried usage included, has closed and settled.
func (w *world) settle(r *metering.Reporter) {
	w.t.Helper()
	for range 6 {
		w.clock.Add(time.Hour)
		w.pass(r)
	}
}

// billed is the emulator's accepted quantity by hour, checking that no key
// was accepted twice.
func (w *world) billed() (map[time.Time]float64, float64) {
	w.t.Helper()
	byHour := map[time.Time]float64{}
	var total float64
	for _, e := range w.emu.Events() {
		h := e.EffectiveStartTime.Time
		if _, dup := byHour[h]; dup {
			w.t.Fatalf("hour %s accepted twice", h)
		}
		if e.Dimension != dim || e.ResourceURI != resource {
			w.t.Fatalf("event for the wrong key: %+v", e)
		}
		byHour[h] = e.Quantity
		total += e.Quantity
	}
	return byHour, total
}

// checkBooks asserts the invariant: every vote billed exactly once, for its
// own hour or carried to a later one, and the ledger agreeing with the service.
func (w *world) checkBooks() map[time.Time]metering.Record {
	w.t.Helper()
	byHour, total := w.billed()
	if total != w.total {
		w.t.Errorf("billed %v, votes cast %v", total, w.total)
	}
	recs, err := w.store.Records(context.Background(), dim)
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[time.Time]metering.Record{}
	now := w.clock.Now()
	for _, r := range recs {
		out[r.Hour] = r
		if !metering.Closed(now, 5*time.Minute, r.Hour) {
			continue
		}
		if !r.State.Settled() || r.Due() != 0 {
			w.t.Errorf("hour %s not settled: %+v", r.Hour, r)
		}
		if r.Counted != w.votes[r.Hour] {
			w.t.Errorf("hour %s counted %v, votes cast %v", r.Hour, r.Counted, w.votes[r.Hour])
		}
		if q, ok := byHour[r.Hour]; ok && q != r.Reported {
			w.t.Errorf("hour %s: service billed %v, ledger says %v", r.Hour, q, r.Reported)
		}
		if r.Reported+r.CarriedOut != r.Counted+r.CarriedIn {
			w.t.Errorf("hour %s: reported %v + carried out %v != counted %v + carried in %v",
				r.Hour, r.Reported, r.CarriedOut, r.Counted, r.CarriedIn)
		}
	}
	return out
}

func TestReporterSendsEachClosedHourOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, w *world) {
		w.vote(start.Add(10*time.Minute), 3)
		w.vote(start.Add(time.Hour+59*time.Minute+59*time.Second), 4)
		w.vote(start.Add(2*time.Hour), 2) // next hour: open when the pass runs
		r := w.reporter(w.store)

		w.clock.Set(start.Add(2*time.Hour + 4*time.Minute)) // hour 1 is within grace
		res := w.pass(r)
		if res.Sent != 1 || res.Accepted != 1 {
			t.Fatalf("first pass: %+v", res)
		}
		w.clock.Set(start.Add(2*time.Hour + 5*time.Minute))
		if res := w.pass(r); res.Sent != 1 || res.Accepted != 1 {
			t.Fatalf("second pass: %+v", res)
		}
		if res := w.pass(r); res.Sent != 0 {
			t.Fatalf("a pass with nothing new sent %d events", res.Sent)
		}
		byHour, _ := w.billed()
		if byHour[start] != 3 || byHour[start.Add(time.Hour)] != 4 || len(byHour) != 2 {
			t.Fatalf("billed %v", byHour)
		}
		w.settle(r)
		recs := w.checkBooks()
		if r := recs[start]; r.State != metering.StateAccepted || r.UsageEventID == "" || r.Attempts != 1 || r.MessageTime.IsZero() {
			t.Fatalf("ledger of the first hour: %+v", r)
		}
	})
}

func TestReporterBatchesSeveralHours(t *testing.T) {
	forEachStore(t, func(t *testing.T, w *world) {
		for h := range 23 {
			w.vote(start.Add(time.Duration(h)*time.Hour+time.Minute), h%4) // some hours have no votes
		}
		w.clock.Set(start.Add(23*time.Hour + 10*time.Minute))
		res := w.pass(w.reporter(w.store))
		want := 0
		for _, n := range w.votes {
			if n > 0 {
				want++
			}
		}
		if res.Sent != want || res.Accepted != want {
			t.Fatalf("pass %+v, want %d sent", res, want)
		}
		if n := w.emu.Stats().Count(emulator.EndpointBatchUsageEvent, 200); n != 1 {
			t.Fatalf("%d batch calls, want 1", n)
		}
		w.checkBooks()
	})
}

// Two days of votes with 30% of calls failing (5xx, 429, dropped
// connections before and after the event is recorded): every vote ends up
// billed exactly once.
func TestReporterUnderFaults(t *testing.T) {
	forEachStore(t, func(t *testing.T, w *world) {
		rng := rand.New(rand.NewPCG(1, 2))
		w.emu.SetFaults(emulator.Faults{ErrorRate: 0.1, ThrottleRate: 0.1, DropRate: 0.1, Seed: 7})
		r := w.reporter(w.store)
		for h := range 48 {
			hour := start.Add(time.Duration(h) * time.Hour)
			w.clock.Set(hour)
			for range rng.IntN(4) {
				w.vote(hour.Add(time.Duration(rng.IntN(3600))*time.Second), 1+rng.IntN(5))
			}
			w.clock.Set(hour.Add(time.Hour + 5*time.Minute))
			w.pass(r)
		}
		w.emu.SetFaults(emulator.Faults{})
		w.settle(r)
		w.checkBooks()
		st := w.emu.Stats()
		if st.Count(emulator.EndpointUsageEvent, 500)+st.Count(emulator.EndpointUsageEvent, 503)+
			st.Count(emulator.EndpointBatchUsageEvent, 500)+st.Count(emulator.EndpointBatchUsageEvent, 503) == 0 {
			t.Fatalf("no faults were injected: %+v", st)
		}
	})
}

// A timeout is an unknown outcome: the hour stays inflight and settles on
// the next pass.
func TestReporterTimeouts(t *testing.T) {
	forEachStore(t, func(t *testing.T, w *world) {
		w.vote(start.Add(time.Minute), 5)
		w.emu.SetFaults(emulator.Faults{Latency: 700 * time.Millisecond})
		w.clock.Set(start.Add(time.Hour + 5*time.Minute))
		r := w.reporter(w.store)
		if res := w.pass(r); res.Failed != 1 {
			t.Fatalf("pass under timeouts: %+v", res)
		}
		recs, _ := w.store.Records(context.Background(), dim)
		if recs[0].State != metering.StateInflight || recs[0].LastError == "" {
			t.Fatalf("after a timeout: %+v", recs[0])
		}
		w.emu.SetFaults(emulator.Faults{})
		w.settle(r)
		w.checkBooks()
	})
}

// failAnswers makes recording an answer fail, as if the process died
// between the send and the write.
type failAnswers struct{ metering.Ledger }

func (l failAnswers) Update(ctx context.Context, rec metering.Record) (metering.Record, error) {
	if rec.State != metering.StateInflight || rec.LastError != "" {
		return metering.Record{}, errors.New("process died")
	}
	return l.Ledger.Update(ctx, rec)
}

func TestReporterCrashBetweenSendAndRecord(t *testing.T) {
	forEachStore(t, func(t *testing.T, w *world) {
		w.vote(start.Add(time.Minute), 5)
		w.clock.Set(start.Add(time.Hour + 5*time.Minute))
		w.pass(w.reporter(failAnswers{w.store}))
		if len(w.emu.Events()) != 1 {
			t.Fatal("the event was not sent")
		}
		recs, _ := w.store.Records(context.Background(), dim)
		if recs[0].State != metering.StateInflight {
			t.Fatalf("after the crash: %+v", recs[0])
		}
		res := w.pass(w.reporter(w.store)) // the restarted process
		if res.Duplicate != 1 {
			t.Fatalf("resend after the crash: %+v", res)
		}
		rec := w.checkBooks()[start]
		if rec.State != metering.StateDuplicate || rec.UsageEventID != w.emu.Events()[0].UsageEventID || rec.Attempts != 2 {
			t.Fatalf("settled record: %+v", rec)
		}
	})
}

// noLock is a ledger whose lock never excludes anyone: a lost lock, or a
// process paused past its lease.
type noLock struct{ metering.Ledger }

func (noLock) Lock(context.Context, string, time.Duration) (metering.Lock, error) {
	return freeLock{}, nil
}

type freeLock struct{}

func (freeLock) Renew(context.Context) error   { return nil }
func (freeLock) Release(context.Context) error { return nil }

func TestTwoReportersAtOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, w *world) {
		w.emu.SetFaults(emulator.Faults{DropRate: 0.2, Seed: 3})
		a, b := w.reporter(noLock{w.store}), w.reporter(noLock{w.store})
		for h := range 30 {
			hour := start.Add(time.Duration(h) * time.Hour)
			w.clock.Set(hour)
			w.vote(hour.Add(time.Minute), 1+h%3)
			if h > 2 {
				w.vote(hour.Add(-2*time.Hour+30*time.Minute), 1) // late votes into a settled hour
			}
			w.clock.Set(hour.Add(time.Hour + 5*time.Minute))
			var wg sync.WaitGroup
			for _, r := range []*metering.Reporter{a, b, a, b} {
				wg.Go(func() { _, _ = r.Pass(context.Background()) })
			}
			wg.Wait()
		}
		w.emu.SetFaults(emulator.Faults{})
		w.settle(a)
		w.checkBooks()
	})
}

func TestReporterLockExcludesASecondReporter(t *testing.T) {
	forEachStore(t, func(t *testing.T, w *world) {
		w.vote(start.Add(time.Minute), 1)
		w.clock.Set(start.Add(2 * time.Hour))
		lock, err := w.store.Lock(context.Background(), metering.LockName, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if res := w.pass(w.reporter(w.store)); res.Locked || res.Sent != 0 {
			t.Fatalf("pass while another holds the lock: %+v", res)
		}
		if err := lock.Release(context.Background()); err != nil {
			t.Fatal(err)
		}
		if res := w.pass(w.reporter(w.store)); !res.Locked || res.Accepted != 1 {
			t.Fatalf("pass after release: %+v", res)
		}
	})
}

func TestReporterCarriesLateVotes(t *testing.T) {
	forEachStore(t, func(t *testing.T, w *world) {
		r := w.reporter(w.store)
		w.vote(start.Add(time.Minute), 5)
		w.clock.Set(start.Add(time.Hour + 5*time.Minute))
		w.pass(r)
		w.vote(start.Add(30*time.Minute), 2) // a replica whose clock runs behind
		w.clock.Set(start.Add(2*time.Hour + 5*time.Minute))
		if res := w.pass(r); res.Carried != 2 {
			t.Fatalf("late votes: %+v", res)
		}
		w.settle(r)
		recs := w.checkBooks()
		first := recs[start]
		if first.State != metering.StateAccepted || first.Reported != 5 || first.CarriedOut != 2 || !first.CarriedTo.Equal(start.Add(2*time.Hour)) {
			t.Fatalf("first hour: %+v", first)
		}
		if to := recs[start.Add(2*time.Hour)]; to.CarriedIn != 2 || to.Reported != 2 || !to.CarriedFrom.Equal(start) {
			t.Fatalf("hour carried to: %+v", to)
		}
	})
}

// An outage of 30 hours: hours still in the window are sent for their own
// time, older ones are carried into the open hour; nothing is lost.
func TestReporterOutageLongerThanTheWindow(t *testing.T) {
	forEachStore(t, func(t *testing.T, w *world) {
		r := w.reporter(w.store)
		w.emu.SetFaults(emulator.Faults{ErrorRate: 1})
		for h := range 30 {
			hour := start.Add(time.Duration(h) * time.Hour)
			w.vote(hour.Add(time.Minute), 2)
			w.clock.Set(hour.Add(time.Hour + 5*time.Minute))
			w.pass(r)
		}
		if len(w.emu.Events()) != 0 {
			t.Fatal("events accepted during the outage")
		}
		w.emu.SetFaults(emulator.Faults{})
		res := w.pass(r)
		if res.Carried == 0 || res.Accepted == 0 {
			t.Fatalf("recovery pass: %+v", res)
		}
		w.settle(r)
		recs := w.checkBooks()
		if rec := recs[start]; rec.State != metering.StateExpired || rec.CarriedOut != 2 {
			t.Fatalf("oldest hour: %+v", rec)
		}
	})
}

func TestReporterDuplicateQuantities(t *testing.T) {
	forEachStore(t, func(t *testing.T, w *world) {
		short, over := start, start.Add(time.Hour)
		w.clock.Set(start.Add(2*time.Hour + 5*time.Minute))
		// Someone already reported these hours: 3 for the first, 20 for the second.
		for _, pre := range []struct {
			h time.Time
			q float64
		}{{short, 3}, {over, 20}} {
			if _, err := w.client.SendUsageEvent(context.Background(), metering.NewUsageEvent(resource, plan, dim, pre.h, pre.q)); err != nil {
				t.Fatal(err)
			}
		}
		w.vote(short.Add(time.Minute), 5)
		w.vote(over.Add(time.Minute), 5)
		r := w.reporter(w.store)
		res := w.pass(r)
		if res.Duplicate != 1 || res.Mismatch != 1 || res.Carried != 2 {
			t.Fatalf("pass: %+v", res)
		}
		w.settle(r)
		recs, err := w.store.Records(context.Background(), dim)
		if err != nil {
			t.Fatal(err)
		}
		byHour := map[time.Time]metering.Record{}
		for _, rec := range recs {
			byHour[rec.Hour] = rec
		}
		if rec := byHour[short]; rec.State != metering.StateDuplicate || rec.Reported != 3 || rec.CarriedOut != 2 {
			t.Errorf("shortfall hour: %+v", rec)
		}
		if rec := byHour[over]; rec.State != metering.StateMismatch || rec.Reported != 20 || rec.CarriedOut != 0 {
			t.Errorf("mismatch hour: %+v", rec)
		}
		_, total := w.billed()
		if want := 3 + 20 + 2.0; total != want {
			t.Errorf("billed %v, want %v", total, want)
		}
	})
}

func TestReporterIdentityRefused(t *testing.T) {
	forEachStore(t, func(t *testing.T, w *world) {
		w.vote(start.Add(time.Minute), 5)
		w.clock.Set(start.Add(time.Hour + 5*time.Minute))
		denied := emulator.New(emulator.Options{Tokens: func(string) bool { return false }, Now: w.clock.Now})
		srv := httptest.NewServer(denied)
		defer srv.Close()
		client, err := metering.NewClient(srv.URL+"/api", metering.StaticToken("wrong"), nil)
		if err != nil {
			t.Fatal(err)
		}
		r := metering.NewReporter(metering.ReporterOptions{Ledger: w.store, Sender: client, Resource: resource, PlanID: plan, Dimension: dim, Now: w.clock.Now})
		if res := w.pass(r); res.Failed != 1 || res.Pending != 1 {
			t.Fatalf("pass: %+v", res)
		}
		recs, _ := w.store.Records(context.Background(), dim)
		if rec := recs[0]; rec.State != metering.StatePending || rec.CorrelationID == "" || rec.LastError == "" {
			t.Fatalf("after 403: %+v", rec)
		}
		// Once the identity is fixed the same hour goes out.
		w.pass(w.reporter(w.store))
		w.checkBooks()
	})
}

func ExampleNewUsageEvent() {
	e := metering.NewUsageEvent("/subscriptions/x/resourceGroups/rg", "basic", "pervote",
		time.Date(2026, 11, 22, 8, 42, 0, 0, time.UTC), 12)
	fmt.Println(e.ResourceURI, e.EffectiveStartTime.Format(time.RFC3339), e.Quantity)
	// Output: /subscriptions/x/resourceGroups/rg 2026-11-22T08:00:00Z 12
}

// lostLock is a ledger whose lock cannot be renewed: another reporter took
// it over while this one was slow.
type lostLock struct{ metering.Ledger }

func (lostLock) Lock(context.Context, string, time.Duration) (metering.Lock, error) {
	return brokenLock{}, nil
}

type brokenLock struct{}

func (brokenLock) Renew(context.Context) error   { return errors.New("token no longer ours") }
func (brokenLock) Release(context.Context) error { return nil }

// slowSender answers only when its context ends.
type slowSender struct{}

func (slowSender) SendUsageEvent(ctx context.Context, _ metering.UsageEvent) (metering.EventResult, error) {
	<-ctx.Done()
	return metering.EventResult{}, ctx.Err()
}

func (slowSender) SendBatch(ctx context.Context, _ []metering.UsageEvent) (metering.BatchResult, error) {
	<-ctx.Done()
	return metering.BatchResult{}, ctx.Err()
}

func TestReporterStopsWhenItLosesTheLock(t *testing.T) {
	forEachStore(t, func(t *testing.T, w *world) {
		w.vote(start.Add(time.Minute), 2)
		w.clock.Set(start.Add(2 * time.Hour))
		r := metering.NewReporter(metering.ReporterOptions{
			Ledger: lostLock{w.store}, Sender: slowSender{}, Resource: resource, PlanID: plan, Dimension: dim,
			Now: w.clock.Now, LockTTL: 30 * time.Millisecond,
		})
		_, err := r.Pass(context.Background())
		if err == nil || !strings.Contains(err.Error(), "lock lost") {
			t.Fatalf("pass with a lost lock: %v", err)
		}
		recs, _ := w.store.Records(context.Background(), dim)
		if recs[0].State != metering.StateInflight {
			t.Fatalf("the hour must stay inflight for the next pass: %+v", recs[0])
		}
		w.pass(w.reporter(w.store))
		w.checkBooks()
	})
}

// Schedule runs a pass at once (catching up on hours closed while the app
// was down), and its wait returns only after the pass has finished.
func TestScheduleRunsAPassAtStart(t *testing.T) {
	forEachStore(t, func(t *testing.T, w *world) {
		w.vote(start.Add(time.Minute), 4)
		w.clock.Set(start.Add(3 * time.Hour))
		passes := make(chan metering.PassResult, 1)
		r := metering.NewReporter(metering.ReporterOptions{
			Ledger: w.store, Sender: w.client, Resource: resource, PlanID: plan, Dimension: dim,
			Now: w.clock.Now, Observe: func(res metering.PassResult) { passes <- res },
		})
		ctx, cancel := context.WithCancel(context.Background())
		wait, err := metering.Schedule(ctx, "5 * * * *", r)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case res := <-passes:
			if res.Accepted != 1 {
				t.Fatalf("pass at start: %+v", res)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no pass at start")
		}
		cancel()
		wait()
		if _, err := metering.Schedule(context.Background(), "hourly-ish", r); err == nil {
			t.Fatal("a bad schedule was accepted")
		}
	})
}
