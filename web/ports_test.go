package web

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/azure-vote/azure-vote/metering/usage"
)

// bothPorts serves the public handler and, for /metrics, the private one
// on one test server, for tests about what they serve, not where.
func bothPorts(s *Server) http.Handler {
	public, private := s.Handler(), s.PrivateHandler()
	// Not a ServeMux: it would clean paths (and redirect) before the
	// public handler sees them.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			private.ServeHTTP(w, r)
			return
		}
		public.ServeHTTP(w, r)
	})
}

// portsServers starts the public and the private handler of one Server.
func portsServers(t *testing.T, usagePrivate bool) (public, private *httptest.Server, s *Server) {
	t.Helper()
	s, err := NewServer(Options{
		Page:         defaultPage,
		Store:        boltStore(t),
		Usage:        staticUsage{Usage{Mode: "local", Detail: "emulator", Report: usage.Report{Dimension: "pervote"}}},
		Assets:       os.DirFS(".."),
		Logger:       slog.New(slog.DiscardHandler),
		Metrics:      NewMetrics(prometheus.NewRegistry()),
		Now:          func() time.Time { return testNow },
		UsagePrivate: usagePrivate,
	})
	if err != nil {
		t.Fatal(err)
	}
	public, private = httptest.NewServer(s.Handler()), httptest.NewServer(s.PrivateHandler())
	t.Cleanup(public.Close)
	t.Cleanup(private.Close)
	return public, private, s
}

func status(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The public port, the one the LoadBalancer exposes, has no /metrics; the
// private port has it, and health, and no vote page.
func TestMetricsOnlyOnPrivatePort(t *testing.T) {
	public, private, _ := portsServers(t, false)
	if code, _ := status(t, public.URL+"/metrics"); code != http.StatusNotFound {
		t.Errorf("public /metrics = %d, want 404", code)
	}
	if code, body := status(t, private.URL+"/metrics"); code != 200 || !strings.Contains(body, "azure_vote_") {
		t.Errorf("private /metrics = %d %.80q", code, body)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _ := status(t, private.URL+p); code != 200 {
			t.Errorf("private %s = %d", p, code)
		}
	}
	if code, _ := status(t, private.URL+"/"); code != http.StatusNotFound {
		t.Errorf("private / = %d, want 404: votes go through the public port", code)
	}
	// Public by default, as in chart 1.x: the usage page and its button.
	for _, p := range []string{"/usage", "/api/usage"} {
		if code, _ := status(t, public.URL+p); code != 200 {
			t.Errorf("public %s = %d, want 200", p, code)
		}
		if code, _ := status(t, private.URL+p); code != http.StatusNotFound {
			t.Errorf("private %s = %d, want 404 while the page is public", p, code)
		}
	}
	if _, body := status(t, public.URL+"/"); !strings.Contains(body, defaultPage.GetValue) {
		t.Error("the vote page lacks its usage button")
	}
}

func TestUsagePagePrivate(t *testing.T) {
	public, private, _ := portsServers(t, true)
	for _, p := range []string{"/usage", "/api/usage"} {
		if code, _ := status(t, public.URL+p); code != http.StatusNotFound {
			t.Errorf("public %s = %d, want 404", p, code)
		}
		if code, _ := status(t, private.URL+p); code != 200 {
			t.Errorf("private %s = %d, want 200", p, code)
		}
	}
	if code, _ := status(t, private.URL+"/static/style.css"); code != 200 {
		t.Errorf("private /static/style.css = %d: the usage page needs its stylesheet", code)
	}
	if _, body := status(t, public.URL+"/"); strings.Contains(body, defaultPage.GetValue) {
		t.Error("the vote page shows a usage button to a page it does not serve")
	}
	resp, err := http.PostForm(public.URL+"/", url.Values{"vote": {""}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("empty vote = %d, want 400", resp.StatusCode)
	}
}

// Drain turns readiness off and nothing else.
func TestDrainFailsReadinessOnly(t *testing.T) {
	public, private, s := portsServers(t, false)
	s.Drain()
	for _, u := range []string{public.URL, private.URL} {
		if code, body := status(t, u+"/readyz"); code != http.StatusServiceUnavailable || body != "shutting down\n" {
			t.Errorf("%s/readyz while draining = %d %q, want 503", u, code, body)
		}
		if code, _ := status(t, u+"/healthz"); code != 200 {
			t.Errorf("%s/healthz while draining = %d: liveness must hold, or the pod is killed", u, code)
		}
	}
	resp, err := http.PostForm(public.URL+"/", url.Values{"vote": {"Cats"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "Cats - 1") {
		t.Errorf("vote while draining = %d, want it counted", resp.StatusCode)
	}
}
