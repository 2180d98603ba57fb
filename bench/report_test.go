package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseResults(t *testing.T) {
	tests := []struct {
		page string
		want int64
		ok   bool
	}{
		{`<main><div id="results">Cats - 12 | Dogs - 7</div></main>`, 19, true},
		{`<div id="results">Red &amp; Blue - 0 | Green - 3</div>`, 3, true},
		{`<div id="results">Cats - 0 | Dogs - 0</div>`, 0, true},
		{`<div id="results">Cats -  | Dogs - 7</div>`, 0, false},
		{`<p>no counts here</p>`, 0, false},
	}
	for _, tt := range tests {
		got, err := parseResults([]byte(tt.page))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseResults(%q) = %d, %v; want %d, ok %v", tt.page, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseUsage(t *testing.T) {
	got, err := parseUsage([]byte(`{"mode":"local","hours":[{"hour":"2026-11-22T09:00:00Z","counted":5},{"hour":"2026-11-22T08:00:00Z","counted":1234,"reported":1234}]}`))
	if err != nil || got != 1239 {
		t.Fatalf("parseUsage = %d, %v; want 1239", got, err)
	}
	if _, err := parseUsage([]byte(`<html>`)); err == nil {
		t.Fatal("parseUsage accepted HTML")
	}
}

func TestParseMemStatus(t *testing.T) {
	got, err := parseMemStatus(strings.NewReader("Name:\tazure-vote\nVmPeak:\t 1250000 kB\nVmHWM:\t   28512 kB\nVmRSS:\t   27000 kB\nRssAnon:\t   12000 kB\nRssFile:\t   15000 kB\n"))
	if want := (memStatus{PeakRSS: 28512 << 10, RssAnon: 12000 << 10, RssFile: 15000 << 10}); err != nil || got != want {
		t.Fatalf("parseMemStatus = %+v, %v; want %+v", got, err, want)
	}
	for _, bad := range []string{"VmRSS:\t1 kB\n", "VmHWM:\tlots kB\n", "VmHWM:\t12 MB\n"} {
		if _, err := parseMemStatus(strings.NewReader(bad)); err == nil {
			t.Errorf("parseMemStatus(%q) accepted", bad)
		}
	}
	// This process's own status has the lines.
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc on this system")
	}
	defer f.Close()
	if m, err := parseMemStatus(f); err != nil || m.PeakRSS <= 0 || m.RssAnon <= 0 {
		t.Fatalf("own status: %+v, %v", m, err)
	}
}

func TestParseStatCPU(t *testing.T) {
	// The name holds a space and a parenthesis; utime 150 and stime 50 ticks.
	line := "4242 (azure vote) x) S 1 4242 4242 0 -1 4194560 2000 0 0 0 150 50 0 0 20 0 9 0 100 1250000 7000 18446744073709551615"
	got, err := parseStatCPU(line)
	if err != nil || got != 2*time.Second {
		t.Fatalf("parseStatCPU = %v, %v; want 2s", got, err)
	}
	if _, err := parseStatCPU("4242 (short) S 1 2"); err == nil {
		t.Fatal("short line accepted")
	}
	if data, err := os.ReadFile("/proc/self/stat"); err == nil {
		if _, err := parseStatCPU(string(data)); err != nil {
			t.Fatalf("own stat: %v", err)
		}
	}
}

func TestLossCheck(t *testing.T) {
	tests := []struct {
		name string
		lc   lossCheck
		want bool
	}{
		{"exact", lossCheck{Acked: 100, Votes: 100, Usage: 100}, true},
		{"a vote lost", lossCheck{Acked: 100, Votes: 99, Usage: 99}, false},
		{"a vote counted twice", lossCheck{Acked: 100, Votes: 101, Usage: 101}, false},
		{"usage not billed", lossCheck{Acked: 100, Votes: 100, Usage: 99}, false},
		{"usage billed twice", lossCheck{Acked: 100, Votes: 100, Usage: 101}, false},
		{"unknown outcome stored", lossCheck{Acked: 100, Unknown: 2, Votes: 101, Usage: 101}, true},
		{"more than the unknown stored", lossCheck{Acked: 100, Unknown: 2, Votes: 103, Usage: 103}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.lc.holds(); got != tt.want {
				t.Fatalf("holds() = %v for %+v", got, tt.lc)
			}
		})
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999.4: "999", 1000: "1,000", 12345.6: "12,346", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q, want %q", in, got, want)
		}
	}
}

func run1(id string, round int, rps, p99 float64, rss int64, loss *lossCheck) result {
	var sc scenario
	for _, s := range allScenarios() {
		if s.ID() == id {
			sc = s
		}
	}
	return result{scenario: sc, ID: id, Round: round, Concurrency: 16, RPS: rps, Latency: latencyMS{P99: p99}, PeakRSSBytes: rss, Loss: loss}
}

func TestReportJudgesTheTargetsOnMedianRuns(t *testing.T) {
	ok := &lossCheck{Acked: 10, Votes: 10, Usage: 10, OK: true}
	r := &report{Options: options{Concurrency: []int{16}, Count: 3}, Runs: []result{
		run1("reference/vote", 1, 10000, 2, 17e6, ok),
		run1("reference/vote", 2, 12000, 2, 17e6, ok),
		run1("reference/vote", 3, 2000, 9, 17e6, ok), // disturbed
		run1("redis/vote", 1, 9500, 3, 25e6, ok),
		run1("redis/vote", 2, 9000, 4, 31e6, ok),
		run1("redis/vote", 3, 11000, 3, 25e6, ok),
		run1("bolt/vote", 1, 4000, 8, 24e6, &lossCheck{Acked: 10, Votes: 9, Usage: 9}),
	}}
	r.finish()
	if len(r.Results) != 3 {
		t.Fatalf("%d results, want one per scenario run", len(r.Results))
	}
	if ref := r.find("reference/vote", 16); ref.RPS != 10000 {
		t.Fatalf("reference median %v, want 10000", ref.RPS)
	}
	if app := r.find("redis/vote", 16); app.RPS != 9500 || app.VsReference != 0.95 {
		t.Fatalf("app median %v at %v×", app.RPS, app.VsReference)
	}
	want := map[string]string{
		"req/s, vote":     statusNoise, // 0.95×, but round 3's disturbed reference gives 5.5×
		"CPU per vote":    statusNA,    // no Redis CPU measured
		"req/s, page":     statusNA,
		"p99":             statusMet,
		"peak RSS":        statusNotMet, // runs peaked over 25 MB
		"durable votes/s": statusNotMet,
		"no vote lost":    statusNotMet,
	}
	for key, status := range want {
		found := false
		for _, tg := range r.Targets {
			if strings.Contains(tg.Goal, key) {
				found = true
				if tg.Status != status {
					t.Errorf("target %q: %s (%s), want %s", tg.Goal, tg.Status, tg.Measured, status)
				}
			}
		}
		if !found {
			t.Errorf("no target about %q", key)
		}
	}
	if r.failedLossChecks() != 1 {
		t.Fatalf("%d failed loss checks, want 1", r.failedLossChecks())
	}

	var md bytes.Buffer
	if err := r.writeMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"| app, Redis: POST / (vote) | 16 | 9,500 |", "0.95×", "FAILED", "median of 3 runs"} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("markdown lacks %q:\n%s", s, md.String())
		}
	}
	path := filepath.Join(t.TempDir(), "out.json")
	if err := r.writeJSON(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back report
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Runs) != 7 || len(back.Targets) != len(r.Targets) {
		t.Fatalf("JSON round trip: %d runs, %d targets", len(back.Runs), len(back.Targets))
	}
}

// A round the machine spent slowed down for the app alone must not decide
// the ratio: each round's app run is compared with that round's reference.
func TestRatioToTheReferenceIsPairedByRound(t *testing.T) {
	r := &report{Options: options{Concurrency: []int{16}, Count: 3}, Runs: []result{
		run1("reference/vote", 1, 10000, 2, 17e6, nil),
		run1("redis/vote", 1, 10500, 2, 24e6, nil),
		run1("reference/vote", 2, 13000, 2, 17e6, nil), // the machine sped up
		run1("redis/vote", 2, 10600, 2, 24e6, nil),     // and the app was disturbed
		run1("reference/vote", 3, 11000, 2, 17e6, nil),
		run1("redis/vote", 3, 11550, 2, 24e6, nil),
	}}
	r.finish()
	app := r.find("redis/vote", 16)
	// The medians alone (10,600 against 11,000) would say 0.96×.
	if app.VsReference != 1.05 || app.VsReferenceLow != 10600.0/13000 || app.VsReferenceHigh != 1.05 || app.VsReferenceConfidence != 0.75 {
		t.Fatalf("vs reference %v (rounds %v–%v, %v), want 1.05 (rounds %v–1.05, 0.75)", app.VsReference, app.VsReferenceLow, app.VsReferenceHigh, app.VsReferenceConfidence, 10600.0/13000)
	}
	for _, tg := range r.Targets {
		if strings.Contains(tg.Goal, "req/s, vote") {
			// The median round says 1.05×, the disturbed one 0.82×.
			if tg.Status != statusNoise || tg.Measured != "1.05× (rounds 0.82–1.05×)" {
				t.Errorf("target %q: %s (%s)", tg.Goal, tg.Status, tg.Measured)
			}
		}
	}
	// A round without its reference run gives no ratio of its own.
	r.Runs = r.Runs[1:]
	r.finish()
	if app := r.find("redis/vote", 16); app.VsReferenceLow != 10600.0/13000 || app.VsReferenceHigh != 1.05 || app.VsReference != 10600.0/13000 {
		t.Fatalf("without round 1's reference: %v (rounds %v–%v)", app.VsReference, app.VsReferenceLow, app.VsReferenceHigh)
	}
}

func TestJudgeRounds(t *testing.T) {
	atLeastOne := func(x float64) bool { return x >= 1 }
	tests := []struct {
		ratios []float64
		want   string
	}{
		{nil, statusNA},
		{[]float64{1.02}, statusMet},
		{[]float64{0.98}, statusNotMet},
		{[]float64{1, 1.01, 1.2}, statusMet},
		{[]float64{0.8, 0.9, 0.99}, statusNotMet},
		{[]float64{0.87, 0.96, 1.01}, statusNoise},
		{[]float64{0.99, 1.1, 1.2, 1.3, 1.4}, statusNoise},
		// Nine rounds: the 2nd lowest and highest decide, one stray
		// round on either side does not.
		{[]float64{0.9, 1.01, 1.02, 1.03, 1.04, 1.05, 1.06, 1.07, 1.08}, statusMet},
		{[]float64{0.9, 0.91, 1.02, 1.03, 1.04, 1.05, 1.06, 1.07, 1.08}, statusNoise},
		{[]float64{0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 1.08}, statusNotMet},
	}
	for _, tt := range tests {
		if got := judgeRounds(tt.ratios, atLeastOne); got != tt.want {
			t.Errorf("judgeRounds(%v) = %s, want %s", tt.ratios, got, tt.want)
		}
	}
}

// The interval's ends are the order statistics the binomial distribution
// of rounds below the median allows, checked against the exact coverage.
func TestMedianInterval(t *testing.T) {
	tests := []struct {
		n, k int     // k: the interval is the k-th lowest to the k-th highest
		conf float64 // its exact coverage, 1 − 2·P(Binomial(n, ½) < k)
	}{
		{1, 1, 0},
		{2, 1, 0.5},
		{3, 1, 0.75},
		{5, 1, 1 - 2.0/32},
		{6, 1, 1 - 2.0/64},
		{8, 1, 1 - 2.0/256},
		{9, 2, 1 - 2*10.0/512},
		{12, 3, 1 - 2*79.0/4096},
		{15, 4, 1 - 2*576.0/32768},
		{20, 6, 1 - 2*21700.0/1048576},
	}
	for _, tt := range tests {
		sorted := make([]float64, tt.n)
		for i := range sorted {
			sorted[i] = float64(i + 1)
		}
		lo, hi, conf := medianInterval(sorted)
		if lo != float64(tt.k) || hi != float64(tt.n-tt.k+1) || math.Abs(conf-tt.conf) > 1e-12 {
			t.Errorf("n=%d: interval %v–%v at %v, want %d–%d at %v", tt.n, lo, hi, conf, tt.k, tt.n-tt.k+1, tt.conf)
		}
		if tt.n >= 6 && conf < intervalConfidence {
			t.Errorf("n=%d: confidence %v below %v", tt.n, conf, intervalConfidence)
		}
	}
}

// Over many simulated benchmarks of a machine whose rounds scatter around a
// known median, the interval holds that median at least as often as it
// claims. The seed is printed on failure.
func TestMedianIntervalCoverage(t *testing.T) {
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	const trials = 4000
	// The true median of that noise: the x with
	// 0.8·Φ(ln x/0.1) + 0.2·Φ(ln(x/0.8)/0.1) = ½, by bisection.
	phi := func(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }
	below, above := 0.5, 1.5
	for range 100 {
		if mid := (below + above) / 2; 0.8*phi(math.Log(mid)/0.1)+0.2*phi(math.Log(mid/0.8)/0.1) < 0.5 {
			below = mid
		} else {
			above = mid
		}
	}
	median := below
	for _, n := range []int{5, 9, 15, 30} {
		held, claimed := 0, 0.0
		for range trials {
			ratios := make([]float64, n)
			for i := range ratios {
				// Skewed noise: lognormal scatter, and one round in five
				// disturbed and 20% slower, which pulls the median (above)
				// below 1.
				ratios[i] = math.Exp(0.1 * rng.NormFloat64())
				if rng.IntN(5) == 0 {
					ratios[i] *= 0.8
				}
			}
			slices.Sort(ratios)
			lo, hi, conf := medianInterval(ratios)
			claimed = conf
			if lo <= median && median <= hi {
				held++
			}
		}
		// Four standard errors below the claim fail it: an honest interval
		// fails it about once in 8,000 runs of this test.
		got := float64(held) / trials
		if se := math.Sqrt(claimed * (1 - claimed) / trials); got < claimed-4*se {
			t.Errorf("n=%d: held the median in %.3f of trials, claims %.3f (seed %d)", n, got, claimed, seed)
		}
	}
}

// CPU per vote is compared round by round too, and only where both runs
// of a round measured Redis's share.
func TestCPUPerVoteIsPairedByRound(t *testing.T) {
	withCPU := func(res result, server, redis float64) result {
		res.CPUPerRequestUS, res.RedisCPUPerRequestUS = server, redis
		return res
	}
	r := &report{Options: options{Concurrency: []int{16}, Count: 3}, Runs: []result{
		withCPU(run1("reference/vote", 1, 10000, 2, 17e6, nil), 70, 20),
		withCPU(run1("redis/vote", 1, 10000, 2, 24e6, nil), 75, 10), // 85 against 90
		withCPU(run1("reference/vote", 2, 10000, 2, 17e6, nil), 70, 20),
		withCPU(run1("redis/vote", 2, 10000, 2, 24e6, nil), 80, 12),    // 92 against 90
		withCPU(run1("reference/vote", 3, 10000, 2, 17e6, nil), 70, 0), // Redis's share unknown
		withCPU(run1("redis/vote", 3, 10000, 2, 24e6, nil), 60, 10),
	}}
	cpuTarget := func() target {
		r.finish()
		for _, tg := range r.Targets {
			if strings.HasPrefix(tg.Goal, "CPU per vote") {
				return tg
			}
		}
		t.Fatal("no CPU target")
		return target{}
	}
	if tg := cpuTarget(); tg.Status != statusNoise || !strings.Contains(tg.Measured, "(rounds 0.94–1.02×)") {
		t.Fatalf("CPU target: %s (%s), want within noise over rounds 1 and 2", tg.Status, tg.Measured)
	}
	r.Runs[3].CPUPerRequestUS = 70 // round 2: 82 against 90
	if tg := cpuTarget(); tg.Status != statusMet {
		t.Fatalf("CPU target: %s (%s), want met", tg.Status, tg.Measured)
	}
}

func TestP99IsNotJudgedAtOtherConcurrency(t *testing.T) {
	run := run1("redis/vote", 1, 9000, 2, 20e6, nil)
	run.Concurrency = 64
	r := &report{Options: options{Concurrency: []int{64}, Count: 1}, Runs: []result{run}}
	r.finish()
	for _, tg := range r.Targets {
		if strings.HasPrefix(tg.Goal, "p99") && (tg.Status != statusNA || !strings.Contains(tg.Measured, "64 connections")) {
			t.Fatalf("p99 target at 64 connections: %+v", tg)
		}
	}
}

// Within a round the app and the reference run one after the other; which
// goes first alternates, and the round still runs every scenario once.
func TestRoundsAlternateWhichServerGoesFirst(t *testing.T) {
	index := func(order []scenario, id string) int {
		return slices.IndexFunc(order, func(s scenario) bool { return s.ID() == id })
	}
	for round := 1; round <= 4; round++ {
		order := roundOrder(round)
		if len(order) != len(allScenarios()) {
			t.Fatalf("round %d runs %d scenarios, want %d", round, len(order), len(allScenarios()))
		}
		for _, op := range []string{opVote, opPage} {
			ref, app := index(order, serverReference+"/"+op), index(order, storeRedis+"/"+op)
			if refFirst := ref < app; refFirst != (round%2 == 1) {
				t.Errorf("round %d, %s: reference at %d, app at %d", round, op, ref, app)
			}
			if d := ref - app; d != 1 && d != -1 {
				t.Errorf("round %d, %s: reference at %d, app at %d, not one after the other", round, op, ref, app)
			}
		}
	}
}

func TestParseOptions(t *testing.T) {
	o, err := parseOptions([]string{"-c", "8", "-d", "3s", "-only", "redis/vote, bolt/vote"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.Concurrency, []int{8}) || o.Duration != 3*time.Second || o.Warmup != time.Second || len(o.only) != 2 || o.jsonPath != "bench-results.json" {
		t.Fatalf("options %+v", o)
	}
	for _, args := range [][]string{
		{"-c", "0"}, {"-c", "16,x"}, {"-c", "16,0"}, {"-d", "0s"}, {"-d", "2h"}, {"-warmup", "-1s"}, {"-count", "0"}, {"-n", "0"},
		{"-only", "redis/nothing"}, {"stray"},
	} {
		if _, err := parseOptions(args, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	if _, err := parseOptions([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}
