package metering_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/azure-vote/azure-vote/metering"
)

// fastClock runs speed times faster than the wall clock from start, as
// the app's demo clock does.
type fastClock struct {
	start, wall time.Time
	speed       float64
}

func (c fastClock) Now() time.Time {
	return c.start.Add(time.Duration(float64(time.Since(c.wall)) * c.speed))
}

// On a clock that runs 3600 times faster than real time, the run at five
// past the hour comes five clock minutes, about 83 real ms, after the pass
// at start: the schedule follows the reporter's clock, not the wall's.
func TestScheduleFollowsTheReportersClock(t *testing.T) {
	forEachStore(t, func(t *testing.T, w *world) {
		clk := fastClock{start: start.Add(3 * time.Hour), wall: time.Now(), speed: 3600}
		var mu sync.Mutex
		var starts []time.Time
		passes := make(chan struct{}, 16)
		r := w.newReporter(metering.ReporterOptions{
			Ledger: w.store, Now: clk.Now, Observe: func(res metering.PassResult) {
				mu.Lock()
				starts = append(starts, res.Start)
				mu.Unlock()
				passes <- struct{}{}
			},
		})
		ctx, cancel := context.WithCancel(context.Background())
		wait, err := metering.Schedule(ctx, "5 * * * *", r, metering.Pace(3600))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			select {
			case <-passes:
			case <-time.After(10 * time.Second):
				t.Fatalf("pass %d did not come", i+1)
			}
		}
		cancel()
		wait()
		mu.Lock()
		defer mu.Unlock()
		second := starts[1]
		if second.Minute() < 5 || second.Sub(starts[0]) > time.Hour {
			t.Fatalf("passes at %v: the second is not the run at five past", starts)
		}
	})
}
