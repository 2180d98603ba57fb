package web_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/azure-vote/azure-vote/internal/store"
	"github.com/azure-vote/azure-vote/metering/redisledger/redistest"
	"github.com/azure-vote/azure-vote/web"
)

// benchStore is a real store, as the app opens it.
type benchStore interface {
	web.VoteStore
	Close() error
}

// benchStores opens each real store the app can run on.
var benchStores = []struct {
	name string
	open func(b *testing.B) benchStore
}{
	{"bolt", func(b *testing.B) benchStore {
		st, err := store.OpenBolt(b.TempDir(), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		return st
	}},
	{"redis", func(b *testing.B) benchStore {
		ro, err := store.ParseRedisAddr(redistest.Start(b).Addr(), "")
		if err != nil {
			b.Fatal(err)
		}
		return store.NewRedis(ro, store.Options{})
	}},
}

// benchHandler is the app's whole handler as main builds it: router,
// middleware, metrics, and a JSON request log at the given level (to
// io.Discard, so the encoding is measured but not the write).
func benchHandler(b *testing.B, st web.VoteStore, logLevel slog.Level) http.Handler {
	b.Helper()
	srv, err := web.NewServer(web.Options{
		Page:    web.Page{Title: "Azure Voting Custom App", Vote1: "Cats", Vote2: "Dogs", GetValue: "Get last one day usage"},
		Store:   st,
		Assets:  os.DirFS(".."),
		Logger:  slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: logLevel})),
		Metrics: web.NewMetrics(prometheus.NewRegistry()),
	})
	if err != nil {
		b.Fatal(err)
	}
	return srv.Handler()
}

// benchRequests serves one request per iteration from parallel goroutines,
// as concurrent connections would, and fails on any answer but 200.
func benchRequests(b *testing.B, h http.Handler, newReq func(i int) *http.Request) {
	b.Helper()
	b.ReportAllocs()
	b.SetParallelism(8) // goroutines per CPU: the bench's 16 connections on 2 cores
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, newReq(i))
			if w.Code != http.StatusOK {
				b.Errorf("status %d: %s", w.Code, w.Body.String())
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

func voteRequest(i int) *http.Request {
	form := "vote=Cats"
	if i%2 == 1 {
		form = "vote=Dogs"
	}
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func pageRequest(int) *http.Request { return httptest.NewRequest(http.MethodGet, "/", nil) }

// BenchmarkVoteHandler is a vote through the whole handler into a real
// store: what the load bench's POST / costs without the network.
func BenchmarkVoteHandler(b *testing.B) {
	for _, s := range benchStores {
		b.Run(s.name, func(b *testing.B) {
			st := s.open(b)
			b.Cleanup(func() { st.Close() })
			benchRequests(b, benchHandler(b, st, slog.LevelInfo), voteRequest)
		})
	}
}

// BenchmarkIndexPage renders the vote page with the counts of a real store,
// with the request log on (as deployed) and off, to show what it costs.
func BenchmarkIndexPage(b *testing.B) {
	for _, s := range benchStores {
		for _, lv := range []struct {
			name  string
			level slog.Level
		}{{"log=info", slog.LevelInfo}, {"log=warn", slog.LevelWarn}} {
			b.Run(s.name+"/"+lv.name, func(b *testing.B) {
				st := s.open(b)
				b.Cleanup(func() { st.Close() })
				for _, c := range []string{"Cats", "Dogs", "Cats"} {
					if _, _, err := st.VoteOnce(context.Background(), c, "", time.Now()); err != nil {
						b.Fatal(err)
					}
				}
				benchRequests(b, benchHandler(b, st, lv.level), pageRequest)
			})
		}
	}
}

// BenchmarkVoteRedisDown is a vote while Redis is gone: how long a voter
// waits for the 503 that says the vote could not be confirmed. Two cases: nothing
// listens on the port (refused at once), and a listener that accepts and
// never answers (the read timeout and the request's store timeout, at most
// two seconds, end the wait).
func BenchmarkVoteRedisDown(b *testing.B) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { silent.Close() })
	go func() {
		var held []net.Conn // accepted and never answered
		for {
			c, err := silent.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	stopped := redistest.Start(b)
	stopped.Stop()
	for _, tc := range []struct{ name, addr string }{
		{"refused", stopped.Addr()},
		{"silent", silent.Addr().String()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ro, err := store.ParseRedisAddr(tc.addr, "")
			if err != nil {
				b.Fatal(err)
			}
			st := store.NewRedis(ro, store.Options{})
			b.Cleanup(func() { st.Close() })
			h := benchHandler(b, st, slog.LevelWarn)
			var worst time.Duration
			for i := 0; b.Loop(); i++ {
				began := time.Now()
				w := httptest.NewRecorder()
				h.ServeHTTP(w, voteRequest(i))
				worst = max(worst, time.Since(began))
				if w.Code != http.StatusServiceUnavailable {
					b.Fatalf("status %d with Redis down: %s", w.Code, w.Body.String())
				}
			}
			b.ReportMetric(worst.Seconds(), "worst-s")
		})
	}
}
