package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// ceilingDepth is how many requests' commands one connection of the
// ceiling pipelines per round trip: deep enough that Redis, not the round
// trips, sets the pace.
const ceilingDepth = 32

// runCeiling measures the physical limit under the servers: as many
// connections as the scenario's, each pipelining the Redis commands of
// ceilingDepth requests at a time straight to redis-server (a vote's
// HINCRBY, INCR, ZADD and HGETALL, without MULTI/EXEC; a page's HGETALL).
// No HTTP, no server process: req/s is what Redis alone sustains on this
// machine, and the CPU column is Redis's alone.
func (b *bench) runCeiling(ctx context.Context, sc scenario, conns int) (result, error) {
	rdb := redis.NewClient(&redis.Options{
		Addr: b.redisAddr, MaxRetries: -1, PoolSize: conns, Protocol: 2, ReadTimeout: requestTimeout,
	})
	defer rdb.Close()
	hour := time.Now().UTC().Truncate(time.Hour)
	label := hour.Format(hourLayout)
	choices := []string{vote1, vote2}

	cpu0, cpuErr := redisCPU(ctx, b.rdb)
	start := time.Now()
	warmEnd := start.Add(b.opts.Warmup)
	end := warmEnd.Add(b.opts.Duration)
	var total, measured atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			p := rdb.Pipeline()
			for n := 0; ctx.Err() == nil && total.Load() < b.opts.MaxRequests; {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				for range ceilingDepth {
					if sc.Op == opVote {
						p.HIncrBy(ctx, votesKey, choices[n%2], 1)
						p.Incr(ctx, usageKey(label))
						p.ZAdd(ctx, hoursKey, redis.Z{Score: float64(hour.Unix()), Member: label})
					}
					p.HGetAll(ctx, votesKey)
					n++
				}
				if _, err := p.Exec(ctx); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				total.Add(ceilingDepth)
				if !t0.Before(warmEnd) {
					measured.Add(ceilingDepth)
				}
			}
		})
	}
	wg.Wait()
	stop := time.Now()
	if firstErr != nil {
		return result{}, fmt.Errorf("ceiling: %w", firstErr)
	}
	if err := ctx.Err(); err != nil {
		return result{}, err
	}
	res := result{scenario: sc, ID: sc.ID(), Concurrency: conns, Requests: measured.Load(), OK: measured.Load()}
	if stop.After(warmEnd) {
		res.Seconds = stop.Sub(warmEnd).Seconds()
		res.RPS = float64(res.OK) / res.Seconds
	}
	if cpu1, err := redisCPU(ctx, b.rdb); err == nil && cpuErr == nil && total.Load() > 0 {
		res.RedisCPUPerRequestUS = perRequestUS(cpu1-cpu0, total.Load())
	}
	return res, nil
}
