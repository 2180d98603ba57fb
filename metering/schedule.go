package metering

import (
	"context"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// ScheduleOption changes how Schedule follows its clock.
type ScheduleOption func(*scheduleConfig)

type scheduleConfig struct{ pace float64 }

// Pace tells Schedule that the reporter's clock (ReporterOptions.Now) runs
// speed times faster than real time, as a demo clock does: a wait of an
// hour on that clock is slept as an hour divided by speed. Values below 1
// are taken as 1.
func Pace(speed float64) ScheduleOption {
	return func(c *scheduleConfig) { c.pace = max(1, speed) }
}

// maxNap bounds one sleep of Schedule, so that it follows a clock that
// jumps (a host resumed from suspend, a corrected wall clock) within a
// minute.
const maxNap = time.Minute

// Schedule runs r.Pass once now and then at every time of spec (standard
// five-field cron, in UTC: the service bills by UTC hours) on the
// reporter's own clock, until ctx ends. Passes never overlap: a run that
// comes due while a pass is still going is skipped. The returned function
// waits for a running pass to finish.
func Schedule(ctx context.Context, spec string, r *Reporter, opts ...ScheduleOption) (wait func(), err error) {
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("metering: schedule %q: %w", spec, err)
	}
	cfg := scheduleConfig{pace: 1}
	for _, o := range opts {
		o(&cfg)
	}
	now := r.o.Now
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The pass at start catches up on hours closed while we were down.
		for ctx.Err() == nil {
			if _, err := r.Pass(ctx); err != nil && ctx.Err() == nil {
				r.log.Error("metering pass failed; retried at the next run", "err", err)
			}
			if !sleepUntil(ctx, now, sched.Next(now().UTC()), cfg.pace) {
				return
			}
		}
	}()
	return func() { <-ctx.Done(); <-done }, nil
}

// sleepUntil waits until the clock now reads at or after t, sleeping the
// real duration that the clock's pace makes of the wait; false if ctx ended.
func sleepUntil(ctx context.Context, now func() time.Time, t time.Time, pace float64) bool {
	timer := time.NewTimer(maxNap)
	defer timer.Stop()
	for {
		left := t.Sub(now())
		if left <= 0 {
			return true
		}
		timer.Reset(min(time.Duration(float64(left)/pace), maxNap))
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
		}
	}
}
