package store

import (
	"testing"
	"time"

	"github.com/azure-vote/azure-vote/store/redistest"
)

// BenchmarkVote measures durable votes per second with many concurrent
// voters, as a busy web front would cast them.
func BenchmarkVote(b *testing.B) {
	b.Run("redis", func(b *testing.B) {
		benchmarkVote(b, openRedis(b, redistest.Start(b), Options{}))
	})
	b.Run("bolt", func(b *testing.B) {
		benchmarkVote(b, openBolt(b, b.TempDir(), Options{}))
	})
}

func benchmarkVote(b *testing.B, s Store) {
	ctx := b.Context()
	choices := []string{"Cats", "Dogs"}
	b.SetParallelism(16) // goroutines per CPU: concurrent requests
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if _, err := s.Vote(ctx, choices[i%2], time.Now()); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "votes/s")
}
