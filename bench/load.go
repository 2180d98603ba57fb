package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// loadSpec is one run of the load generator.
type loadSpec struct {
	URL         string
	Method      string // GET or POST
	Forms       []string
	Concurrency int
	Warmup      time.Duration
	Duration    time.Duration // measured, after the warm-up
	// MaxRequests bounds the whole run, warm-up included, whatever the
	// duration: a very fast server cannot make the run unbounded in memory.
	MaxRequests int64
}

// loadResult is what a run measured. Latencies and the counts without
// "Total" cover the measured window only; the totals include the warm-up,
// for the loss check, which counts every vote acknowledged.
type loadResult struct {
	Elapsed   time.Duration   // measured window: end of warm-up to the last answer
	Latencies []time.Duration // sorted
	OK        int64           // 200 answers
	Errors    int64           // other answers and transport errors
	OKTotal   int64
	// ErrorsTotal are the requests, warm-up included, whose outcome the
	// client cannot know: answered with an error, or not answered at all.
	ErrorsTotal int64
	FirstError  string
}

// requestTimeout bounds one request; far above any latency worth measuring,
// it only keeps a hung server from hanging the run.
const requestTimeout = 10 * time.Second

// worker is the state of one connection's loop; each writes only its own.
type worker struct {
	latencies         []time.Duration
	ok, errs          int64
	okTotal, errTotal int64
	firstErr          error
}

// runLoad drives spec.URL with spec.Concurrency keep-alive connections, each
// sending its next request as soon as the previous one is answered (a closed
// loop), until the duration or the request bound is reached.
func runLoad(ctx context.Context, spec loadSpec) (loadResult, error) {
	if err := checkLoopback(spec.URL); err != nil {
		return loadResult{}, err
	}
	if spec.Concurrency < 1 {
		return loadResult{}, fmt.Errorf("load: concurrency %d: must be at least 1", spec.Concurrency)
	}
	if spec.Method == http.MethodPost && len(spec.Forms) == 0 {
		return loadResult{}, errors.New("load: POST needs at least one form body")
	}
	if spec.MaxRequests <= 0 {
		spec.MaxRequests = 1 << 62
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConns:        spec.Concurrency,
		MaxIdleConnsPerHost: spec.Concurrency,
		MaxConnsPerHost:     spec.Concurrency,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: tr,
		Timeout:   requestTimeout,
		// A redirect is an answer to measure, not to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	forms := make([][]byte, len(spec.Forms))
	for i, f := range spec.Forms {
		forms[i] = []byte(f)
	}

	start := time.Now()
	warmEnd := start.Add(spec.Warmup)
	end := warmEnd.Add(spec.Duration)
	var issued atomic.Int64
	workers := make([]worker, spec.Concurrency)
	// Room for a fast server's answers up front, so that growing the slices
	// does not show up as latency spikes.
	perWorker := min(spec.MaxRequests/int64(spec.Concurrency)+1, 1<<16)
	var wg sync.WaitGroup
	for i := range workers {
		w := &workers[i]
		w.latencies = make([]time.Duration, 0, perWorker)
		wg.Go(func() {
			for n := i; ctx.Err() == nil && issued.Add(1) <= spec.MaxRequests; n++ {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				var body []byte
				if len(forms) > 0 {
					body = forms[n%len(forms)]
				}
				err := do(ctx, client, spec.Method, spec.URL, body)
				d := time.Since(t0)
				measured := !t0.Before(warmEnd)
				if err != nil {
					w.errTotal++
					if w.firstErr == nil {
						w.firstErr = err
					}
				} else {
					w.okTotal++
				}
				if !measured {
					continue
				}
				w.latencies = append(w.latencies, d)
				if err != nil {
					w.errs++
				} else {
					w.ok++
				}
			}
		})
	}
	wg.Wait()
	stop := time.Now()
	if err := ctx.Err(); err != nil {
		return loadResult{}, fmt.Errorf("load: %w", err)
	}

	var res loadResult
	if stop.After(warmEnd) {
		res.Elapsed = stop.Sub(warmEnd)
	}
	total := 0
	for i := range workers {
		total += len(workers[i].latencies)
	}
	res.Latencies = make([]time.Duration, 0, total)
	for i := range workers {
		w := &workers[i]
		res.Latencies = append(res.Latencies, w.latencies...)
		res.OK += w.ok
		res.Errors += w.errs
		res.OKTotal += w.okTotal
		res.ErrorsTotal += w.errTotal
		if res.FirstError == "" && w.firstErr != nil {
			res.FirstError = w.firstErr.Error()
		}
	}
	slices.Sort(res.Latencies)
	return res, nil
}

// do sends one request and reads the whole answer, so that the connection
// goes back to the pool for the next request.
func do(ctx context.Context, c *http.Client, method, target string, form []byte) error {
	var body io.Reader
	if form != nil {
		body = bytes.NewReader(form)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, target, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s", method, target, resp.Status)
	}
	return nil
}

// checkLoopback refuses any target but 127.0.0.1: the generator is a load
// test of this machine's own processes, never of someone else's server.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("load: target %q: %w", raw, err)
	}
	if u.Scheme != "http" || u.Hostname() != "127.0.0.1" {
		return fmt.Errorf("load: target %q: only http://127.0.0.1 is allowed", raw)
	}
	return nil
}

// percentile returns the q-quantile (0 < q <= 1) of sorted by nearest rank.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// The epsilon keeps 0.9*10 from rounding up to rank 10 in floating point.
	rank := int(math.Ceil(q*float64(len(sorted))-1e-9)) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}
