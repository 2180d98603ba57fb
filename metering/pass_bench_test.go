package metering_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/emulator"
	"github.com/azure-vote/azure-vote/store"
	"github.com/azure-vote/azure-vote/store/redistest"
)

// BenchmarkReporterPass measures one reporting pass against the emulator
// over real HTTP, on each store: "hour" is the hourly job's usual pass (one
// closed hour to send), "day" a catch-up after a day without reporting (23
// closed hours in the service's window, sent in one batch). Every
// iteration reports hours that were never sent, so each pass does the whole
// work: read the ledger, take the lock, send, record every answer.
func BenchmarkReporterPass(b *testing.B) {
	for _, kind := range []string{"redis", "bolt"} {
		for _, sc := range []struct {
			name  string
			hours int
		}{{"hour", 1}, {"day", 23}} {
			b.Run(kind+"/"+sc.name, func(b *testing.B) { benchmarkPass(b, kind, sc.hours) })
		}
	}
}

func benchmarkPass(b *testing.B, kind string, hours int) {
	c := &clock{t: start}
	opts := store.Options{Dimension: dim, Now: c.Now}
	var st testStore
	if kind == "redis" {
		ro, err := store.ParseRedisAddr(redistest.Start(b).Addr(), "")
		if err != nil {
			b.Fatal(err)
		}
		st = store.NewRedis(ro, opts)
	} else {
		bs, err := store.OpenBolt(b.TempDir(), opts)
		if err != nil {
			b.Fatal(err)
		}
		st = bs
	}
	b.Cleanup(func() { st.Close() })
	emu := emulator.New(emulator.Options{Plans: map[string][]string{plan: {dim}}, Resources: []string{resource}, Now: c.Now})
	srv := httptest.NewServer(emu)
	b.Cleanup(srv.Close)
	client, err := metering.NewClient(srv.URL+"/api", metering.StaticToken("bench-token"), &metering.ClientOptions{
		ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1, TryTimeout: 5 * time.Second}},
	})
	if err != nil {
		b.Fatal(err)
	}
	r := metering.NewReporter(metering.ReporterOptions{
		Ledger: st, Sender: client, Resource: resource, PlanID: plan, Dimension: dim,
		Grace: 5 * time.Minute, Now: c.Now,
	})

	ctx := context.Background()
	from := start
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		// The next hours of votes, then the clock past their close.
		for h := range hours {
			if _, err := st.Vote(ctx, "Cats", from.Add(time.Duration(h)*time.Hour+time.Minute)); err != nil {
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
