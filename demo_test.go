package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/redisledger/redistest"
	"github.com/azure-vote/azure-vote/metering/usage"
	"github.com/azure-vote/azure-vote/web"
)

// usageReport reads /api/usage.
func usageReport(t *testing.T, base string) web.UsageReport {
	t.Helper()
	code, body := get(t, base+"/api/usage")
	var rep web.UsageReport
	if err := json.Unmarshal([]byte(body), &rep); code != 200 || err != nil {
		t.Fatalf("/api/usage = %d %v: %s", code, err, body)
	}
	return rep
}

// With the demo clock a vote's hour closes, is reported to the built-in
// emulator and reconciled in real seconds: the whole loop of the Quick
// start. 3600 times real time keeps the test short; DEMO_SPEED=60 is the
// same loop at a minute an hour.
func TestDemoClockRunsTheWholeLoop(t *testing.T) {
	dir := t.TempDir()
	m, logs := startMain(t, map[string]string{"DATA_DIR": dir, "DEMO_SPEED": "3600", "METERING_PRICE": "0.5"})
	code, body := postVote(t, m.URL(), "Cats")
	if code != 200 || !strings.Contains(body, `id="vote-note"`) {
		t.Fatalf("vote = %d %s", code, body)
	}
	voted := votedHour(m.Now(), body)
	var rep web.UsageReport
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		rep = usageReport(t, m.URL())
		if i := hourIndex(rep.Hours, voted); i >= 0 && rep.Hours[i].State == metering.StateAccepted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the voted hour %s was not accepted: %+v", voted, rep.Hours)
		}
	}
	// The month is the demo clock's: its amount is that of its quantity.
	if rep.DemoSpeed != 3600 || rep.Mode != "local" || rep.Charges == nil || rep.Charges.Amount != 0.5*rep.Charges.Quantity {
		t.Errorf("report: demo speed %v, mode %s, charges %+v", rep.DemoSpeed, rep.Mode, rep.Charges)
	}
	// The pass after it asked the emulator again: the voted day is
	// reconciled once nothing of it is left to report.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		rep = usageReport(t, m.URL())
		if d := rep.Reconciliation; len(d) > 0 && dayOf(d, metering.DayOf(voted)).Submitted == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the voted day was not reconciled: %+v", rep.Reconciliation)
		}
	}
	// The demo's data is apart from real usage.
	if _, err := os.Stat(filepath.Join(dir, "demo")); err != nil {
		t.Errorf("no demo data directory: %v", err)
	}
	if !strings.Contains(logs.String(), `"msg":"demo clock","speed":3600`) {
		t.Errorf("the demo clock is not logged:\n%s", logs)
	}
	if g := m.Greeting(); !strings.Contains(g, "Demo clock: 3600 times real time") || !strings.Contains(g, "/usage") {
		t.Errorf("greeting %q", g)
	}
}

// votedHour is the hour a vote's page names, the hour of now or, on a fast
// demo clock, the one before.
func votedHour(now time.Time, page string) time.Time {
	h := metering.HourOf(now)
	if !strings.Contains(page, "for the UTC hour "+h.Format("15:04")+"–") {
		h = h.Add(-time.Hour)
	}
	return h
}

func hourIndex(hours []usage.Hour, h time.Time) int {
	for i, r := range hours {
		if r.Hour.Equal(h) {
			return i
		}
	}
	return -1
}

func dayOf(days []usage.Day, d time.Time) usage.Day {
	for _, x := range days {
		if x.Day.Equal(d) {
			return x
		}
	}
	return usage.Day{}
}

// A demo restarted goes on after its last hour rather than voting into
// hours it has reported already.
func TestDemoClockResumesAfterItsLastHour(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"DATA_DIR": dir, "DEMO_SPEED": "3600", "METERING_SCHEDULE": quietSchedule}
	m, _ := startMain(t, env)
	later := m.Now().Add(5 * time.Hour)
	if _, _, err := m.store.VoteOnce(context.Background(), "Cats", "", later); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2, _ := startMain(t, env)
	if now := m2.Now(); now.Before(metering.HourOf(later).Add(time.Hour)) {
		t.Fatalf("the demo clock restarted at %s, before the hour after %s", now, later)
	}
}

func TestDemoClockOnlyInLocalMode(t *testing.T) {
	_, err := NewMain(func(k string) string {
		return map[string]string{"DEMO_SPEED": "60", "EXTENSION_RESOURCE_ID": "/subscriptions/x", "PLAN_ID": "basic"}[k]
	}, &syncBuffer{})
	if err == nil || !strings.HasPrefix(err.Error(), "configuration: DEMO_SPEED=60: the demo clock runs only in local mode") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %v", err)
	}
}

// The fake local resource never goes to an endpoint off this machine:
// reporting is paused, and the page says why.
func TestNoResourceOffThisMachineIsPaused(t *testing.T) {
	m, logs := startMain(t, map[string]string{"METERING_ENDPOINT": "https://metering.example.test/api"})
	rep := usageReport(t, m.URL())
	if rep.Mode != "paused" || !strings.Contains(rep.Detail, "EXTENSION_RESOURCE_ID and PLAN_ID") ||
		!strings.Contains(rep.Detail, "https://metering.example.test/api") || rep.Attention.Level != web.LevelError {
		t.Fatalf("mode %s: %s; attention %+v", rep.Mode, rep.Detail, rep.Attention)
	}
	if !strings.Contains(logs.String(), "metering paused") {
		t.Error("the pause is not logged")
	}
	_, page := get(t, m.URL()+"/usage")
	if strings.Contains(page, "Reporting to Azure Marketplace") || !strings.Contains(page, "Reporting is paused") {
		t.Error("the page does not say reporting is paused")
	}
}

// Without an identity the pause names both the variable and the chart key.
func TestPausedWithoutIdentityNamesTheSetting(t *testing.T) {
	for _, k := range []string{"AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_ID", "AZURE_TENANT_ID"} {
		t.Setenv(k, "")
	}
	m, _ := startMain(t, map[string]string{"EXTENSION_RESOURCE_ID": "/subscriptions/x", "PLAN_ID": "basic"})
	rep := usageReport(t, m.URL())
	if rep.Mode != "paused" || !strings.Contains(rep.Detail, "CLIENT_ID") || !strings.Contains(rep.Detail, "global.azure.identity.clientId") {
		t.Fatalf("mode %s: %s", rep.Mode, rep.Detail)
	}
}

// An endpoint that refuses connections is named as such on /usage.
func TestRefusedEndpointOnTheUsagePage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + ln.Addr().String() + "/api"
	ln.Close()
	m, _ := startMain(t, map[string]string{
		"METERING_ENDPOINT": endpoint, "METERING_SCHEDULE": quietSchedule,
		"EXTENSION_RESOURCE_ID": "/subscriptions/x", "PLAN_ID": "basic",
	})
	rep := usageReport(t, m.URL())
	if !strings.Contains(rep.Service.Error, "connection refused") || strings.Contains(rep.Service.Error, "deadline exceeded") {
		t.Fatalf("reconciliation error %q", rep.Service.Error)
	}
	if !strings.Contains(rep.Attention.Action, "METERING_ENDPOINT") {
		t.Errorf("attention %+v", rep.Attention)
	}
}

// BenchmarkUsageViewRefusedEndpoint measures how long the usage page's call
// to an endpoint that refuses connections takes, uncached: one quick retry,
// well inside web.ReconcileTimeout.
func BenchmarkUsageViewRefusedEndpoint(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	endpoint := "http://" + ln.Addr().String() + "/api"
	ln.Close()
	m, err := NewMain(func(k string) string {
		return map[string]string{
			"DATA_DIR": b.TempDir(), "METERING_ENDPOINT": endpoint, "METERING_SCHEDULE": quietSchedule,
			"EXTENSION_RESOURCE_ID": "/subscriptions/x", "PLAN_ID": "basic",
		}[k]
	}, &syncBuffer{})
	if err != nil {
		b.Fatal(err)
	}
	m.Addr = "127.0.0.1:0"
	if err := m.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	since := metering.HourOf(time.Now()).Add(-23 * time.Hour)
	for b.Loop() {
		// A new source each time: its view has no answer cached.
		src := newUsageSource(m.store, m.metering, m.Config.Metering, 0, time.Now)
		if u, err := src.Usage(context.Background(), since); err != nil || !strings.Contains(u.Report.Service.Error, "connection refused") {
			b.Fatalf("error %v, service %q", err, u.Report.Service.Error)
		}
	}
}

// A wrong Redis password is logged as such, not as Redis being away.
func TestWrongRedisPasswordIsLoggedAsSuch(t *testing.T) {
	rs := redistest.Start(t)
	if err := rs.Client().ConfigSet(context.Background(), "requirepass", "the-right-one").Err(); err != nil {
		t.Fatal(err)
	}
	_, logs := startMain(t, map[string]string{"REDIS": rs.Addr(), "REDIS_PWD": "a-wrong-one"})
	out := logs.String()
	if !strings.Contains(out, "redis refused the password") || strings.Contains(out, "not reachable yet") {
		t.Fatalf("log:\n%s", out)
	}
	if strings.Contains(out, "a-wrong-one") || strings.Contains(out, "the-right-one") {
		t.Fatal("a password is in the log")
	}
}

// A DATA_DIR that cannot be written is named once in the one-line error.
func TestUnwritableDataDirNamedOnce(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(file, "data")
	m, err := NewMain(func(k string) string { return map[string]string{"DATA_DIR": dir}[k] }, &syncBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	m.Addr = "127.0.0.1:0"
	err = m.Run(context.Background())
	m.Close()
	// MkdirAll names the part of the path that is in the way.
	if err == nil || !strings.HasPrefix(err.Error(), "DATA_DIR: cannot mkdir "+file+": not a directory") || strings.Count(err.Error(), file) != 1 {
		t.Fatalf("error %v", err)
	}
}

// An hour left unresolved days ago is counted at the top of the page
// whatever the window, so the page is never green while it waits.
func TestUnresolvedBeforeTheWindowAtTheTop(t *testing.T) {
	m, logs := startMain(t, map[string]string{"METERING_SCHEDULE": quietSchedule})
	// The pass at start runs beside the test; the schedule runs no other.
	// Writing the ledger before it ends (passed or failed) would race it
	// for the same record.
	waitFor(t, "the pass at start", func() bool { return strings.Contains(logs.String(), `"msg":"metering pass`) })
	ctx := context.Background()
	old := metering.HourOf(m.Now()).Add(-3 * 24 * time.Hour)
	if _, _, err := m.store.VoteOnce(ctx, "Cats", "", old); err != nil {
		t.Fatal(err)
	}
	recs, err := m.store.Records(ctx, "pervote")
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(recs, func(r metering.Record) bool { return r.Hour.Equal(old) })
	if i < 0 {
		t.Fatalf("no record of %s in %+v", old, recs)
	}
	rec := recs[i]
	rec.State, rec.MaybeBilled, rec.Sent, rec.Unresolved = metering.StateUnresolved, true, 1, "no answer before the 24-hour window closed"
	if _, err := m.store.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	rep := usageReport(t, m.URL())
	if rep.Earlier.Unresolved != 1 || rep.Attention.Level != web.LevelError || rep.Attention.FailingOrUnresolved != 1 ||
		!strings.Contains(rep.Attention.Action, "before this window") {
		t.Fatalf("earlier %+v, attention %+v", rep.Earlier, rep.Attention)
	}
	_, body := get(t, m.URL()+"/api/usage?window=7d")
	var week web.UsageReport
	if err := json.Unmarshal([]byte(body), &week); err != nil {
		t.Fatal(err)
	}
	if i := hourIndex(week.Hours, old); i < 0 || week.Hours[i].Status != "unresolved" || !strings.Contains(week.Hours[i].Note, "no answer before the 24-hour window closed") {
		t.Fatalf("the week's hours: %+v", week.Hours)
	}
}
