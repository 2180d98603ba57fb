package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/usage"
)

// usageFunc is a UsageSource made of a function, for answers a test sets.
type usageFunc func(ctx context.Context, since time.Time) (Usage, error)

func (f usageFunc) Usage(ctx context.Context, since time.Time) (Usage, error) { return f(ctx, since) }

// usageServer serves the app's pages with src as the metering side, at testNow.
func usageServer(t *testing.T, src UsageSource) (*httptest.Server, *Metrics) {
	t.Helper()
	metrics := NewMetrics(prometheus.NewRegistry())
	s, err := NewServer(Options{
		Page:    defaultPage,
		Store:   boltStore(t),
		Usage:   src,
		Assets:  os.DirFS(".."),
		Logger:  slog.New(slog.DiscardHandler),
		Metrics: metrics,
		Now:     func() time.Time { return testNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(bothPorts(s))
	t.Cleanup(srv.Close)
	return srv, metrics
}

func fetch(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func hourAgo(n int) time.Time { return metering.HourOf(testNow).Add(-time.Duration(n) * time.Hour) }

// sample is what a test's usage source knows: how reporting is set up, the
// ledger's hours and the service's answer. Its report is the metering
// kit's, of the window asked for, at testNow.
type sample struct {
	Usage                      // how reporting is set up; Report is computed
	Hours    []metering.Record // the ledger, newest first
	Service  usage.Service
	LastPass time.Time
	Charges  *usage.Charges // set as is: a page renders what it is given
	Earlier  usage.Earlier
}

// sampleUsage is a day of the ledger with every status, newest first, and
// the service's record of it. testNow is 2026-11-22 08:30 UTC.
func sampleUsage() *sample {
	return &sample{
		Usage: Usage{
			Mode: "azure", Detail: "Resource /subscriptions/x, plan basic, endpoint https://example.test/api.",
			Resource: "/subscriptions/x", Plan: "basic",
		},
		Hours: []metering.Record{
			{Hour: hourAgo(0), Counted: 2, CarriedIn: 3, CarriedFrom: hourAgo(4)},
			{Hour: hourAgo(1), State: metering.StatePending, Counted: 4, Attempts: 1,
				LastError: "metering: POST usageEvent: 403 Forbidden (correlation id c-1)", CorrelationID: "c-1"},
			{Hour: hourAgo(2), State: metering.StateAccepted, Counted: 5, Sent: 5, Reported: 5, UsageEventID: "11111111-2222-3333-4444-555555555555", MessageTime: hourAgo(1), Attempts: 1},
			{Hour: hourAgo(3), State: metering.StateMismatch, Counted: 6, Sent: 6, Reported: 9, UsageEventID: "ev-mismatch", Attempts: 1},
			{Hour: hourAgo(4), State: metering.StateDuplicate, Counted: 7, Sent: 7, Reported: 4, CarriedOut: 3, CarriedTo: hourAgo(0), UsageEventID: "ev-dup", Attempts: 1},
			{Hour: hourAgo(10), State: metering.StateAccepted, Counted: 1, Sent: 1, Reported: 1, UsageEventID: "ev-yesterday", Attempts: 1},
			{Hour: hourAgo(30), State: metering.StateExpired, Counted: 8, CarriedOut: 8, CarriedTo: hourAgo(5)},
		},
		LastPass: testNow.Add(-25 * time.Minute),
		Service: usage.Service{FetchedAt: testNow, Records: []metering.UsageRecord{
			{UsageDate: metering.Time{Time: hourAgo(8)}, SubmittedQuantity: 18, ProcessedQuantity: 18, ReconStatus: metering.ReconAccepted},
			{UsageDate: metering.Time{Time: hourAgo(10)}, SubmittedQuantity: 1, ProcessedQuantity: 1, ReconStatus: metering.ReconAccepted},
		}},
	}
}

// at is what the source answers for the window from since.
func (s *sample) at(since time.Time) Usage {
	u := s.Usage
	u.Report = usage.Build(usage.Input{
		Dimension: "pervote", History: s.Hours, Service: s.Service, LastPass: s.LastPass, Since: since, Now: testNow,
	})
	u.Report.Charges, u.Report.Earlier = s.Charges, s.Earlier
	return u
}

// source answers with the sample as it is when asked.
func (s *sample) source() UsageSource {
	return usageFunc(func(_ context.Context, since time.Time) (Usage, error) { return s.at(since), nil })
}

// report is what the page shows of the sample in the window key.
func (s *sample) report(key string) UsageReport {
	win, _ := windowOf(key)
	return newUsageReport(s.at(metering.HourOf(testNow).Add(-time.Duration(win.Hours-1)*time.Hour)), win)
}

func TestChart(t *testing.T) {
	win, _ := windowOf("24h")
	since := hourAgo(23)
	rep := sampleUsage().report("24h")
	c := buildChart(rep.Hours, since, win)
	if c.Width != 240 || len(c.Hours) != 24 {
		t.Fatalf("width %d, %d hours", c.Width, len(c.Hours))
	}
	// Every hour with votes counted in the window has a bar; the hour of
	// 30 hours ago is outside.
	if len(c.Bars) != 6 {
		t.Fatalf("%d bars: %+v", len(c.Bars), c.Bars)
	}
	byHour := map[time.Time]bar{}
	for _, b := range c.Bars {
		byHour[b.Hour] = b
		if b.X < 0 || b.X+b.W > float64(c.Width) || b.Y < 0 || b.Y+b.H != 100 {
			t.Errorf("bar %+v outside the plot", b)
		}
	}
	// The largest count, 7, sets the scale: 8 at the top.
	if b := byHour[hourAgo(4)]; b.Status != usage.StatusDuplicate || b.H != 7.0/8*100 {
		t.Errorf("duplicate hour's bar %+v", b)
	}
	if b := byHour[hourAgo(0)]; b.Status != usage.StatusOpen || b.X != 231.5 {
		t.Errorf("open hour's bar %+v", b)
	}
	if got := strings.Join(c.Ticks, " "); got != "8 4 0" {
		t.Errorf("ticks %s", got)
	}
	// 2026-11-21 09:00 to 2026-11-22 08:00: a label every three hours,
	// the date at midnight, and one day line.
	var labels []string
	for _, h := range c.Hours {
		if h.Text != "" {
			labels = append(labels, h.Text)
		}
	}
	if got := strings.Join(labels, " "); got != "09:00 12:00 15:00 18:00 21:00 Nov 22 03:00 06:00" {
		t.Errorf("labels %s", got)
	}
	if len(c.DayLines) != 1 || c.DayLines[0] != 150 {
		t.Errorf("day lines %v", c.DayLines)
	}
	counts := map[usage.Status]int{}
	for _, l := range c.Legend {
		counts[l.Status] = l.Hours
	}
	// Only the statuses the window has, each with its count of hours.
	if len(c.Legend) != 5 || counts[usage.StatusAccepted] != 2 || counts[usage.StatusFailed] != 1 || counts[usage.StatusOpen] != 1 || counts[usage.StatusCarried] != 0 {
		t.Errorf("legend %+v", c.Legend)
	}

	week, _ := windowOf("7d")
	if c := buildChart(nil, hourAgo(167), week); !c.Empty || len(c.Hours) != 168 || c.Ticks[0] != "2" {
		t.Errorf("empty week: empty %v, %d hours, ticks %v", c.Empty, len(c.Hours), c.Ticks)
	}
}

func TestNiceCeil(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{
		{0, 2}, {1, 2}, {2, 2}, {3, 4}, {5, 6}, {7, 8}, {9, 10}, {10, 10}, {11, 20}, {45, 60}, {1000, 1000}, {1001, 2000},
	} {
		if got := niceCeil(tc.in); got != tc.want {
			t.Errorf("niceCeil(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestFormats(t *testing.T) {
	for _, tc := range []struct {
		in        float64
		qty, cost string
	}{
		{0, "0", "0.00"},
		{3, "3", "3.00"},
		{0.1 + 0.2, "0.3", "0.30"},
		{12.5, "12.5", "12.50"},
		{1234567, "1234567", "1234567.00"},
		{0.0005, "0.0005", "0.0005"},
		{5.32001, "5.32001", "5.32"},
	} {
		if got := formatQty(tc.in); got != tc.qty {
			t.Errorf("formatQty(%v) = %s, want %s", tc.in, got, tc.qty)
		}
		if got := formatMoney(tc.in); got != tc.cost {
			t.Errorf("formatMoney(%v) = %s, want %s", tc.in, got, tc.cost)
		}
	}
}

func TestUsagePage(t *testing.T) {
	u := sampleUsage()
	u.Charges = &usage.Charges{
		Month: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Billed: 120, Unbilled: 13, Quantity: 133,
		Included: 20, Billable: 113, Price: 0.05, Tiers: []usage.Tier{{From: 100, Price: 0.04}}, Amount: 5.32, Source: "service",
	}
	var asked time.Time
	srv, _ := usageServer(t, usageFunc(func(_ context.Context, since time.Time) (Usage, error) {
		asked = since
		return u.at(since), nil
	}))
	code, body, h := fetch(t, srv.URL+"/usage")
	if code != 200 {
		t.Fatalf("/usage = %d %s", code, body)
	}
	if !asked.Equal(hourAgo(23)) {
		t.Errorf("the source was asked for usage since %s", asked)
	}
	for _, want := range []string{
		`<span class="badge">Azure</span> Reporting to Azure Marketplace, plan basic, is failing.`,
		`<section id="attention" class="attention attention-error" role="status">`,
		`<li id="failing">Hours failing or unresolved: <b>1</b></li>`,
		`UTC: metering: POST usageEvent: 403 Forbidden (correlation id c-1)</li>`,
		`<li id="action">What to do: The service refused the identity: check that CLIENT_ID (global.azure.identity.clientId)`,
		`<span class="key key-accepted"><i></i>accepted <small>2 hours</small></span>`,
		`<span class="pill pill-open">open</span>`,
		`<a class="download" href="/api/usage.csv?window=24h" download>Download CSV</a>`,
		`<th>Service status</th>`,
		`Last reporting pass: <time datetime="2026-11-22T08:05:00Z"`,
		`<svg id="chart" class="plot" viewBox="0 0 240 100" preserveAspectRatio="none"`,
		`<rect class="bar bar-accepted" x="211.5" y="37.5" width="7" height="62.5" data-utc="2026-11-22T06:00:00Z"><title>2026-11-22 06:00 UTC: 5 counted, accepted</title></rect>`,
		`<rect class="bar bar-open"`,
		`<rect class="bar bar-failed"`, `<rect class="bar bar-mismatch"`,
		`<a href="/usage?window=24h" class="current" aria-current="page">24 hours</a>`,
		`<td data-label="Usage event" class="id">11111111-2222-3333-4444-555555555555</td>`,
		`<tr class="row-mismatch">`,
		`403 Forbidden (correlation id c-1)`,
		`3 to <time datetime="2026-11-22T08:00:00Z"`, `3 from <time datetime="2026-11-22T04:00:00Z"`,
		`<tr class="recon-unreported">`, `<td data-label="Submitted" class="num">18</td>`,
		`<h2>Estimated charges, November 2026</h2>`, `<dd id="amount">5.32</dd>`,
		`Rate card: 0.05 per unit, 0.04 above 100; the first 20 units of the month are included.`,
		`<script src="/static/localtime.js" defer></script>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/usage lacks %s", want)
		}
	}
	// The correlation id is in the error already: not twice in the ledger
	// (the top line quotes the error once more).
	if strings.Count(body, "c-1") != 2 {
		t.Errorf("correlation id c-1 shown %d times", strings.Count(body, "c-1"))
	}
	// The Content-Security-Policy forbids inline styles and scripts.
	if regexp.MustCompile(`(?i)\sstyle=|<style|<script>|\son[a-z]+=`).MatchString(body) {
		t.Error("the page has inline style or script, which its CSP blocks")
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "style-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	if code, js, _ := fetch(t, srv.URL+"/static/localtime.js"); code != 200 || !strings.Contains(js, "Intl.DateTimeFormat") {
		t.Errorf("GET /static/localtime.js = %d", code)
	}
}

func TestUsagePageStates(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*sample)
		want   []string
		absent []string
	}{
		{"local mode", func(u *sample) { u.Mode, u.Detail = "local", "emulator at http://127.0.0.1:1/api" }, []string{
			`<span class="badge">Local emulator</span> Local mode`,
		}, nil},
		{"paused", func(u *sample) {
			u.Mode, u.Detail = "paused", "EXTENSION_RESOURCE_ID and PLAN_ID must both be set"
			u.Service = usage.Service{Unavailable: u.Detail}
		}, []string{
			`<span class="badge">Paused</span> Reporting paused`,
			`<section id="attention" class="attention attention-error" role="status">`,
			`<li id="action">What to do: EXTENSION_RESOURCE_ID and PLAN_ID must both be set</li>`,
			`<p class="alert" id="recon-unavailable">Reconciliation unavailable: EXTENSION_RESOURCE_ID and PLAN_ID must both be set</p>`,
			`<tr class="recon-unchecked">`,
		}, []string{`id="recon-error"`}},
		{"the service call failed", func(u *sample) {
			u.Service = usage.Service{FetchedAt: testNow, Error: "metering: GET usageEvents: 503 Service Unavailable", CorrelationID: "0f0e0d0c-0000-4000-8000-000000000001"}
		}, []string{
			`id="recon-error">The Metering Service could not be asked: metering: GET usageEvents: 503 Service Unavailable<br>Correlation id <code>0f0e0d0c-0000-4000-8000-000000000001</code>`,
			// The ledger still renders.
			`<td data-label="Usage event" class="id">11111111-2222-3333-4444-555555555555</td>`,
		}, nil},
		{"a difference", func(u *sample) { u.Service.Records[0].SubmittedQuantity = 20 }, []string{
			`<tr class="recon-differs">`, `<td data-label="Difference" class="num">&#43;2</td>`, "the service holds 2 more than the ledger",
		}, nil},
		{"no price", func(u *sample) { u.Charges = nil }, nil, []string{`id="charges"`}},
		{"charges from the ledger alone", func(u *sample) {
			u.Charges = &usage.Charges{Quantity: 4, Billed: 3, Unbilled: 1, Billable: 4, Price: 2, Amount: 8, Source: "ledger"}
		}, []string{"The service's totals are not available: this counts only the hours the ledger holds (3 billed, 1 not reported yet)."}, nil},
		{"an empty ledger", func(u *sample) { u.Hours = nil }, []string{`<p id="empty">`, `<p class="chart-empty">`}, []string{`<table id="ledger"`}},
		{"markup in the detail", func(u *sample) { u.Detail = "<b>x</b>" }, []string{"&lt;b&gt;x&lt;/b&gt;"}, []string{"<b>x</b>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := sampleUsage()
			tc.change(u)
			srv, _ := usageServer(t, u.source())
			code, body, _ := fetch(t, srv.URL+"/usage")
			if code != 200 {
				t.Fatalf("/usage = %d %s", code, body)
			}
			for _, want := range tc.want {
				if !strings.Contains(body, want) {
					t.Errorf("lacks %s", want)
				}
			}
			for _, absent := range tc.absent {
				if strings.Contains(body, absent) {
					t.Errorf("has %s", absent)
				}
			}
		})
	}
}

func TestUsageWindows(t *testing.T) {
	var asked time.Time
	srv, _ := usageServer(t, usageFunc(func(_ context.Context, since time.Time) (Usage, error) {
		asked = since
		return sampleUsage().at(since), nil
	}))
	for _, tc := range []struct {
		query string
		since time.Time
		width string
	}{
		{"", hourAgo(23), `viewBox="0 0 240 100"`},
		{"?window=24h", hourAgo(23), `viewBox="0 0 240 100"`},
		{"?window=48h", hourAgo(47), `viewBox="0 0 480 100"`},
		{"?window=7d", hourAgo(167), `viewBox="0 0 1680 100"`},
	} {
		code, body, _ := fetch(t, srv.URL+"/usage"+tc.query)
		if code != 200 || !asked.Equal(tc.since) || !strings.Contains(body, tc.width) {
			t.Errorf("/usage%s = %d, asked since %s, want %s and %s", tc.query, code, asked, tc.since, tc.width)
		}
	}
	// The hour carried 30 hours ago shows in the 48-hour window.
	if _, body, _ := fetch(t, srv.URL+"/usage?window=48h"); !strings.Contains(body, `bar bar-carried`) {
		t.Error("no carried bar in 48 hours")
	}
	for _, path := range []string{"/usage?window=1y", "/api/usage?window=2d"} {
		code, body, h := fetch(t, srv.URL+path)
		if code != 400 || !strings.Contains(body, "unknown window") || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
			t.Errorf("%s = %d %q", path, code, body)
		}
	}
}

func TestUsageJSON(t *testing.T) {
	srv, _ := usageServer(t, sampleUsage().source())
	code, body, h := fetch(t, srv.URL+"/api/usage?window=48h")
	if code != 200 || h.Get("Content-Type") != "application/json" || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("/api/usage = %d %s %s", code, h.Get("Content-Type"), h.Get("Cache-Control"))
	}
	var rep UsageReport
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Mode != "azure" || rep.Plan != "basic" || rep.Window != "48h" || !rep.Since.Equal(hourAgo(47)) || !rep.GeneratedAt.Equal(testNow) {
		t.Errorf("report %+v", rep)
	}
	if len(rep.Hours) != 7 || rep.Hours[2].UsageEventID != "11111111-2222-3333-4444-555555555555" {
		t.Errorf("hours %+v", rep.Hours)
	}
	// The open hour has a state of its own, never "".
	if h := rep.Hours[0]; h.State != usage.StateOpen || h.Status != usage.StatusOpen || rep.Hours[1].Status != usage.StatusFailed {
		t.Errorf("the open hour: state %q status %q", h.State, h.Status)
	}
	if a := rep.Attention; a.Level != LevelError || a.FailingOrUnresolved != 1 || !strings.Contains(a.LastFailure, "403") {
		t.Errorf("attention %+v", a)
	}
	// 48 hours from 2026-11-20 09:00: three days.
	if len(rep.Reconciliation) != 3 || rep.Reconciliation[2].Submitted != 18 || rep.Reconciliation[2].Status != usage.DayUnreported ||
		rep.Reconciliation[1].Status != usage.DayMatch || rep.Reconciliation[0].Status != usage.DayNoUsage {
		t.Errorf("reconciliation %+v", rep.Reconciliation)
	}
	// Waiting: the failed hour's 4; the open hour's 5 is still counting.
	want := usage.Totals{Counted: 33, Billed: 19, Due: 9, Carried: 11, Mismatches: 1, Failing: 1, Waiting: 4}
	if rep.Totals != want {
		t.Errorf("totals %+v, want %+v", rep.Totals, want)
	}
	// The names scripts read, as the README documents them.
	var raw map[string]any
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"mode", "detail", "dimension", "hours", "lastReport", "service", "window", "since", "totals", "reconciliation", "generatedAt", "attention"} {
		if _, ok := raw[key]; !ok {
			t.Errorf("/api/usage lacks %q", key)
		}
	}
	if _, ok := raw["charges"]; ok {
		t.Error("charges without a price")
	}
}

// A ledger that cannot be read is a 503 on both routes, counted as a store error.
func TestUsageLedgerUnavailable(t *testing.T) {
	srv, _ := usageServer(t, usageFunc(func(context.Context, time.Time) (Usage, error) {
		return Usage{}, errors.New("store: read pervote ledger: connection refused")
	}))
	for _, path := range []string{"/usage", "/api/usage"} {
		code, body, _ := fetch(t, srv.URL+path)
		if code != 503 || !strings.Contains(body, "usage ledger is unavailable") || strings.Contains(body, "connection refused") {
			t.Errorf("%s = %d %q", path, code, body)
		}
	}
	if _, metrics, _ := fetch(t, srv.URL+"/metrics"); !strings.Contains(metrics, "azure_vote_store_errors_total 2") {
		t.Error("the ledger's failures were not counted as store errors")
	}
}

// The source gets a deadline that leaves room for the Metering API call.
func TestUsageSourceDeadline(t *testing.T) {
	var left time.Duration
	srv, _ := usageServer(t, usageFunc(func(ctx context.Context, since time.Time) (Usage, error) {
		d, _ := ctx.Deadline()
		left = time.Until(d)
		return sampleUsage().at(since), nil
	}))
	fetch(t, srv.URL+"/usage")
	if left <= ReconcileTimeout || left > ReconcileTimeout+3*time.Second {
		t.Errorf("the source had %s", left)
	}
}

func TestMeteringMetrics(t *testing.T) {
	srv, m := usageServer(t, sampleUsage().source())
	start := time.Date(2026, 11, 22, 8, 5, 0, 0, time.UTC)
	m.ObservePass(metering.PassResult{Start: start, Duration: 2 * time.Second, Locked: true, Accepted: 3, Duplicate: 1, Mismatch: 1, Carried: 4, Pending: 2})
	m.ObservePass(metering.PassResult{Start: start.Add(time.Hour), Locked: true, Failed: 2, Pending: 3, Unresolved: 1, Resolved: 2})
	m.ObservePass(metering.PassResult{Start: start.Add(2 * time.Hour), Accepted: 99}) // another reporter held the lock
	m.ObserveAPICall("batchUsageEvent", 200, 120*time.Millisecond)
	m.ObserveAPICall("usageEvents", 0, 5*time.Second)
	resp, err := http.PostForm(srv.URL+"/", map[string][]string{"vote": {"Cats"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, body, _ := fetch(t, srv.URL+"/metrics")
	for _, want := range []string{
		`azure_vote_metering_usage_counted_total 1`,
		`azure_vote_metering_reports_total{outcome="accepted"} 3`,
		`azure_vote_metering_reports_total{outcome="failed"} 2`,
		`azure_vote_metering_mismatches_total 1`,
		`azure_vote_metering_carried_quantity_total 4`,
		`azure_vote_metering_pending_hours 3`,
		`azure_vote_metering_unresolved_hours 1`,
		`azure_vote_metering_resolved_hours_total 2`,
		`azure_vote_metering_last_pass_timestamp_seconds 1.7953383e+09`,
		`azure_vote_metering_last_success_timestamp_seconds 1.795334702e+09`,
		`azure_vote_metering_api_request_duration_seconds_count{code="200",operation="batchUsageEvent"} 1`,
		`azure_vote_metering_api_request_duration_seconds_count{code="error",operation="usageEvents"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
