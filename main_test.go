package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azure-vote/azure-vote/internal/store"
	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/emulator"
	"github.com/azure-vote/azure-vote/metering/redisledger/redistest"
	"github.com/azure-vote/azure-vote/metering/usage"
	"github.com/azure-vote/azure-vote/web"
)

// syncBuffer collects logs written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// startMain runs the whole app on a free loopback port, as the binary does.
func startMain(t *testing.T, env map[string]string) (*Main, *syncBuffer) {
	t.Helper()
	if _, ok := env["DATA_DIR"]; !ok && env["REDIS"] == "" {
		env["DATA_DIR"] = t.TempDir()
	}
	logs := &syncBuffer{}
	m, err := NewMain(func(k string) string { return env[k] }, logs)
	if err != nil {
		t.Fatal(err)
	}
	m.Addr, m.MetricsAddr = "127.0.0.1:0", "127.0.0.1:0"
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, logs
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func postVote(t *testing.T, base, v string) (int, string) {
	t.Helper()
	resp, err := http.PostForm(base+"/", url.Values{"vote": {v}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitFor polls cond for up to five seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestFreshMachineRunsLocally(t *testing.T) {
	dir := t.TempDir()
	m, logs := startMain(t, map[string]string{"DATA_DIR": dir})
	if code, body := postVote(t, m.URL(), "Cats"); code != 200 || !strings.Contains(body, "Cats - 1 | Dogs - 0") {
		t.Fatalf("vote = %d", code)
	}
	code, body := get(t, m.URL()+"/usage")
	if code != 200 || !strings.Contains(body, "Local mode") {
		t.Fatalf("/usage = %d %s", code, body)
	}
	if !strings.Contains(logs.String(), `"mode":"local"`) {
		t.Fatalf("the log does not say local mode:\n%s", logs)
	}
	// The embedded store survives a restart.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2, _ := startMain(t, map[string]string{"DATA_DIR": dir})
	if _, body := get(t, m2.URL()+"/"); !strings.Contains(body, "Cats - 1 | Dogs - 0") {
		t.Fatalf("votes lost across a restart:\n%s", body)
	}
}

func TestBadSettingStopsWithOneLine(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"PORT": "eighty"}, `configuration: PORT="eighty": must be a whole number`},
		{map[string]string{"REDIS": "redis://host:port"}, "REDIS"},
		{map[string]string{"METERING_ENDPOINT": "http://10.0.0.1/api"}, "METERING_ENDPOINT"},
	} {
		var stderr bytes.Buffer
		err := run(context.Background(), nil, func(k string) string { return tc.env[k] }, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: err = %v, want one line with %q", tc.env, err, tc.want)
		}
	}
	if err := run(context.Background(), []string{"frobnicate"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Error("an unknown command was accepted")
	}
}

// Redis unreachable at start: the app starts, /readyz says 503, and it
// connects by itself once Redis is there.
func TestRedisLateAtStart(t *testing.T) {
	rs := redistest.Start(t)
	rs.Stop()
	m, _ := startMain(t, map[string]string{"REDIS": rs.Addr()})
	if code, _ := get(t, m.URL()+"/readyz"); code != 503 {
		t.Fatalf("/readyz without Redis = %d", code)
	}
	if code, _ := get(t, m.URL()+"/healthz"); code != 200 {
		t.Fatalf("/healthz without Redis = %d", code)
	}
	if code, body := postVote(t, m.URL(), "Dogs"); code != 503 {
		t.Fatalf("vote without Redis = %d %s", code, body)
	}
	rs.Restart()
	waitFor(t, "readiness", func() bool { code, _ := get(t, m.URL()+"/readyz"); return code == 200 })
	if code, body := postVote(t, m.URL(), "Dogs"); code != 200 || !strings.Contains(body, "Cats - 0 | Dogs - 1") {
		t.Fatalf("vote after Redis came = %d", code)
	}
	if got := rs.Client().HGet(context.Background(), "azure-vote:votes", "Dogs").Val(); got != "1" {
		t.Fatalf("azure-vote:votes Dogs = %q", got)
	}
}

// One start reports every closed hour of the last day exactly once, with its
// own quantity and hour; older hours are carried; a second start sends
// nothing new.
func TestStartReportsPastHoursOnce(t *testing.T) {
	const resource = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg/providers/Microsoft.KubernetesConfiguration/extensions/vote"
	rs := redistest.Start(t)
	emu := emulator.New(emulator.Options{Plans: map[string][]string{"basic": {"pervote"}}, Resources: []string{resource}})
	api := httptest.NewServer(emu)
	defer api.Close()

	// Usage of the past 30 hours, as the app counts it.
	now := time.Now().UTC()
	ro, _ := store.ParseRedisAddr(rs.Addr(), "")
	seed := store.NewRedis(ro, store.Options{})
	want := map[time.Time]float64{}
	var total float64
	for h := 1; h <= 30; h++ {
		at := now.Add(-time.Duration(h) * time.Hour)
		for range h%3 + 1 {
			if _, err := seed.Vote(context.Background(), "Cats", at); err != nil {
				t.Fatal(err)
			}
		}
		want[metering.HourOf(at)] = float64(h%3 + 1)
		total += float64(h%3 + 1)
	}
	seed.Close()

	env := map[string]string{
		"REDIS": rs.Addr(), "METERING_ENDPOINT": api.URL + "/api",
		"EXTENSION_RESOURCE_ID": resource, "PLAN_ID": "basic", "CLIENT_ID": "DONOTMODIFY",
	}
	m, logs := startMain(t, env)
	var u web.UsageReport
	waitFor(t, "the pass at start", func() bool {
		_, body := get(t, m.URL()+"/api/usage")
		return json.Unmarshal([]byte(body), &u) == nil && !u.LastReport.IsZero()
	})
	if u.Mode != "azure" || !strings.Contains(u.Detail, resource) {
		t.Fatalf("mode %q %q", u.Mode, u.Detail)
	}
	billed := map[time.Time]float64{}
	for _, e := range emu.Events() {
		billed[e.EffectiveStartTime.Time] = e.Quantity
	}
	var carried float64
	for hour, q := range want {
		switch {
		case hour.Add(time.Hour + 5*time.Minute).After(now): // within the grace
			if _, ok := billed[hour]; ok {
				t.Errorf("hour %s within grace was sent", hour)
			}
		case now.Sub(hour) < metering.Window-10*time.Minute: // inside the window, with the margin
			if billed[hour] != q {
				t.Errorf("hour %s billed %v, counted %v", hour, billed[hour], q)
			}
		default:
			if _, ok := billed[hour]; ok {
				t.Errorf("hour %s past the window was sent", hour)
			}
			carried += q
		}
	}
	var carriedIn float64
	for _, r := range u.Hours {
		carriedIn += r.CarriedIn
	}
	if carried == 0 || carriedIn != carried {
		t.Errorf("carried %v into the open hour, expected %v", carriedIn, carried)
	}
	if !strings.Contains(logs.String(), "usage carried to the open hour") {
		t.Error("carries were not logged")
	}
	sent := len(emu.Events())
	posts := emu.Stats().Count(emulator.EndpointBatchUsageEvent, 200) + emu.Stats().Count(emulator.EndpointUsageEvent, 200)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	m2, _ := startMain(t, env)
	waitFor(t, "the second pass at start", func() bool {
		_, body := get(t, m2.URL()+"/api/usage")
		return json.Unmarshal([]byte(body), &u) == nil && !u.LastReport.IsZero()
	})
	again := emu.Stats().Count(emulator.EndpointBatchUsageEvent, 200) + emu.Stats().Count(emulator.EndpointUsageEvent, 200)
	if len(emu.Events()) != sent || again != posts {
		t.Fatalf("second start sent again: %d events (was %d), %d calls (was %d)", len(emu.Events()), sent, again, posts)
	}
}

// The built-in emulator keeps what it recorded in DATA_DIR, so after a
// restart the usage page still reconciles earlier days with it.
func TestLocalEmulatorKeepsEventsAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	st, err := store.OpenBolt(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Vote(context.Background(), "Cats", time.Now().Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	st.Close()
	env := map[string]string{"DATA_DIR": dir}
	service := func(m *Main) usage.Service {
		var u web.UsageReport
		waitFor(t, "the pass at start and the service's records", func() bool {
			_, body := get(t, m.URL()+"/api/usage")
			return json.Unmarshal([]byte(body), &u) == nil && !u.LastReport.IsZero() && len(u.Service.Records) > 0
		})
		return u.Service
	}
	m, _ := startMain(t, env)
	if svc := service(m); svc.Records[0].SubmittedQuantity != 1 {
		t.Fatalf("service records before the restart: %+v", svc.Records)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2, _ := startMain(t, env)
	svc := service(m2)
	if svc.Records[0].SubmittedQuantity != 1 || strings.Contains(svc.Note, "in memory") {
		t.Fatalf("service records after the restart: %+v (note %q)", svc.Records, svc.Note)
	}
	if _, err := os.Stat(filepath.Join(dir, emulatorStateFile)); err != nil {
		t.Error(err)
	}
}

func TestReportCommand(t *testing.T) {
	emu := emulator.New(emulator.Options{})
	api := httptest.NewServer(emu)
	defer api.Close()
	dir := t.TempDir()
	env := map[string]string{"DATA_DIR": dir, "METERING_ENDPOINT": api.URL + "/api",
		"EXTENSION_RESOURCE_ID": "6f1a2b3c-0000-4000-8000-000000000001", "PLAN_ID": "basic"}
	st, err := store.OpenBolt(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Vote(context.Background(), "Cats", time.Now().Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	st.Close()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"report"}, func(k string) string { return env[k] }, &out); err != nil {
		t.Fatalf("report: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), `"accepted": 1`) {
		t.Fatalf("report printed:\n%s", out.String())
	}
	if evs := emu.Events(); len(evs) != 1 || evs[0].ResourceID != env["EXTENSION_RESOURCE_ID"] || evs[0].ResourceURI != "" {
		t.Fatalf("a GUID resource must go as resourceId: %+v", evs)
	}
	// Local mode has nothing to report to.
	if err := run(context.Background(), []string{"report"}, func(k string) string { return map[string]string{"DATA_DIR": t.TempDir()}[k] }, io.Discard); err == nil {
		t.Fatal("report in local mode succeeded")
	}
}

func TestSettleCommand(t *testing.T) {
	api := httptest.NewServer(emulator.New(emulator.Options{}))
	defer api.Close()
	dir := t.TempDir()
	env := map[string]string{"DATA_DIR": dir, "METERING_ENDPOINT": api.URL + "/api",
		"EXTENSION_RESOURCE_ID": "6f1a2b3c-0000-4000-8000-000000000001", "PLAN_ID": "basic", "USER": "ops"}
	getenv := func(k string) string { return env[k] }
	hour := metering.HourOf(time.Now().Add(-30 * time.Hour))
	st, err := store.OpenBolt(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Vote(context.Background(), "Cats", hour.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	recs, _ := st.Records(context.Background(), store.DefaultDimension)
	rec := recs[0]
	rec.State, rec.Sent, rec.MaybeBilled, rec.Unresolved = metering.StateUnresolved, 1, true, "records processing"
	if _, err := st.Update(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	st.Close()

	for _, bad := range [][]string{
		{"settle"},
		{"settle", "yesterday", "--as", "carry", "--reason", "x"},
		{"settle", hour.Format("2006-01-02T15"), "--as", "carry"},
		{"settle", hour.Format("2006-01-02T15"), "--as", "perhaps", "--reason", "x"},
	} {
		if err := run(context.Background(), bad, getenv, io.Discard); err == nil {
			t.Errorf("%q was taken", bad)
		}
	}
	var out bytes.Buffer
	args := []string{"settle", hour.Format("2006-01-02T15"), "--as", "carry", "--reason", "Partner Center shows nothing that hour"}
	if err := run(context.Background(), args, getenv, &out); err != nil {
		t.Fatalf("settle: %v\n%s", err, out.String())
	}
	for _, want := range []string{`"state": "expired"`, `"carriedOut": 1`, `"resolvedBy": "ops"`, `"resolution": "Partner Center shows nothing that hour"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("settle printed no %s:\n%s", want, out.String())
		}
	}
	if err := run(context.Background(), args, getenv, io.Discard); err == nil || !strings.Contains(err.Error(), "already settled") {
		t.Errorf("settling twice: %v", err)
	}
}

func TestEmulatorCommand(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"emulator", "-addr", addr}, func(string) string { return "" }, io.Discard)
	}()
	client, err := metering.NewClient("http://"+addr+"/api", metering.StaticToken("t"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var res metering.EventResult
	waitFor(t, "the emulator", func() bool {
		res, err = client.SendUsageEvent(context.Background(),
			metering.NewUsageEvent("6f1a2b3c-0000-4000-8000-000000000001", "basic", "pervote", time.Now().Add(-time.Hour), 3))
		return err == nil
	})
	if res.Status != metering.StatusAccepted {
		t.Fatalf("emulator answered %+v", res)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("emulator stopped with %v", err)
	}
	for _, args := range [][]string{{"emulator", "-error-rate", "2"}, {"emulator", "-bogus"}, {"emulator", "-addr", "127.0.0.1:" + strconv.Itoa(-1)}} {
		if err := run(context.Background(), args, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestShowHostPutsTheHostNameInTheTitle(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	m, _ := startMain(t, map[string]string{"SHOWHOST": "true", "TITLE": "Not this"})
	if _, body := get(t, m.URL()+"/"); !strings.Contains(body, "<title>"+host+"</title>") || strings.Contains(body, "Not this") {
		t.Fatalf("title is not the host name %q:\n%s", host, body)
	}
}

// Shutdown drains a request that is in flight: the vote that has started
// is answered and counted.
func TestCloseDrainsInFlightRequests(t *testing.T) {
	m, _ := startMain(t, map[string]string{})
	conn, err := net.Dial("tcp", m.serving.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := "vote=Cats"
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\nvote=", len(body))
	time.Sleep(50 * time.Millisecond) // the server is now reading the body
	closed := make(chan error, 1)
	go func() { closed <- m.Close() }()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-closed:
		t.Fatalf("Close returned before the request finished: %v", err)
	default:
	}
	fmt.Fprint(conn, "Cats")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "Cats - 1") {
		t.Fatalf("in-flight vote = %d %s", resp.StatusCode, b)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

// serve runs until its context ends (SIGTERM in the binary), then shuts down cleanly.
func TestServeStopsOnSignal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	env := map[string]string{"DATA_DIR": t.TempDir(), "PORT": strconv.Itoa(freePort(t)), "METRICS_PORT": strconv.Itoa(freePort(t))}
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, logs) }()
	waitFor(t, "the server", func() bool {
		resp, err := http.Get("http://127.0.0.1:" + env["PORT"] + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "shutting down") {
		t.Fatalf("no shutdown line:\n%s", logs)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
