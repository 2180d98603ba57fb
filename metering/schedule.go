package metering

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule runs r.Pass once now and then on spec (standard five-field cron,
// in UTC: the service bills by UTC hours) until ctx ends. Passes never
// overlap: a pass still running when the next is due makes that one skip.
// The returned function waits for a running pass to finish.
func Schedule(ctx context.Context, spec string, r *Reporter) (wait func(), err error) {
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("metering: schedule %q: %w", spec, err)
	}
	c := cron.New(cron.WithLocation(time.UTC), cron.WithChain(cron.SkipIfStillRunning(cron.DiscardLogger)))
	pass := func() {
		if _, err := r.Pass(ctx); err != nil && ctx.Err() == nil {
			r.log.Error("metering pass failed; retried at the next run", "err", err)
		}
	}
	id := c.Schedule(sched, cron.FuncJob(pass))
	c.Start()
	// The pass at start catches up on hours closed while we were down; it
	// goes through the cron chain so it cannot overlap a scheduled one.
	var first sync.WaitGroup
	first.Go(c.Entry(id).WrappedJob.Run)
	go func() { <-ctx.Done(); c.Stop() }()
	return func() { <-ctx.Done(); <-c.Stop().Done(); first.Wait() }, nil
}
