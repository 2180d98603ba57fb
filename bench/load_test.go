package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ten := make([]time.Duration, 10)
	for i := range ten {
		ten[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", []time.Duration{7}, 0.99, 7},
		{"median of ten", ten, 0.5, 5 * time.Millisecond},
		{"p90 of ten is the 9th", ten, 0.9, 9 * time.Millisecond},
		{"p99 of ten is the max", ten, 0.99, 10 * time.Millisecond},
		{"max", ten, 1, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.q); got != tt.want {
				t.Fatalf("percentile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func TestCheckLoopback(t *testing.T) {
	for _, target := range []string{"http://127.0.0.1:8080/", "http://127.0.0.1/x"} {
		if err := checkLoopback(target); err != nil {
			t.Errorf("%s refused: %v", target, err)
		}
	}
	for _, target := range []string{"http://localhost:8080/", "http://10.0.0.1/", "https://127.0.0.1/", "http://example.com/", "::"} {
		if err := checkLoopback(target); err == nil {
			t.Errorf("%s allowed", target)
		}
	}
}

// A server that answers every third request 503: the run counts both, and
// never has more requests in flight than connections.
func TestRunLoadCountsAndBoundsConcurrency(t *testing.T) {
	var inFlight, peak, served atomic.Int64
	var forms formCounts
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		forms.add(r.PostFormValue("vote"))
		time.Sleep(100 * time.Microsecond)
		if served.Add(1)%3 == 0 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()

	res, err := runLoad(t.Context(), loadSpec{
		URL: srv.URL + "/", Method: http.MethodPost, Forms: voteForms(),
		Concurrency: 4, Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	total := res.OKTotal + res.ErrorsTotal
	if total != served.Load() {
		t.Fatalf("%d requests counted, %d served", total, served.Load())
	}
	if res.OK == 0 || res.Errors == 0 || res.OK+res.Errors >= total {
		t.Fatalf("measured %d ok + %d errors of %d: the warm-up must be left out, both kinds counted", res.OK, res.Errors, total)
	}
	if got := int64(len(res.Latencies)); got != res.OK+res.Errors {
		t.Fatalf("%d latencies for %d measured requests", got, res.OK+res.Errors)
	}
	if p := peak.Load(); p > 4 {
		t.Fatalf("%d requests in flight with 4 connections", p)
	}
	if !strings.Contains(res.FirstError, "503") {
		t.Fatalf("first error %q", res.FirstError)
	}
	if res.Elapsed < 200*time.Millisecond || res.Elapsed > 2*time.Second {
		t.Fatalf("measured window %v", res.Elapsed)
	}
	if forms.get(vote1) == 0 || forms.get(vote2) == 0 {
		t.Fatalf("votes sent: %d %s, %d %s", forms.get(vote1), vote1, forms.get(vote2), vote2)
	}
}

func TestRunLoadStopsAtMaxRequests(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { served.Add(1) }))
	defer srv.Close()
	res, err := runLoad(t.Context(), loadSpec{
		URL: srv.URL + "/", Method: http.MethodGet, Concurrency: 3, Duration: time.Minute, MaxRequests: 50,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.OKTotal != 50 || served.Load() != 50 {
		t.Fatalf("%d ok, %d served, want 50", res.OKTotal, served.Load())
	}
}

func TestRunLoadRefusesOtherHosts(t *testing.T) {
	_, err := runLoad(t.Context(), loadSpec{URL: "http://example.com/", Method: http.MethodGet, Concurrency: 1, Duration: time.Second})
	if err == nil {
		t.Fatal("a load run against another host started")
	}
}

// formCounts counts the form values a test server saw.
type formCounts struct {
	mu sync.Mutex
	m  map[string]int
}

func (f *formCounts) add(v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]int{}
	}
	f.m[v]++
}

func (f *formCounts) get(v string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[v]
}
