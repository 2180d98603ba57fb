package main

import (
	"context"
	"math"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/azure-vote/azure-vote/internal/store"
	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/emulator"
	"github.com/azure-vote/azure-vote/metering/meteringtest"
	"github.com/azure-vote/azure-vote/metering/usage"
)

// The browser tests drive a real headless Chromium against the whole app on
// a loopback port, as a person would use it, and leave screenshots of the
// pages in artifacts/ for a person to look at.

// artifacts is where screenshots go, at the repository's root.
const artifacts = "artifacts"

// chromiumPath finds the browser; without it the test fails and says how
// to install it, as a skipped test would hide that nothing was checked.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed; install it with: sudo apt-get update && sudo apt-get install -y chromium (make test does this where it can)")
	return ""
}

// browser is one headless Chromium tab and what its pages wrote to the console.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu      sync.Mutex
	console []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx}
	// The first action starts the browser; it has no timeout of its own,
	// as a timeout on it would end the browser with it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			// An error page's status is logged by the browser itself.
			if (m.Type == chromedp.ConsoleError || m.IsException()) && !strings.Contains(m.String(), "the server responded with a status of 4") {
				b.mu.Lock()
				b.console = append(b.console, m.String())
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// do runs actions with a bound, failing the test on error.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// load runs actions that lead to a new page and waits for it: a click on a
// form button, a navigation. It returns the page's HTTP status.
func (b *browser) load(what string, actions ...chromedp.Action[chromedp.Void]) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return resp.Status
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func (b *browser) text(css string) string {
	b.t.Helper()
	return strings.Join(strings.Fields(eval[string](b, `document.querySelector(`+strconv.Quote(css)+`)?.textContent ?? ""`)), " ")
}

func (b *browser) count(css string) int {
	b.t.Helper()
	return eval[int](b, `document.querySelectorAll(`+strconv.Quote(css)+`).length`)
}

// screenshot saves the whole page at a laptop's and at a phone's width.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		b.t.Fatal(err)
	}
	for _, size := range []struct {
		suffix        string
		width, height int64
		opts          []chromedp.EmulateViewportOption
	}{
		{"desktop", 1280, 800, nil},
		{"phone", 390, 844, []chromedp.EmulateViewportOption{chromedp.EmulateScale(2), chromedp.EmulateMobile}},
	} {
		b.do("viewport "+size.suffix, chromedp.EmulateViewport(size.width, size.height, size.opts...))
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			b.t.Fatalf("screenshot %s: %v", name, err)
		}
		// Nothing may stick out sideways: a phone would scroll the page.
		if wide := eval[bool](b, `document.documentElement.scrollWidth > window.innerWidth`); wide {
			b.t.Errorf("%s is wider than a %d px screen", name, size.width)
		}
		path := filepath.Join(artifacts, name+"-"+size.suffix+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
		b.t.Logf("screenshot %s", path)
	}
	b.do("viewport reset", chromedp.EmulateViewport(1280, 800))
}

// noConsoleErrors checks that no page broke a rule of its Content Security
// Policy or threw.
func (b *browser) noConsoleErrors() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.console {
		b.t.Errorf("browser console: %s", m)
	}
}

// startMainAt runs the app as startMain does, on the clock now.
func startMainAt(t *testing.T, env map[string]string, now func() time.Time) *Main {
	t.Helper()
	m, err := NewMain(func(k string) string { return env[k] }, &syncBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	m.Addr, m.MetricsAddr, m.Now = "127.0.0.1:0", "127.0.0.1:0", now
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// passed reports whether a reporting pass that held the lock has ended, as
// /metrics says; the usage page is told of a pass before the metrics are.
func passed(t *testing.T, m *Main) bool {
	_, body := get(t, m.PrivateURL()+"/metrics")
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(line, "azure_vote_metering_last_pass_timestamp_seconds "); ok {
			return strings.TrimSpace(v) != "0"
		}
	}
	return false
}

// quietSchedule runs no pass while a test runs, short of New Year's midnight.
const quietSchedule = "0 0 1 1 *"

var uuidPattern = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// A day of usage in local mode, seen in the browser: votes by clicking,
// reset, the usage button, a reporting pass against the built-in emulator,
// and /usage with the bars, the ledger, the reconciliation and the charges.
func TestBrowserVotingAndUsage(t *testing.T) {
	b := newBrowser(t)
	// The store judges retention by the wall clock, so the app's clock
	// starts near it: at the wall clock's hour, but no later than 19:00
	// UTC, so that the hours seeded below (up to 22 hours back) reach into
	// the day before and the reconciliation has a whole reported day.
	start := metering.HourOf(time.Now())
	if day := start.Truncate(24 * time.Hour); start.Sub(day) > 19*time.Hour {
		start = day.Add(19 * time.Hour)
	}
	clk := meteringtest.NewClock(start.Add(20 * time.Minute))
	t0 := clk.Now()
	dir := t.TempDir()
	env := map[string]string{
		"DATA_DIR": dir, "METERING_PRICE": "0.05", "METERING_INCLUDED": "20", "METERING_TIERS": "100:0.04",
		// Only the pass at start and the test's own: a scheduled one
		// would hold the lock when the test asks for its pass.
		"METERING_SCHEDULE": quietSchedule,
	}

	// Yesterday's usage, reported by the pass at start; an hour of 30
	// hours ago is past the window and carried into the open hour.
	st, err := store.OpenBolt(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	votes := func(at time.Time, n int) {
		for range n {
			if _, err := st.Vote(context.Background(), "Cats", at); err != nil {
				t.Fatal(err)
			}
		}
	}
	for h := 2; h <= 22; h++ {
		if h != 5 && h != 8 {
			votes(t0.Add(-time.Duration(h)*time.Hour), 2+(h*7)%9)
		}
	}
	votes(t0.Add(-30*time.Hour), 4)
	st.Close()

	m := startMainAt(t, env, clk.Now)
	waitFor(t, "the pass at start", func() bool { return passed(t, m) })

	// Two hours the service already holds, as if another reporter had
	// sent them: one with more than the ledger counts (a mismatch), one
	// with less (a duplicate whose shortfall is carried).
	ctx := context.Background()
	for _, h := range []struct {
		ago              time.Duration
		counted, service float64
	}{{5 * time.Hour, 6, 9}, {8 * time.Hour, 7, 4}} {
		for range int(h.counted) {
			if _, _, err := m.store.VoteOnce(ctx, "Dogs", "", t0.Add(-h.ago)); err != nil {
				t.Fatal(err)
			}
		}
		ev := metering.NewUsageEvent(m.metering.resource, m.metering.plan, "pervote", t0.Add(-h.ago), h.service)
		if _, err := m.metering.client.SendUsageEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}

	// Vote by clicking, see the count change, reset. The seeded votes
	// count on the page too, so it starts with a reset.
	b.load("open /", chromedp.Navigate(m.URL()))
	for i, click := range []struct{ button, want string }{
		{"reset", "Cats - 0 | Dogs - 0"},
		{"Cats", "Cats - 1 | Dogs - 0"},
		{"Cats", "Cats - 2 | Dogs - 0"},
		{"Dogs", "Cats - 2 | Dogs - 1"},
	} {
		if code := b.load("click "+click.button, chromedp.Click(chromedp.CSS(`button[value="`+click.button+`"]`))); code != 200 {
			t.Fatalf("click %d answered %d", i, code)
		}
		if got := b.text("#results"); got != click.want {
			t.Fatalf("after clicking %s: %q, want %q", click.button, got, click.want)
		}
	}
	b.screenshot("index")
	b.load("click Reset", chromedp.Click(chromedp.CSS(`button[value="reset"]`)))
	if got := b.text("#results"); got != "Cats - 0 | Dogs - 0" {
		t.Fatalf("after reset: %q", got)
	}

	// The usage button leads to /usage, where the open hour is counting.
	b.load("click the usage button", chromedp.Click(chromedp.CSS(`button.button4`)))
	if loc := eval[string](b, `location.pathname`); loc != "/usage" {
		t.Fatalf("the usage button led to %s", loc)
	}
	if got := b.text("#mode"); !strings.Contains(got, "Local mode") {
		t.Fatalf("mode: %q", got)
	}
	open := metering.HourOf(t0).Format(time.RFC3339)
	if got := eval[string](b, `document.querySelector('rect[data-utc="`+open+`"]')?.getAttribute("class") ?? ""`); got != "bar bar-open" {
		t.Fatalf("the open hour's bar is %q, want an open one", got)
	}

	// An hour and ten minutes later the pass reports the clicked hour and
	// meets the service's two hours.
	clk.Add(70 * time.Minute)
	res, err := m.metering.reporter.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 1 || res.Mismatch != 1 || res.Duplicate != 1 {
		t.Fatalf("pass: %+v", res)
	}

	// A vote in the new hour, then back to /usage.
	b.load("open /", chromedp.Navigate(m.URL()))
	b.load("click Dogs", chromedp.Click(chromedp.CSS(`button[value="Dogs"]`)))
	if got := b.text("#results"); got != "Cats - 0 | Dogs - 1" {
		t.Fatalf("after the pass: %q", got)
	}
	b.load("click the usage button", chromedp.Click(chromedp.CSS(`button.button4`)))
	for _, st := range []string{"accepted", "mismatch", "duplicate", "open"} {
		if b.count("rect.bar-"+st) == 0 {
			t.Errorf("no %s bar in the chart", st)
		}
	}
	if got := eval[string](b, `document.querySelector('rect[data-utc="`+open+`"] title').textContent`); !strings.Contains(got, "3 counted, accepted (local ") {
		t.Errorf("the clicked hour's bar says %q", got)
	}
	// The script put local times in the hover texts.
	if got := eval[string](b, `document.querySelector('#ledger time').title`); !strings.HasPrefix(got, "Local time: ") {
		t.Errorf("an hour's hover text is %q", got)
	}
	ledger := b.text("#ledger")
	for _, ev := range m.metering.emulator.Handler().(interface{ Events() []metering.EventResult }).Events() {
		if !strings.Contains(ledger, ev.UsageEventID) {
			t.Errorf("the ledger lacks usageEventId %s of %s", ev.UsageEventID, ev.EffectiveStartTime)
		}
	}
	if n := len(uuidPattern.FindAllString(ledger, -1)); n < 20 {
		t.Errorf("the ledger shows %d usageEventIds", n)
	}
	if b.count("#ledger tr.row-mismatch") != 1 {
		t.Error("the mismatch hour is not flagged in the ledger")
	}
	if got := b.text("#total-counted"); got == "0" || got == "" {
		t.Errorf("total counted %q", got)
	}
	// Reconciliation: the service's days beside the ledger's, all equal;
	// today's open hour is not reported yet, so today is not a match.
	if b.count("#recon tbody tr") == 0 || b.count("#recon .pill-match") == 0 || b.count("#recon .pill-differs") != 0 || b.count("#recon .pill-unreported") != 1 {
		t.Errorf("reconciliation: %s", b.text("#reconciliation"))
	}
	if b.count("#recon-error, #recon-unavailable") != 0 {
		t.Errorf("reconciliation failed: %s", b.text("#reconciliation"))
	}
	// Charges: the amount follows the rate card for the quantity shown.
	pricing := usage.RateCard{Price: 0.05, Included: 20, Tiers: []usage.Tier{{From: 100, Price: 0.04}}}
	used, err := strconv.ParseFloat(b.text("#used"), 64)
	if err != nil || used < 3 {
		t.Fatalf("used this month %q: %v", b.text("#charges"), err)
	}
	if got, err := strconv.ParseFloat(b.text("#amount"), 64); err != nil || math.Abs(got-pricing.Cost(used)) > 1e-4 {
		t.Errorf("estimated amount %s for %v units, want %v", b.text("#amount"), used, pricing.Cost(used))
	}
	b.screenshot("usage")

	// A longer window shows the hour carried from 30 hours ago.
	if code := b.load("open the 48 hours window", chromedp.Click(chromedp.CSS(`.windows a[href$="48h"]`))); code != 200 {
		t.Fatalf("48h window answered %d", code)
	}
	if b.count("rect.bar") <= 21 || b.count("rect.bar-carried") != 1 {
		t.Errorf("48 hours: %d bars, %d carried", b.count("rect.bar"), b.count("rect.bar-carried"))
	}
	// A week: one label a day, and every hour of it, settled ones included.
	b.load("open the 7 days window", chromedp.Navigate(m.URL()+"/usage?window=7d"))
	if n, bars := b.count(".xaxis b"), b.count("rect.bar"); n != 7 || bars <= 21 || b.count("rect.bar-carried") != 1 {
		t.Errorf("7 days: %d day labels, %d bars", n, bars)
	}
	b.screenshot("usage-7d")
	b.noConsoleErrors()
}

// The Metering API refuses everything: the hours fail, the reconciliation
// shows the error and its correlation id, and the ledger still renders.
func TestBrowserUsageWhenTheServiceRefuses(t *testing.T) {
	b := newBrowser(t)
	// The emulator refusing every token, as the service does an identity
	// that is not the offer's.
	api := httptest.NewServer(emulator.New(emulator.Options{Tokens: func(string) bool { return false }}))
	defer api.Close()
	dir := t.TempDir()
	now := time.Now()
	st, err := store.OpenBolt(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for h := 2; h <= 4; h++ {
		if _, err := st.Vote(context.Background(), "Dogs", now.Add(-time.Duration(h)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	m := startMainAt(t, map[string]string{
		"DATA_DIR":              dir,
		"METERING_ENDPOINT":     api.URL + "/api",
		"EXTENSION_RESOURCE_ID": "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg/providers/Microsoft.KubernetesConfiguration/extensions/vote",
		"PLAN_ID":               "basic",
		"METERING_SCHEDULE":     quietSchedule,
	}, time.Now)
	waitFor(t, "the pass at start", func() bool { return passed(t, m) })

	b.load("open /usage", chromedp.Navigate(m.URL()+"/usage"))
	if got := b.text("#mode"); !strings.Contains(got, "Reporting to the Metering API at "+api.URL+"/api, plan basic, is failing.") {
		t.Errorf("mode: %q", got)
	}
	// The top of the page says what is wrong, why, when it is tried again
	// and what to do.
	if b.count("#attention.attention-error") != 1 || b.text("#failing") != "Hours failing or unresolved: 3" ||
		!strings.Contains(b.text("#last-failure"), "403") || !strings.Contains(b.text("#next-pass"), "UTC") ||
		!strings.Contains(b.text("#action"), "CLIENT_ID (global.azure.identity.clientId)") {
		t.Errorf("attention: %s", b.text("#attention"))
	}
	if top := eval[float64](b, `document.querySelector("#attention").getBoundingClientRect().top`); top > 120 {
		t.Errorf("the problem is %v px down the page", top)
	}
	msg := b.text("#recon-error")
	if !strings.Contains(msg, "403") || !strings.Contains(msg, "not authorized") || !uuidPattern.MatchString(msg) {
		t.Errorf("reconciliation error: %q", msg)
	}
	if n := b.count("#ledger tr.row-failed"); n != 3 {
		t.Errorf("%d failed hours in the ledger, want 3: %s", n, b.text("#ledger"))
	}
	if b.count("rect.bar-failed") != 3 {
		t.Errorf("failed bars: %d", b.count("rect.bar-failed"))
	}
	if b.count("#charges") != 0 {
		t.Error("charges shown without a price")
	}
	b.screenshot("usage-refused")
	b.noConsoleErrors()
}

// The Quick start's loop on the demo clock, as a presenter shows it: a vote,
// the note under the counts, and a few real seconds later its hour reported,
// accepted, reconciled and priced on /usage.
func TestBrowserDemoClock(t *testing.T) {
	b := newBrowser(t)
	// 1800 times real time: an hour every two seconds.
	m, _ := startMain(t, map[string]string{"DEMO_SPEED": "1800", "METERING_PRICE": "0.25", "METERING_CURRENCY": "USD"})
	b.load("open /", chromedp.Navigate(m.URL()))
	if code := b.load("click Cats", chromedp.Click(chromedp.CSS(`button[value="Cats"]`))); code != 200 {
		t.Fatalf("vote answered %d", code)
	}
	// An hour lasts two seconds: the note names the vote's hour, this one
	// or, if it just ended, the one before.
	note := b.text("#vote-note")
	voted := votedHour(m.Now(), note)
	if !strings.Contains(note, "one unit of pervote for the UTC hour "+voted.Format("15:04")+"–") {
		t.Fatalf("vote note %q", note)
	}
	b.screenshot("demo-vote")

	// Wait for the simulated hour to close, its pass to run and the
	// service's records to show it.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		rep := usageReport(t, m.URL())
		i := hourIndex(rep.Hours, voted)
		if i >= 0 && rep.Hours[i].Status == "accepted" && dayOf(rep.Reconciliation, metering.DayOf(voted)).Submitted >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the voted hour %s is not accepted and reconciled: %+v", voted, rep.Hours)
		}
	}
	b.load("open /usage", chromedp.Navigate(m.URL()+"/usage"))
	row := `#ledger tr:has(time[datetime="` + voted.Format(time.RFC3339) + `"])`
	if got := b.text(row + " .pill"); got != "accepted" {
		t.Errorf("the voted hour is %q: %s", got, b.text("#ledger"))
	}
	if got := b.text("#amount"); !strings.HasSuffix(got, " USD") {
		t.Errorf("estimated amount %q", got)
	}
	if !strings.Contains(b.text("#demo-clock"), "1800 times faster than real time") {
		t.Errorf("demo clock line: %q", b.text("#demo-clock"))
	}
	// Charges sit near the top, above the chart.
	if eval[float64](b, `document.querySelector("#charges").getBoundingClientRect().top`) >
		eval[float64](b, `document.querySelector("#usage-chart").getBoundingClientRect().top`) {
		t.Error("the charges are below the chart")
	}
	if b.count(`#attention.attention-error`) != 0 {
		t.Errorf("attention: %s", b.text("#attention"))
	}
	b.screenshot("demo-usage")
	b.noConsoleErrors()
}

// An error is a page in the app's look, with a way back to voting.
func TestBrowserErrorPage(t *testing.T) {
	b := newBrowser(t)
	m, _ := startMain(t, map[string]string{})
	if code := b.load("open a bad window", chromedp.Navigate(m.URL()+"/usage?window=1y")); code != 400 {
		t.Fatalf("bad window answered %d", code)
	}
	if got := b.text("#error-message"); !strings.Contains(got, "unknown window") {
		t.Errorf("error message %q", got)
	}
	if eval[string](b, `getComputedStyle(document.body).backgroundColor`) != "rgb(248, 248, 248)" {
		t.Error("the error page lacks the app's stylesheet")
	}
	b.screenshot("error")
	if code := b.load("follow the link back", chromedp.Click(chromedp.CSS(`#back`))); code != 200 || b.count("#form") != 1 {
		t.Fatalf("the link back answered %d", code)
	}
	if code := b.load("open a missing page", chromedp.Navigate(m.URL()+"/nowhere")); code != 404 || b.count("#back") != 1 {
		t.Fatalf("a missing page answered %d", code)
	}
	b.noConsoleErrors()
}
