package web

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// requestLines are the request log's lines, in order.
func requestLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == "request" {
			lines = append(lines, m)
		}
	}
	return lines
}

func TestRequestIDs(t *testing.T) {
	f := newFixture(t, boltStore(t), defaultPage)
	long := strings.Repeat("x", maxRequestIDLen+1)
	for _, id := range []string{"", "from-the-proxy-42", long, "two words", ""} {
		h := map[string]string{}
		if id != "" {
			h["X-Request-Id"] = id
		}
		if code, _, _ := f.do("GET", "/healthz", nil, h); code != 200 {
			t.Fatalf("GET /healthz = %d", code)
		}
	}
	lines := requestLines(t, f.logs.String())
	if len(lines) != 5 {
		t.Fatalf("%d request lines, want 5:\n%s", len(lines), f.logs)
	}
	ids := make([]string, len(lines))
	for i, l := range lines {
		ids[i], _ = l["request_id"].(string)
	}
	if ids[1] != "from-the-proxy-42" {
		t.Errorf("the proxy's id was not kept: %q", ids[1])
	}
	made := regexp.MustCompile(`^[A-Z2-7]{10}-[0-9]+$`)
	seen := map[string]bool{}
	for _, i := range []int{0, 2, 3, 4} { // none, too long, not printable: a new id
		if !made.MatchString(ids[i]) || seen[ids[i]] {
			t.Errorf("request %d: id %q, want a new one", i, ids[i])
		}
		seen[ids[i]] = true
	}
	if l := lines[0]; l["status"] != 200.0 || l["bytes"] != 3.0 || l["path"] != "/healthz" || l["method"] != "GET" {
		t.Errorf("request line %v", l)
	}
}

// The line records the final status, not an informational one, and the
// wrapper leaves the connection's Flush reachable.
func TestRequestLineStatusAndFlush(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{log: slog.New(slog.NewJSONHandler(&logs, nil)), requestIDs: newRequestIDs()}
	h := s.trackRequests(true)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</static/style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusCreated)
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the wrapper: %v", err)
		}
		_, _ = w.Write([]byte("made"))
		if requestID(w) == "" {
			t.Error("no request id through the handler's writer")
		}
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest("PUT", srv.URL+"/thing", nil)
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated || string(body) != "made" {
		t.Errorf("answer %d %q", res.StatusCode, body)
	}
	srv.Close() // the line is written by the time the server has stopped
	lines := requestLines(t, logs.String())
	if len(lines) != 1 || lines[0]["status"] != 201.0 || lines[0]["bytes"] != 4.0 {
		t.Errorf("request lines %v", lines)
	}
}

// What is logged while serving a request carries the request line's id.
func TestPanicLogCarriesRequestID(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{log: slog.New(slog.NewJSONHandler(&logs, nil)), requestIDs: newRequestIDs()}
	h := s.trackRequests(true)(s.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("broken handler")
	})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", rec.Code)
	}
	var panicID, requestLineID string
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		id, _ := m["request_id"].(string)
		switch m["msg"] {
		case "panic":
			panicID = id
		case "request":
			requestLineID = id
		}
	}
	if panicID == "" || panicID != requestLineID {
		t.Errorf("panic logged with id %q, request line %q:\n%s", panicID, requestLineID, logs.String())
	}
}

// A method of the client's invention is counted as "other": clients cannot
// add series to the request histogram.
func TestMetricsMethodLabelIsBounded(t *testing.T) {
	f := newFixture(t, boltStore(t), defaultPage)
	for _, m := range []string{"BREW", "WHEN", "GET"} {
		f.do(m, "/", nil, nil)
	}
	_, body, _ := f.do("GET", "/metrics", nil, nil)
	if !strings.Contains(body, `azure_vote_http_request_duration_seconds_count{code="405",method="other",route="unmatched"} 2`) ||
		strings.Contains(body, "BREW") || !strings.Contains(body, `method="GET",route="/"} 1`) {
		t.Errorf("request series:\n%s", grepLines(body, "http_request_duration_seconds_count"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
