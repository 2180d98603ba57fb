package metering_test

import (
	"context"
	"testing"
	"time"
)

// BenchmarkReporterPass measures one reporting pass against the emulator
// over real HTTP, on each store: "hour" is the hourly job's usual pass (one
// closed hour to send), "day" a catch-up after a day without reporting (23
// closed hours in the service's window, sent in one batch). Every
// iteration reports hours that were never sent, so each pass does the whole
// work: read the ledger, take the lock, send, record every answer.
func BenchmarkReporterPass(b *testing.B) {
	for _, kind := range storeKinds {
		for _, sc := range []struct {
			name  string
			hours int
		}{{"hour", 1}, {"day", 23}} {
			b.Run(kind+"/"+sc.name, func(b *testing.B) { benchmarkPass(b, kind, sc.hours) })
		}
	}
}

func benchmarkPass(b *testing.B, kind string, hours int) {
	w := newWorld(b, kind)
	c := w.clock
	r := w.reporter(w.store)

	ctx := context.Background()
	from := start
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		// The next hours of votes, then the clock past their close.
		for h := range hours {
			if err := w.count(from.Add(time.Duration(h)*time.Hour+time.Minute), 1); err != nil {
				b.Fatal(err)
			}
		}
		from = from.Add(time.Duration(hours) * time.Hour)
		c.Set(from.Add(10 * time.Minute))
		b.StartTimer()

		res, err := r.Pass(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if res.Accepted != hours || res.Failed != 0 || res.Pending != 0 {
			b.Fatalf("pass at %s: %+v, want %d accepted", c.Now(), res, hours)
		}
	}
	b.ReportMetric(float64(hours), "hours/op")
}
