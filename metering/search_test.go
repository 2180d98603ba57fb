package metering_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/emulator"
	"github.com/azure-vote/azure-vote/metering/meteringtest"
)

var (
	searchRuns = flag.Int("metering.search", 0, "random schedules the billing search tries (0: the default)")
	searchSeed = flag.Uint64("metering.seed", 0, "run only this schedule of the billing search")
)

// TestScheduleSearch runs the reporter through random schedules of votes,
// answers, crashes and a second reporter over 72 simulated hours, against
// the emulator with either order of its checks, and checks the billing
// invariant after every pass: no hour billed twice, counting carries, and
// nothing billed that was not counted; after healing, every vote billed
// exactly once. A failure names the seed; -metering.seed=N replays it and
// -metering.search=N tries more.
func TestScheduleSearch(t *testing.T) {
	runs := *searchRuns
	if runs == 0 {
		runs = defaultSearchRuns
	}
	var seeds []uint64
	if *searchSeed != 0 {
		seeds = append(seeds, *searchSeed)
	} else {
		for i := range runs {
			seeds = append(seeds, uint64(i+1))
		}
	}
	for _, seed := range seeds {
		if err := runSchedule(seed); err != nil {
			t.Fatalf("schedule %d: %v\nreplay: go test ./metering -run TestScheduleSearch -metering.seed=%d -v", seed, err, seed)
		}
	}
}

// crashing is a view of the ledger that dies after a number of writes:
// every later write fails, as if the process had stopped between two steps.
type crashing struct {
	metering.Ledger
	mu     sync.Mutex
	writes int // left before the crash; <0: never
}

func (c *crashing) alive() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writes == 0 {
		return false
	}
	c.writes--
	return true
}

func (c *crashing) Update(ctx context.Context, rec metering.Record) (metering.Record, error) {
	if !c.alive() {
		return metering.Record{}, errors.New("process stopped")
	}
	return c.Ledger.Update(ctx, rec)
}

func (c *crashing) Carry(ctx context.Context, from metering.Record, to time.Time, q float64) (metering.Record, error) {
	if !c.alive() {
		return metering.Record{}, errors.New("process stopped")
	}
	return c.Ledger.Carry(ctx, from, to, q)
}

// unlocked is a view of the ledger whose lock never excludes: a second
// reporter that lost track of the lock.
type unlocked struct{ metering.Ledger }

func (unlocked) Lock(context.Context, string, time.Duration) (metering.Lock, error) {
	return freeLock{}, nil
}

// inProcess serves requests with a handler, without a network.
func inProcess(h http.Handler) func(*http.Request) (*http.Response, error) {
	return func(req *http.Request) (*http.Response, error) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Result(), nil
	}
}

// runSchedule plays one random schedule and returns the first violation.
func runSchedule(seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 0xb111))
	c := meteringtest.NewClock(start)
	ledger := meteringtest.NewLedger(c.Now)
	// The service's clock is off from ours by up to 20 minutes either way.
	skew := time.Duration(rng.IntN(41)-20) * time.Minute
	emu := emulator.New(emulator.Options{
		Plans: map[string][]string{plan: {dim}}, Resources: []string{resource},
		Now:                   func() time.Time { return c.Now().Add(skew) },
		DuplicateBeforeWindow: rng.IntN(2) == 0, ShuffleBatch: rng.IntN(2) == 0, Faults: emulator.Faults{Seed: int64(seed)},
	})
	outageFrom, outageLen := 10+rng.IntN(40), 0
	if rng.IntN(3) > 0 {
		outageLen = rng.IntN(36)
	}
	var (
		second   func() // runs a second reporter's pass, set below
		inSecond bool
		healed   bool
		// Some services never send a usable acceptedMessage, even healed.
		neverAccepted = rng.IntN(8) == 0
	)
	h := &hostile{next: inProcess(emu), itemSt: metering.StatusResourceNotActive}
	h.script = func(n int, op string) act {
		if healed {
			if neverAccepted {
				return stripAccepted
			}
			return pass
		}
		if !inSecond && rng.IntN(40) == 0 {
			inSecond = true
			second() // a paused process wakes up mid-send
			inSecond = false
		}
		hour := int(c.Now().Sub(start) / time.Hour)
		if hour >= outageFrom && hour < outageFrom+outageLen {
			return []act{refuse403, refuseState, itemError, dropBefore, serverError, recordThenDrop}[rng.IntN(6)]
		}
		switch u := rng.IntN(100); {
		case u < 55:
			return pass
		case u < 63:
			return recordThenDrop
		case u < 69:
			return dropBefore
		case u < 74:
			return serverError
		case u < 77:
			return refuse403
		case u < 80:
			return refuseState
		case u < 83:
			return itemError
		case u < 90:
			return reverse
		case u < 94:
			return stripAccepted
		case u < 97:
			return badTime
		}
		return throttle
	}
	client, err := metering.NewClient("http://127.0.0.1:1/api", metering.StaticToken("t"), &metering.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: h, Retry: policy.RetryOptions{
			MaxRetries: int32(rng.IntN(3) - 1), RetryDelay: time.Nanosecond, MaxRetryDelay: time.Nanosecond,
		}},
	})
	if err != nil {
		return err
	}
	reporter := func(l metering.Ledger) *metering.Reporter {
		o := metering.ReporterOptions{Ledger: l, Sender: client, Resource: resource, PlanID: plan,
			Dimensions: []string{dim}, Grace: 5 * time.Minute, Now: c.Now}
		if lk, ok := l.(metering.Locker); ok {
			o.Locker = lk
		} else {
			o.Locker = ledger
		}
		r, err := metering.NewReporter(o)
		if err != nil {
			panic(err)
		}
		return r
	}
	second = func() { _, _ = reporter(unlocked{ledger}).Pass(context.Background()) }

	var counted float64
	check := func(final bool) error {
		billed := map[time.Time]float64{}
		var total float64
		for _, e := range emu.Events() {
			billed[e.EffectiveStartTime.Time] += e.Quantity
			total += e.Quantity
		}
		if total > counted+1e-9 {
			return fmt.Errorf("billed %v for %v counted", total, counted)
		}
		recs, _ := ledger.Records(context.Background(), dim)
		for _, r := range recs {
			held, isHeld := billed[r.Hour]
			if isHeld && held+r.CarriedOut > r.Counted+r.CarriedIn+1e-9 {
				return fmt.Errorf("hour %s: the service holds %v and %v was carried away, of %v counted and %v carried in: billed twice",
					r.Hour, held, r.CarriedOut, r.Counted, r.CarriedIn)
			}
			if r.State == metering.StateAccepted || r.State == metering.StateDuplicate || r.State == metering.StateMismatch {
				if !isHeld || held != r.Reported {
					return fmt.Errorf("hour %s settled as %s with %v, the service holds %v (%v)", r.Hour, r.State, r.Reported, held, isHeld)
				}
			}
			if r.State == metering.StateMismatch {
				return fmt.Errorf("hour %s: mismatch, the service holds more than was counted: %+v", r.Hour, r)
			}
			if final && !r.Hour.Add(time.Hour+5*time.Minute).After(c.Now()) && (!r.State.Settled() || r.Due() != 0) {
				return fmt.Errorf("hour %s not settled after healing: %+v", r.Hour, r)
			}
		}
		if final && total != counted {
			return fmt.Errorf("after healing, billed %v for %v counted", total, counted)
		}
		return nil
	}

	runPass := func() error {
		l := &crashing{Ledger: ledger, writes: -1}
		if rng.IntN(6) == 0 {
			l.writes = rng.IntN(8)
		}
		_, _ = reporter(l).Pass(context.Background())
		return check(false)
	}
	for hour := range 72 {
		base := start.Add(time.Duration(hour) * time.Hour)
		for range rng.IntN(4) {
			q := float64(1 + rng.IntN(5))
			ledger.Count(dim, base.Add(time.Duration(rng.IntN(3600))*time.Second), q)
			counted += q
		}
		c.Set(base.Add(time.Hour + 5*time.Minute))
		if err := runPass(); err != nil {
			return err
		}
		if rng.IntN(5) == 0 {
			c.Add(time.Duration(1+rng.IntN(50)) * time.Minute)
			if err := runPass(); err != nil {
				return err
			}
		}
	}
	// Heal: the service answers plainly; passes run until the windows
	// close and the records settle what they can.
	healed = true
	for range 30 {
		c.Add(time.Hour)
		if err := runPass(); err != nil {
			return err
		}
	}
	// An operator settles what is left, after checking what the service
	// holds, as Partner Center would show.
	recs, _ := ledger.Records(context.Background(), dim)
	held := map[time.Time]bool{}
	for _, e := range emu.Events() {
		held[e.EffectiveStartTime.Time] = true
	}
	for _, r := range recs {
		if r.State != metering.StateUnresolved {
			continue
		}
		v := metering.VerdictCarry
		if held[r.Hour] {
			v = metering.VerdictAccepted
		}
		if _, err := reporter(ledger).Settle(context.Background(), dim, r.Hour, v, "checked in Partner Center", "ops"); err != nil {
			return fmt.Errorf("settle %s: %w", r.Hour, err)
		}
	}
	for range 3 {
		c.Add(time.Hour)
		if err := runPass(); err != nil {
			return err
		}
	}
	return check(true)
}
