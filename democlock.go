package main

import (
	"context"
	"time"
)

// demoClock is the clock of DEMO_SPEED: from origin, it runs speed times
// faster than the wall clock, so with 60 a minute is an hour for votes,
// grace, the schedule, the reporter and the built-in emulator alike.
type demoClock struct {
	origin time.Time // the clock's reading at wall
	wall   time.Time // when it started, with its monotonic reading
	speed  float64
}

func newDemoClock(origin time.Time, speed float64) *demoClock {
	return &demoClock{origin: origin.Round(0).UTC(), wall: time.Now(), speed: speed}
}

// Now is origin plus the real time elapsed, times speed. time.Since reads
// the monotonic clock, so a wall clock that is set back does not move it.
func (c *demoClock) Now() time.Time {
	return c.origin.Add(time.Duration(float64(time.Since(c.wall)) * c.speed))
}

// demoOrigin is where a demo clock starts: now, or, when an earlier demo
// ran ahead of the wall clock, the hour after its last one, so that a
// restart goes on from where the demo was instead of voting into hours it
// has already reported.
func demoOrigin(ctx context.Context, ledger ledgerHistory, dim string, now time.Time) time.Time {
	recs, err := ledger.History(ctx, dim, now.Add(-24*time.Hour))
	if err != nil || len(recs) == 0 {
		return now
	}
	// History is oldest first.
	if next := recs[len(recs)-1].Hour.Add(time.Hour); next.After(now) {
		return next
	}
	return now
}
