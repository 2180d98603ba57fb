package web

import (
	"bytes"
	"context"
	"encoding/json"
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

	"github.com/azure-vote/azure-vote/internal/store"
	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/redisledger/redistest"
	"github.com/azure-vote/azure-vote/metering/usage"
)

// testStore is a real store: the vote side the server uses and the ledger
// side the tests read usage from.
type testStore interface {
	VoteStore
	metering.Ledger
}

var testNow = time.Date(2026, 11, 22, 8, 30, 0, 0, time.UTC)

type fixture struct {
	t      *testing.T
	srv    *httptest.Server
	store  testStore
	logs   *bytes.Buffer
	client *http.Client
}

func newFixture(t *testing.T, st testStore, page Page) *fixture {
	t.Helper()
	return newFixtureOpts(t, Options{Page: page, Store: st})
}

// newFixtureOpts serves o, with the fixture's usage, assets, log, metrics
// and clock; o.Store must be a testStore.
func newFixtureOpts(t *testing.T, o Options) *fixture {
	t.Helper()
	if o.Page == (Page{}) {
		o.Page = defaultPage
	}
	st := o.Store.(testStore)
	logs := &bytes.Buffer{}
	o.Usage = staticUsage{Usage{Mode: "local", Detail: "emulator at <http://127.0.0.1:1/api>", Report: usage.Report{Dimension: "pervote"}}}
	o.Assets = os.DirFS("..")
	o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	o.Metrics = NewMetrics(prometheus.NewRegistry())
	o.Now = func() time.Time { return testNow }
	s, err := NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(bothPorts(s))
	t.Cleanup(srv.Close)
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &fixture{t: t, srv: srv, store: st, logs: logs, client: client}
}

func boltStore(t *testing.T) testStore {
	t.Helper()
	st, err := store.OpenBolt(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var defaultPage = Page{Title: "Azure Voting Custom App", Vote1: "Cats", Vote2: "Dogs", GetValue: "Get last one day usage", Dimension: "pervote"}

type staticUsage struct{ u Usage }

func (s staticUsage) Usage(context.Context, time.Time) (Usage, error) { return s.u, nil }

func (f *fixture) do(method, path string, form url.Values, header map[string]string) (int, string, http.Header) {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func (f *fixture) vote(v string) (int, string) {
	f.t.Helper()
	code, body, _ := f.do("POST", "/", url.Values{"vote": {v}}, nil)
	return code, body
}

// usage is the total of the usage counters: what billing will read.
func (f *fixture) usage() float64 {
	f.t.Helper()
	recs, err := f.store.Records(context.Background(), "pervote")
	if err != nil {
		f.t.Fatal(err)
	}
	var n float64
	for _, r := range recs {
		n += r.Counted
	}
	return n
}

func TestIndexShowsTheForm(t *testing.T) {
	f := newFixture(t, boltStore(t), defaultPage)
	code, body, h := f.do("GET", "/", nil, nil)
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", code, h.Get("Content-Type"))
	}
	for _, want := range []string{
		"<title>Azure Voting Custom App</title>",
		`<button name="vote" value="Cats" class="button button1">Cats</button>`,
		`<button name="vote" value="Dogs" class="button button2">Dogs</button>`,
		`<button name="vote" value="reset" class="button button3">Reset</button>`,
		`<button name="vote" value="Get last one day usage" class="button button4">Get last one day usage</button>`,
		`<div id="results">Cats - 0 | Dogs - 0</div>`,
		`<form id="form" action="/" method="post">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if code, css, _ := f.do("GET", "/static/style.css", nil, nil); code != 200 || !strings.Contains(css, ".button1") {
		t.Errorf("GET /static/style.css = %d", code)
	}
}

func TestVoteCountsAndBills(t *testing.T) {
	f := newFixture(t, boltStore(t), defaultPage)
	for _, v := range []string{"Cats", "Cats", "Cats", "Dogs"} {
		if code, _ := f.vote(v); code != 200 {
			t.Fatalf("vote %s = %d", v, code)
		}
	}
	code, body := f.vote("Dogs")
	if code != 200 || !strings.Contains(body, `<div id="results">Cats - 3 | Dogs - 2</div>`) {
		t.Fatalf("after votes: %d %s", code, body)
	}
	if got := f.usage(); got != 5 {
		t.Fatalf("usage = %v, want 5", got)
	}
	recs, _ := f.store.Records(context.Background(), "pervote")
	if len(recs) != 1 || !recs[0].Hour.Equal(time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("usage not in the vote's UTC hour: %+v", recs)
	}
}

func TestResetKeepsUsage(t *testing.T) {
	f := newFixture(t, boltStore(t), defaultPage)
	f.vote("Cats")
	f.vote("Dogs")
	code, body := f.vote("reset")
	if code != 200 || !strings.Contains(body, "Cats - 0 | Dogs - 0") {
		t.Fatalf("reset: %d %s", code, body)
	}
	if got := f.usage(); got != 2 {
		t.Fatalf("reset changed usage to %v; usage is money and must stay 2", got)
	}
}

func TestUsageButtonLeadsToUsagePage(t *testing.T) {
	f := newFixture(t, boltStore(t), defaultPage)
	code, _, h := f.do("POST", "/", url.Values{"vote": {"Get last one day usage"}}, nil)
	if code != http.StatusSeeOther || h.Get("Location") != "/usage" {
		t.Fatalf("usage button = %d %s", code, h.Get("Location"))
	}
	if got := f.usage(); got != 0 {
		t.Fatalf("the usage button counted as a vote: usage %v", got)
	}
	code, body, _ := f.do("GET", "/usage", nil, nil)
	if code != 200 || !strings.Contains(body, "Local mode") || !strings.Contains(body, "&lt;http://127.0.0.1:1/api&gt;") {
		t.Fatalf("/usage = %d %s", code, body)
	}
	code, body, h = f.do("GET", "/api/usage", nil, nil)
	var u UsageReport
	if code != 200 || h.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(body), &u) != nil || u.Mode != "local" {
		t.Fatalf("/api/usage = %d %s", code, body)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	f := newFixture(t, boltStore(t), defaultPage)
	big := url.Values{"vote": {strings.Repeat("x", maxFormBytes+1)}}
	for _, tc := range []struct {
		name   string
		form   url.Values
		header map[string]string
		code   int
		msg    string
	}{
		{"missing vote", url.Values{"other": {"1"}}, nil, 400, `missing form field "vote"`},
		{"empty vote", url.Values{"vote": {""}}, nil, 400, `missing form field "vote"`},
		{"unknown choice", url.Values{"vote": {"Birds"}}, nil, 400, `unknown vote "Birds"`},
		{"the billing counter's old key", url.Values{"vote": {"VOTES"}}, nil, 400, "unknown vote"},
		{"a key-shaped value", url.Values{"vote": {"usage:pervote:2026-11-22T08"}}, nil, 400, "unknown vote"},
		{"choice in another case", url.Values{"vote": {"cats"}}, nil, 400, "unknown vote"},
		{"body too large", big, nil, 413, "request body too large"},
		{"cross-site post", url.Values{"vote": {"Cats"}}, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 403, ""},
		{"cross-origin post without fetch metadata", url.Values{"vote": {"Cats"}}, map[string]string{"Origin": "https://evil.example"}, 403, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := f.do("POST", "/", tc.form, tc.header)
			if code != tc.code || !strings.Contains(body, tc.msg) {
				t.Fatalf("= %d %q, want %d %q", code, body, tc.code, tc.msg)
			}
		})
	}
	counts, err := f.store.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 0 || f.usage() != 0 {
		t.Fatalf("bad input changed the store: counts %v usage %v", counts, f.usage())
	}
	// A same-origin post from the browser is fine.
	code, _, _ := f.do("POST", "/", url.Values{"vote": {"Cats"}}, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": f.srv.URL})
	if code != 200 {
		t.Fatalf("same-origin vote = %d", code)
	}
}

func TestMarkupIsEscaped(t *testing.T) {
	page := Page{Title: `<script>alert(1)</script>`, Vote1: `"><b>x</b>`, Vote2: "Dogs & Co", GetValue: "Usage"}
	f := newFixture(t, boltStore(t), page)
	_, body, _ := f.do("GET", "/", nil, nil)
	if strings.Contains(body, "<script>alert") || strings.Contains(body, "<b>x</b>") {
		t.Fatalf("markup not escaped:\n%s", body)
	}
	if !strings.Contains(body, "&lt;script&gt;") || !strings.Contains(body, "Dogs &amp; Co") {
		t.Fatalf("escaped text missing:\n%s", body)
	}
	// The escaped value still votes for that choice.
	if code, body := f.vote(`"><b>x</b>`); code != 200 || !strings.Contains(body, "&lt;b&gt;x&lt;/b&gt; - 1") {
		t.Fatalf("vote for a markup choice = %d %s", code, body)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	f := newFixture(t, boltStore(t), defaultPage)
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body, _ := f.do("GET", p, nil, nil); code != 200 || body != "ok\n" {
			t.Errorf("%s = %d %q", p, code, body)
		}
	}
}

func TestMetricsAndRequestLog(t *testing.T) {
	f := newFixture(t, boltStore(t), defaultPage)
	f.vote("Cats")
	f.vote("nope")
	_, body, _ := f.do("GET", "/metrics", nil, nil)
	for _, want := range []string{
		`azure_vote_votes_total{choice="Cats"} 1`,
		`azure_vote_http_request_duration_seconds_count{code="400",method="POST",route="/"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	var line struct {
		Msg       string `json:"msg"`
		RequestID string `json:"request_id"`
		Method    string `json:"method"`
		Status    int    `json:"status"`
	}
	first, _, _ := strings.Cut(f.logs.String(), "\n")
	if err := json.Unmarshal([]byte(first), &line); err != nil || line.Msg != "request" || line.RequestID == "" || line.Status != 200 {
		t.Fatalf("request log line %q: %+v %v", first, line, err)
	}
}

// With Redis gone a vote answers 503 quickly, unconfirmed; once Redis
// is back the same server counts again, with no restart.
func TestRedisOutage(t *testing.T) {
	rs := redistest.Start(t)
	ro, err := store.ParseRedisAddr(rs.Addr(), "")
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewRedis(ro, store.Options{})
	t.Cleanup(func() { st.Close() })
	f := newFixture(t, st, defaultPage)
	if code, _ := f.vote("Cats"); code != 200 {
		t.Fatalf("vote = %d", code)
	}
	rs.Stop()
	for _, path := range []string{"/", "/readyz"} {
		if code, _, _ := f.do("GET", path, nil, nil); code != 503 {
			t.Errorf("GET %s with Redis down = %d, want 503", path, code)
		}
	}
	code, body := f.vote("Cats")
	if code != 503 || !strings.Contains(body, "could not confirm your vote") {
		t.Fatalf("vote with Redis down = %d %q", code, body)
	}
	if code, _, _ := f.do("GET", "/healthz", nil, nil); code != 200 {
		t.Errorf("liveness failed with Redis down: %d", code)
	}
	rs.Restart()
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body = f.vote("Cats")
		if code == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The test's redis-server keeps nothing on disk, so it came back empty.
	if code != 200 || !strings.Contains(body, "Cats - 1 | Dogs - 0") {
		t.Fatalf("after Redis came back: %d %s", code, body)
	}
	if code, _, _ := f.do("GET", "/readyz", nil, nil); code != 200 {
		t.Errorf("readyz after recovery = %d", code)
	}
}

// deadlineStore is a real store that notes the deadline of each vote.
type deadlineStore struct {
	testStore
	left chan time.Duration
}

func (s deadlineStore) VoteOnce(ctx context.Context, choice, token string, at time.Time) (map[string]int64, bool, error) {
	d, ok := ctx.Deadline()
	if !ok {
		s.left <- -1
	} else {
		s.left <- time.Until(d)
	}
	return s.testStore.VoteOnce(ctx, choice, token, at)
}

// Every vote reaches the store with a deadline short enough that a store
// that never answers still gets the voter a 503 within two seconds
// (BenchmarkVoteRedisDown measures it).
func TestVoteHasAStoreDeadline(t *testing.T) {
	st := deadlineStore{boltStore(t), make(chan time.Duration, 1)}
	f := newFixture(t, st, defaultPage)
	if code, _ := f.vote("Cats"); code != 200 {
		t.Fatalf("vote = %d", code)
	}
	if left := <-st.left; left <= 0 || left > 1500*time.Millisecond {
		t.Fatalf("the store call had %v left, want a deadline of at most 1.5s", left)
	}
}
