package store

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/azure-vote/azure-vote/metering/redisledger/redistest"
)

// BenchmarkVote measures votes per second with many concurrent voters, as a
// busy web front would cast them: on Redis, with and without tokens, they
// are grouped into round trips (votes/roundtrip shows how many share one);
// on bbolt, into commits.
func BenchmarkVote(b *testing.B) {
	for _, tokens := range []bool{false, true} {
		name := "redis"
		if tokens {
			name += "/token"
		}
		b.Run(name, func(b *testing.B) {
			srv := redistest.Start(b)
			s := openRedis(b, srv, Options{})
			benchmarkVote(b, s, tokens)
			b.ReportMetric(float64(b.N)/float64(max(1, commandCalls(b, srv.Client(), "evalsha"))), "votes/roundtrip")
		})
	}
	b.Run("bolt", func(b *testing.B) {
		benchmarkVote(b, openBolt(b, b.TempDir(), Options{}), false)
	})
}

func benchmarkVote(b *testing.B, s Store, tokens bool) {
	ctx := b.Context()
	choices := []string{"Cats", "Dogs"}
	var seq atomic.Int64
	b.SetParallelism(16) // goroutines per CPU: concurrent requests
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			tok := ""
			if tokens {
				tok = "bench-token-" + strconv.FormatInt(seq.Add(1), 10)
			}
			if _, _, err := s.VoteOnce(ctx, choices[i%2], tok, time.Now()); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "votes/s")
}

// BenchmarkCounts measures page reads per second with many concurrent
// readers: on Redis they share round trips.
func BenchmarkCounts(b *testing.B) {
	srv := redistest.Start(b)
	s := openRedis(b, srv, Options{})
	mustVote(b, s, "Cats", time.Now())
	ctx := b.Context()
	b.SetParallelism(16)
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Counts(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "reads/s")
	b.ReportMetric(float64(b.N)/float64(max(1, commandCalls(b, srv.Client(), "hgetall"))), "reads/roundtrip")
}
