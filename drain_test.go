package main

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// /metrics is served on the private port only: the public one is what the
// LoadBalancer Service exposes.
func TestMetricsOnPrivatePortOnly(t *testing.T) {
	m, _ := startMain(t, map[string]string{})
	if code, _ := get(t, m.URL()+"/metrics"); code != http.StatusNotFound {
		t.Errorf("public /metrics = %d, want 404", code)
	}
	code, body := get(t, m.PrivateURL()+"/metrics")
	if code != 200 || !strings.Contains(body, "azure_vote_http_request_duration_seconds") {
		t.Errorf("private /metrics = %d %.100q", code, body)
	}
	if code, _ := get(t, m.URL()+"/usage"); code != 200 {
		t.Errorf("public /usage = %d, want 200 (USAGE_PAGE defaults to public)", code)
	}

	private, _ := startMain(t, map[string]string{"USAGE_PAGE": "private"})
	if code, _ := get(t, private.URL()+"/api/usage"); code != http.StatusNotFound {
		t.Errorf("USAGE_PAGE=private: public /api/usage = %d, want 404", code)
	}
	if code, _ := get(t, private.PrivateURL()+"/api/usage"); code != 200 {
		t.Errorf("USAGE_PAGE=private: private /api/usage = %d, want 200", code)
	}
}

// On SIGTERM (the end of serve's context) readiness fails first, requests
// are still served for SHUTDOWN_DRAIN, and only then does the listener
// close.
func TestSignalDrainsBeforeStopping(t *testing.T) {
	const drain = 1500 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	port := strconv.Itoa(freePort(t))
	env := map[string]string{
		"DATA_DIR": t.TempDir(), "PORT": port, "METRICS_PORT": strconv.Itoa(freePort(t)),
		"SHUTDOWN_DRAIN": drain.String(),
	}
	base := "http://127.0.0.1:" + port
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, logs) }()
	waitFor(t, "readiness", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})

	cancel()
	stopped := time.Now()
	waitFor(t, "readiness to fail", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatalf("refused while draining: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	// Until the drain ends, votes still count, on new connections too.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	votes := 0
	for time.Since(stopped) < drain*2/3 {
		resp, err := client.PostForm(base+"/", url.Values{"vote": {"Cats"}})
		if err != nil {
			t.Fatalf("vote %d, %s after the signal: %v", votes+1, time.Since(stopped), err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("vote %d while draining = %d", votes+1, resp.StatusCode)
		}
		votes++
		time.Sleep(50 * time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(stopped); took < drain {
		t.Errorf("stopped %s after the signal, before the %s drain ended", took, drain)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("still listening after serve returned")
	}
	if votes == 0 || !strings.Contains(logs.String(), `"msg":"draining"`) {
		t.Errorf("%d votes during the drain; logs:\n%s", votes, logs)
	}
}
