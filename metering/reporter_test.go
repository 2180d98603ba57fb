package metering_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	bolt "go.etcd.io/bbolt"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/boltledger"
	"github.com/azure-vote/azure-vote/metering/emulator"
	"github.com/azure-vote/azure-vote/metering/meteringtest"
)

const (
	resource = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.KubernetesConfiguration/extensions/azure-vote"
	plan     = "basic"
	dim      = "pervote"
)

// testStore is a ledger with its lock.
type testStore interface {
	metering.Ledger
	metering.Locker
}

// world is one reporter's surroundings: a store, an emulator on real HTTP
// and a client with fast retries.
type world struct {
	t      testing.TB
	clock  *meteringtest.Clock
	store  testStore
	count  func(at time.Time, n int) error // counts usage as the application does
	emu    *emulator.Emulator
	client *metering.Client
	votes  map[time.Time]float64 // votes cast, by hour
	total  float64
}

var start = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// storeKinds are the ledgers the reporter's tests run on: both need no
// server (the Redis ledger runs TestLedger's reporter checks in its own
// tests).
var storeKinds = []string{"memory", "bolt"}

// forEachStore runs f on each kind of ledger.
func forEachStore(t *testing.T, f func(t *testing.T, w *world)) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) { f(t, newWorld(t, kind)) })
	}
}

// worldOption changes the emulator or the client of a new world.
type worldOption func(*emulator.Options, *metering.ClientOptions)

// newWorld builds a world on a store of the kind ("redis" or "bolt"), with
// the clock at start.
func newWorld(tb testing.TB, kind string, opts ...worldOption) *world {
	tb.Helper()
	c := meteringtest.NewClock(start)
	var (
		st    testStore
		count func(at time.Time, n int) error
	)
	switch kind {
	case "memory":
		l := meteringtest.NewLedger(c.Now)
		st, count = l, func(at time.Time, n int) error { l.Count(dim, at, float64(n)); return nil }
	case "bolt":
		db, err := bolt.Open(filepath.Join(tb.TempDir(), "ledger.db"), 0o600, nil)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { db.Close() })
		l, err := boltledger.New(db, boltledger.Options{Now: c.Now})
		if err != nil {
			tb.Fatal(err)
		}
		st, count = l, func(at time.Time, n int) error {
			return db.Update(func(tx *bolt.Tx) error { return l.Count(tx, dim, at, float64(n)) })
		}
	default:
		tb.Fatalf("no ledger of kind %q", kind)
	}
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
	return &world{t: tb, clock: c, store: st, count: count, emu: emu, client: client, votes: map[time.Time]float64{}}
}

// reporter reports the world's usage over l, with the world's lock unless l
// brings its own.
func (w *world) reporter(l metering.Ledger) *metering.Reporter {
	return w.newReporter(metering.ReporterOptions{Ledger: l, Grace: 5 * time.Minute})
}

// newReporter fills in what o leaves out from the world.
func (w *world) newReporter(o metering.ReporterOptions) *metering.Reporter {
	w.t.Helper()
	if o.Locker == nil {
		if o.Locker, _ = o.Ledger.(metering.Locker); o.Locker == nil {
			o.Locker = w.store
		}
	}
	o.Sender = cmp.Or[metering.Sender](o.Sender, w.client)
	o.Resource, o.PlanID, o.Dimensions = resource, plan, []string{dim}
	if o.Now == nil {
		o.Now = w.clock.Now
	}
	r, err := metering.NewReporter(o)
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

// vote casts n votes at the given time.
func (w *world) vote(at time.Time, n int) {
	w.t.Helper()
	for range n {
		if err := w.count(at, 1); err != nil {
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
		if r.Hour.Add(time.Hour + 5*time.Minute).After(now) { // not closed
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
type noLock struct{}

func (noLock) Lock(context.Context, string, time.Duration) (metering.Lock, error) {
	return freeLock{}, nil
}

type freeLock struct{}

func (freeLock) Renew(context.Context) error   { return nil }
func (freeLock) Release(context.Context) error { return nil }

func TestTwoReportersAtOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, w *world) {
		w.emu.SetFaults(emulator.Faults{DropRate: 0.2, Seed: 3})
		a := w.newReporter(metering.ReporterOptions{Ledger: w.store, Locker: noLock{}, Grace: 5 * time.Minute})
		b := w.newReporter(metering.ReporterOptions{Ledger: w.store, Locker: noLock{}, Grace: 5 * time.Minute})
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
				wg.Add(1)
				go func() { defer wg.Done(); _, _ = r.Pass(context.Background()) }()
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
		r := w.newReporter(metering.ReporterOptions{Ledger: w.store, Sender: client})
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

// lostLock hands out a lock that cannot be renewed: another reporter took
// it over while this one was slow.
type lostLock struct{}

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
		r := w.newReporter(metering.ReporterOptions{
			Ledger: w.store, Locker: lostLock{}, Sender: slowSender{}, LockTTL: 30 * time.Millisecond,
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
		r := w.newReporter(metering.ReporterOptions{
			Ledger: w.store, Observe: func(res metering.PassResult) { passes <- res },
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

// A reporter is refused, with what is missing named, rather than failing
// at its first pass.
func TestNewReporterRefusesMissingParts(t *testing.T) {
	l := meteringtest.NewLedger(nil)
	client, err := metering.NewClient(metering.DefaultEndpoint, metering.StaticToken("t"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ok := metering.ReporterOptions{Ledger: l, Sender: client, Resource: resource, PlanID: plan, Dimensions: []string{dim}}
	many := make([]string, metering.MaxDimensions+1)
	for i := range many {
		many[i] = fmt.Sprintf("d%d", i)
	}
	for _, tt := range []struct {
		name   string
		change func(*metering.ReporterOptions)
		want   string
	}{
		{"no ledger", func(o *metering.ReporterOptions) { o.Ledger = nil }, "Ledger, Locker"},
		{"ledger without lock", func(o *metering.ReporterOptions) { o.Ledger = struct{ metering.Ledger }{l} }, "Locker"},
		{"no sender", func(o *metering.ReporterOptions) { o.Sender = nil }, "Sender"},
		{"no resource nor plan", func(o *metering.ReporterOptions) { o.Resource, o.PlanID = "", "" }, "Resource, PlanID"},
		{"no dimension", func(o *metering.ReporterOptions) { o.Dimensions = nil }, "Dimensions"},
		{"a dimension twice", func(o *metering.ReporterOptions) { o.Dimensions = []string{dim, "gb", dim} }, "repeated"},
		{"a blank dimension", func(o *metering.ReporterOptions) { o.Dimensions = []string{" "} }, "empty"},
		{"more than a plan has", func(o *metering.ReporterOptions) { o.Dimensions = many }, "31 dimensions"},
		{"negative grace", func(o *metering.ReporterOptions) { o.Grace = -time.Minute }, "grace"},
		{"grace past the window", func(o *metering.ReporterOptions) { o.Grace = metering.Window }, "grace"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.change(&o)
			r, err := metering.NewReporter(o)
			if err == nil || !strings.Contains(err.Error(), tt.want) || r != nil {
				t.Fatalf("NewReporter = %v, %v; want an error naming %q", r, err, tt.want)
			}
		})
	}
	if _, err := metering.NewReporter(ok); err != nil {
		t.Fatalf("complete options refused: %v", err)
	}
	if _, err := metering.NewReporter(metering.ReporterOptions{Ledger: struct{ metering.Ledger }{l}, Locker: l,
		Sender: client, Resource: resource, PlanID: plan, Dimensions: []string{dim}}); err != nil {
		t.Fatalf("a ledger with a separate locker refused: %v", err)
	}
}

// batchSpy records the dimensions of every batch it forwards.
type batchSpy struct {
	metering.Sender
	batches [][]string
}

func (s *batchSpy) SendBatch(ctx context.Context, events []metering.UsageEvent) (metering.BatchResult, error) {
	var dims []string
	for _, e := range events {
		dims = append(dims, e.Dimension)
	}
	s.batches = append(s.batches, dims)
	return s.Sender.SendBatch(ctx, events)
}

// One pass reports the closed hours of every dimension of the plan, mixed in
// batches of at most 25, each hour of each dimension billed once.
func TestPassReportsEveryDimension(t *testing.T) {
	c := meteringtest.NewClock(start)
	dims := []string{"pervote", "gb-stored", "api-calls"}
	l := meteringtest.NewLedger(c.Now)
	emu := emulator.New(emulator.Options{Plans: map[string][]string{plan: dims}, Resources: []string{resource}, Now: c.Now})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	client, err := metering.NewClient(srv.URL+"/api", metering.StaticToken("t"), nil)
	if err != nil {
		t.Fatal(err)
	}
	spy := &batchSpy{Sender: client}
	r, err := metering.NewReporter(metering.ReporterOptions{Ledger: l, Sender: spy, Resource: resource, PlanID: plan,
		Dimensions: dims, Grace: 5 * time.Minute, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{}
	for h := range 10 {
		for i, d := range dims {
			q := float64(h+1) * []float64{1, 0.25, 1000}[i] // a fractional unit among them
			l.Count(d, start.Add(time.Duration(h)*time.Hour+time.Minute), q)
			want[d+start.Add(time.Duration(h)*time.Hour).Format(time.RFC3339)] = q
		}
	}
	c.Set(start.Add(10*time.Hour + 10*time.Minute))
	res, err := r.Pass(t.Context())
	if err != nil || res.Accepted != 30 || res.Pending != 0 || res.Failed != 0 {
		t.Fatalf("pass = %+v, %v", res, err)
	}
	if len(spy.batches) != 2 || len(spy.batches[0]) != metering.MaxBatch || len(spy.batches[1]) != 5 {
		t.Fatalf("batches %v: want 25 then 5", spy.batches)
	}
	mixed := false
	for _, b := range spy.batches {
		mixed = mixed || slices.ContainsFunc(b, func(d string) bool { return d != b[0] })
	}
	if !mixed {
		t.Errorf("no batch mixed dimensions: %v", spy.batches)
	}
	got := map[string]float64{}
	for _, e := range emu.Events() {
		k := e.Dimension + e.EffectiveStartTime.Format(time.RFC3339)
		if _, dup := got[k]; dup {
			t.Fatalf("%s billed twice", k)
		}
		got[k] = e.Quantity
	}
	if !maps.Equal(got, want) {
		t.Fatalf("billed %v, counted %v", got, want)
	}
	for _, d := range dims {
		recs, _ := l.Records(t.Context(), d)
		for _, rec := range recs {
			if rec.Hour.Before(start.Add(10*time.Hour)) && (rec.State != metering.StateAccepted || rec.Dimension != d) {
				t.Errorf("%s %s: %+v", d, rec.Hour, rec)
			}
		}
	}
	if _, err := r.Settle(t.Context(), "other", start, metering.VerdictCarry, "x", "ops"); err == nil ||
		!strings.Contains(err.Error(), "not a dimension") {
		t.Errorf("Settle of a dimension not reported: %v", err)
	}
}
