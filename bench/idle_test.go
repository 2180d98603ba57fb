package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/azure-vote/azure-vote/internal/config"
)

// idleClients is how many keep-alive connections BenchmarkIdleConnections
// opens against the bounded app: far more than its bound, as a careless
// load balancer or a slow-client attack would.
const idleClients = 20_000

// unboundedClients is as many as the app can hold without a bound, for
// comparison: without the bound it needs a file per connection, and the
// usual limit is 20,000 files a process.
const unboundedClients = 15_000

// holders is how many processes share the clients, each within its own
// file limit.
const holders = 2

// BenchmarkIdleConnections opens 20,000 connections to the app on
// loopback, each asking GET /healthz once and then staying open and idle,
// and reports the app's resident memory while they are held; then the same
// with no bound (MAX_CONNECTIONS=0) and 15,000 connections. It also times
// one request of a new client while the others are held. Run it once:
//
//	go test -run '^$' -bench IdleConnections -benchtime 1x ./bench
//
// The clients are held by two helper processes (this test binary again),
// so that no process needs more than 10,000 files.
func BenchmarkIdleConnections(b *testing.B) {
	tmp := b.TempDir()
	app, _, err := buildApp(b.Context(), tmp, false, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct{ limit, clients int }{{config.DefaultMaxConnections, idleClients}, {0, unboundedClients}} {
		name := "max=" + strconv.Itoa(tc.limit)
		if tc.limit == 0 {
			name = "unbounded"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				idleRun(b, app, tmp, tc.limit, tc.clients)
			}
		})
	}
}

func idleRun(b *testing.B, app, tmp string, limit, clients int) {
	ctx := b.Context()
	data, err := os.MkdirTemp(tmp, "data-")
	if err != nil {
		b.Fatal(err)
	}
	var addr string
	srv, _, err := startOnFreePort(func(port int) (*proc, error) {
		addr = "127.0.0.1:" + strconv.Itoa(port)
		return startServing(ctx, "app", app, nil, serverEnv("PORT="+strconv.Itoa(port), "DATA_DIR="+data,
			"MAX_CONNECTIONS="+strconv.Itoa(limit)), filepath.Join(data, "app.log"), "http://"+addr)
	})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := srv.stop(); err != nil {
			b.Error(err)
		}
	}()
	before, err := srv.memory()
	if err != nil {
		b.Fatal(err)
	}

	start := time.Now()
	var hs []*holder
	defer func() {
		for _, h := range hs {
			h.stop()
		}
	}()
	for range holders {
		h, err := startHolder(addr, clients/holders)
		if err != nil {
			b.Fatal(err)
		}
		hs = append(hs, h)
	}
	var answered, failed int
	for _, h := range hs {
		a, f, err := h.opened()
		if err != nil {
			b.Fatal(err)
		}
		answered, failed = answered+a, failed+f
	}
	opened := time.Since(start)
	time.Sleep(time.Second) // let the app settle with what it holds

	// A new client while the others are held.
	t0 := time.Now()
	c, err := askOnce(addr)
	fresh := time.Since(t0)
	if err != nil {
		b.Errorf("a new client while %d are held: %v", answered, err)
	} else {
		c.Close()
	}
	after, err := srv.memory()
	if err != nil {
		b.Fatal(err)
	}
	var open int
	for _, h := range hs {
		n, err := h.stillOpen()
		if err != nil {
			b.Fatal(err)
		}
		open += n
	}
	rss := after.RssAnon + after.RssFile
	b.ReportMetric(float64(before.RssAnon+before.RssFile)/1e6, "MB-rss-before")
	b.ReportMetric(float64(rss)/1e6, "MB-rss-held")
	b.ReportMetric(float64(after.PeakRSS)/1e6, "MB-peak")
	b.ReportMetric(float64(answered), "answered")
	b.ReportMetric(float64(failed), "failed")
	b.ReportMetric(float64(open), "kept-open")
	b.ReportMetric(float64(fresh)/float64(time.Millisecond), "ms-new-client")
	b.Logf("MAX_CONNECTIONS=%d: %d clients in %v, %d answered, %d failed, %d kept open by the app; RSS %.1f MB before, %.1f MB held (peak %.1f MB); a new client waited %v",
		limit, clients, opened.Round(time.Millisecond), answered, failed, open,
		float64(before.RssAnon+before.RssFile)/1e6, float64(rss)/1e6, float64(after.PeakRSS)/1e6, fresh.Round(time.Microsecond))
	if failed > 0 {
		b.Errorf("%d clients got no answer", failed)
	}
}

// holder is a helper process holding idle connections to the app.
type holder struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	ended chan struct{}
}

const holderEnv = "BENCH_IDLE_HOLD" // addr,count

func startHolder(addr string, n int) (*holder, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-test.run=^TestIdleHolder$")
	cmd.Env = append(os.Environ(), holderEnv+"="+addr+","+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = sysProcAttr()
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h := &holder{cmd: cmd, in: in, out: bufio.NewScanner(out), ended: make(chan struct{})}
	return h, nil
}

// opened waits until the holder has opened its connections.
func (h *holder) opened() (answered, failed int, err error) {
	if !h.out.Scan() {
		return 0, 0, fmt.Errorf("holder: %v", h.out.Err())
	}
	_, err = fmt.Sscanf(h.out.Text(), "answered %d failed %d", &answered, &failed)
	return answered, failed, err
}

// stillOpen asks how many of its connections the app has not closed.
func (h *holder) stillOpen() (open int, err error) {
	if _, err := io.WriteString(h.in, "count\n"); err != nil {
		return 0, err
	}
	if !h.out.Scan() {
		return 0, fmt.Errorf("holder: %v", h.out.Err())
	}
	_, err = fmt.Sscanf(h.out.Text(), "open %d", &open)
	return open, err
}

func (h *holder) stop() {
	h.in.Close() // the holder closes its connections and exits
	_ = h.cmd.Wait()
}

// TestIdleHolder is the helper process of BenchmarkIdleConnections: it
// opens its connections, says how many were answered, counts those still
// open when asked, and ends when its input does.
func TestIdleHolder(t *testing.T) {
	spec := os.Getenv(holderEnv)
	if spec == "" {
		t.Skip("a helper process of BenchmarkIdleConnections")
	}
	addr, count, _ := strings.Cut(spec, ",")
	n, err := strconv.Atoi(count)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]net.Conn, n)
	var answered, failed atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	// 128 clients at a time dial, ask and keep their connection, so the
	// accept queue never overflows and every client gets an answer.
	for range 128 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				c, err := askOnce(addr)
				if err != nil {
					failed.Add(1)
					continue
				}
				answered.Add(1)
				conns[i] = c
			}
		})
	}
	wg.Wait()
	fmt.Printf("answered %d failed %d\n", answered.Load(), failed.Load())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		open := 0
		for _, c := range conns {
			if c != nil && !endedByServer(c) {
				open++
			}
		}
		fmt.Printf("open %d\n", open)
	}
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// askOnce opens a connection, asks GET /healthz and returns the connection,
// kept alive, once the answer is read.
func askOnce(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, fmt.Errorf("GET /healthz: %s", resp.Status)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// endedByServer reports whether the app has closed c.
func endedByServer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
	var one [1]byte
	_, err := c.Read(one[:])
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}
