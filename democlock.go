package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/azure-vote/azure-vote/internal/config"
	"github.com/azure-vote/azure-vote/metering/usage"
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
func demoOrigin(ctx context.Context, ledger usage.Ledger, dim string, now time.Time) time.Time {
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

// BrowseURL is the address a person opens: localhost when the app listens
// on every interface.
func (m *Main) BrowseURL() string {
	addr := m.serving.Addr().(*net.TCPAddr)
	if addr.IP.IsUnspecified() {
		return "http://localhost:" + strconv.Itoa(addr.Port)
	}
	return m.URL()
}

// Greeting is the line `go run .` prints: where to open the app and, in
// local mode, how to see the whole loop.
func (m *Main) Greeting() string {
	msg := "azure-vote: open " + m.BrowseURL() + " to vote; " + m.BrowseURL() + "/usage shows what is reported."
	switch {
	case m.Config.DemoSpeed > 0:
		msg += fmt.Sprintf(" Demo clock: %s times real time, so a vote is reported, billed and reconciled on /usage within %s.",
			strconv.FormatFloat(m.Config.DemoSpeed, 'f', -1, 64), demoLoop(m.Config).Round(time.Second))
	case m.metering != nil && m.metering.mode == modeLocal:
		msg += " Local mode: a vote is reported once its UTC hour has closed; DEMO_SPEED=60 runs a minute as an hour to see it sooner."
	}
	return msg
}

// demoLoop is the real time, at most, from a vote to its hour's report
// under the demo clock: the rest of the hour, the grace, and the wait for
// the first scheduled pass after them.
func demoLoop(c config.Config) time.Duration {
	hour := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sched, err := cron.ParseStandard(c.Metering.Schedule)
	if err != nil { // refused at start: not reached
		return 0
	}
	pass := sched.Next(hour.Add(time.Hour + c.Metering.Grace - time.Nanosecond))
	return time.Duration(float64(pass.Sub(hour)) / c.DemoSpeed)
}

// dataScope keeps a demo's data apart from real usage: the demo clock runs
// ahead of the wall clock, and its hours must never be reported for real.
// prefix is the Redis key prefix of real data.
func (m *Main) dataScope(base string) (dir, prefix string) {
	dir, prefix = m.Config.DataDir, base
	if m.Config.DemoSpeed > 0 {
		dir, prefix = filepath.Join(dir, "demo"), prefix+"demo:"
	}
	return dir, prefix
}
