package main

import (
	"bufio"
	"cmp"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// result is one scenario's measurement.
type result struct {
	scenario
	ID          string    `json:"id"`
	Round       int       `json:"round"`
	Concurrency int       `json:"concurrency"`
	Seconds     float64   `json:"seconds"`  // measured window
	Requests    int64     `json:"requests"` // measured window, errors included
	OK          int64     `json:"ok"`
	Errors      int64     `json:"errors"`
	FirstError  string    `json:"firstError,omitempty"`
	RPS         float64   `json:"rps"` // 200 answers per second
	Latency     latencyMS `json:"latencyMs"`
	// CPUPerRequestUS is the server's CPU time (user + system) over the
	// run, warm-up included, per request, in microseconds; 0 when unknown.
	// Unlike req/s it hardly depends on what else runs on the machine.
	CPUPerRequestUS float64 `json:"cpuPerRequestUs"`
	// RedisCPUPerRequestUS is redis-server's CPU time over the run per
	// request, on Redis scenarios; 0 otherwise. The app and the reference
	// spend Redis's CPU differently, so only the sum compares them.
	RedisCPUPerRequestUS float64 `json:"redisCpuPerRequestUs"`
	// RequestsPerRoundTrip is how many requests shared a Redis round trip,
	// warm-up included, on Redis scenarios; 0 otherwise.
	RequestsPerRoundTrip float64 `json:"requestsPerRoundTrip,omitempty"`
	// PeakRSSBytes is the server's VmHWM after the run; 0 when unknown.
	PeakRSSBytes int64 `json:"peakRssBytes"`
	// RSSAnonBytes (heap, stacks) and RSSFileBytes (the mapped binary) split
	// the resident set at the end of the run.
	RSSAnonBytes int64 `json:"rssAnonBytes"`
	RSSFileBytes int64 `json:"rssFileBytes"`
	// VsReference is RPS over the reference's for the same work: the median
	// over the rounds of each round's ratio, so that the machine's drift
	// between rounds cancels out; 0: none. VsReferenceLow and High bound
	// the median the machine would give over many rounds, with confidence
	// VsReferenceConfidence (see medianInterval).
	VsReference           float64 `json:"vsReference,omitempty"`
	VsReferenceLow        float64 `json:"vsReferenceLow,omitempty"`
	VsReferenceHigh       float64 `json:"vsReferenceHigh,omitempty"`
	VsReferenceConfidence float64 `json:"vsReferenceConfidence,omitempty"`
	// VsCeiling is RPS over the ceiling's at the same concurrency; 0: none.
	VsCeiling float64    `json:"vsCeiling,omitempty"`
	Loss      *lossCheck `json:"lossCheck,omitempty"`
}

type latencyMS struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func newResult(sc scenario, concurrency int, lr loadResult) result {
	r := result{
		scenario: sc, ID: sc.ID(), Concurrency: concurrency,
		Seconds: lr.Elapsed.Seconds(), Requests: lr.OK + lr.Errors, OK: lr.OK, Errors: lr.Errors,
		FirstError: lr.FirstError,
		Latency: latencyMS{
			P50: ms(percentile(lr.Latencies, 0.50)),
			P90: ms(percentile(lr.Latencies, 0.90)),
			P99: ms(percentile(lr.Latencies, 0.99)),
			Max: ms(percentile(lr.Latencies, 1)),
		},
	}
	if r.Seconds > 0 {
		r.RPS = float64(lr.OK) / r.Seconds
	}
	return r
}

// totalCPU is the CPU per request of the server and Redis together.
func (r result) totalCPU() float64 { return r.CPUPerRequestUS + r.RedisCPUPerRequestUS }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (r result) summary() string {
	s := fmt.Sprintf("%7s req/s  p50 %.2f ms  p99 %.2f ms  CPU %s µs/req  errors %d  peak RSS %s (anon %s, file %s)",
		thousands(r.RPS), r.Latency.P50, r.Latency.P99, cpuUS(r.CPUPerRequestUS), r.Errors,
		mb(r.PeakRSSBytes), mb(r.RSSAnonBytes), mb(r.RSSFileBytes))
	if r.Store == storeRedis {
		s += fmt.Sprintf("  with Redis %s µs/req  %.1f req/round trip", cpuUS(r.totalCPU()), r.RequestsPerRoundTrip)
	}
	if r.Loss != nil {
		s += "  stored: " + r.Loss.String()
	}
	if r.FirstError != "" {
		s += "\n  first error: " + r.FirstError
	}
	return s
}

// lossCheck compares what a vote run stored with what it acknowledged:
// every vote answered 200 must be stored, counted once, in the vote counts
// and in the billed usage. A request without a 200 answer may or may not
// have been stored, so the stored counts may exceed Acked by up to Unknown.
type lossCheck struct {
	Acked   int64 `json:"acked"`   // 200 answers, warm-up included
	Unknown int64 `json:"unknown"` // requests answered otherwise or not at all
	Votes   int64 `json:"votes"`   // sum of the stored counts
	Usage   int64 `json:"usage"`   // sum of the usage counters (billed)
	OK      bool  `json:"ok"`
}

func (l lossCheck) holds() bool {
	in := func(n int64) bool { return n >= l.Acked && n <= l.Acked+l.Unknown }
	return in(l.Votes) && in(l.Usage) && l.Votes == l.Usage
}

func (l lossCheck) String() string {
	if l.OK && l.Unknown == 0 {
		return "ok, " + thousands(float64(l.Acked)) + " votes"
	}
	verdict := "ok"
	if !l.OK {
		verdict = "FAILED"
	}
	return fmt.Sprintf("%s: %s acked, %s unknown; stored %s votes, %s usage", verdict,
		thousands(float64(l.Acked)), thousands(float64(l.Unknown)), thousands(float64(l.Votes)), thousands(float64(l.Usage)))
}

// usageJSON is the part of /api/usage the loss check reads.
type usageJSON struct {
	Hours []struct {
		Counted float64 `json:"counted"`
	} `json:"hours"`
}

// parseUsage adds up the usage counted in every hour of /api/usage.
func parseUsage(body []byte) (int64, error) {
	var u usageJSON
	if err := json.Unmarshal(body, &u); err != nil {
		return 0, fmt.Errorf("decode /api/usage: %w", err)
	}
	var total float64
	for _, h := range u.Hours {
		total += h.Counted
	}
	return int64(total), nil
}

// machine is where the numbers come from.
type machine struct {
	NProc     int    `json:"nproc"`
	CPU       string `json:"cpu"`
	OS        string `json:"os"`
	Kernel    string `json:"kernel"`
	Go        string `json:"go"`
	Redis     string `json:"redis"`
	DataDirFS string `json:"dataDirFs"` // where the embedded store fsyncs
	// App is the app binary's Go version and VCS revision.
	App string `json:"app"`
	// LoadAvg is /proc/loadavg's 1, 5 and 15 minute averages before the
	// bench: other work on the machine skews every number.
	LoadAvg string `json:"loadAvg"`
}

func readMachine(ctx context.Context, dataDir, appBin string) machine {
	m := machine{
		NProc: runtime.NumCPU(), CPU: cpuModel(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		Go: runtime.Version(), Redis: "unknown", DataDirFS: fsType(dataDir), Kernel: "unknown",
		App: appBuild(appBin),
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.CommandContext(ctx, "redis-server", "--version").Output(); err == nil {
		for f := range strings.FieldsSeq(string(out)) {
			if v, ok := strings.CutPrefix(f, "v="); ok {
				m.Redis = v
			}
		}
	}
	return m
}

// appBuild describes how the app binary was built: Go version and
// revision, from the build information the toolchain embeds.
func appBuild(bin string) string {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "build unknown"
	}
	s := "built with " + info.GoVersion
	var rev, modified string
	for _, kv := range info.Settings {
		switch kv.Key {
		case "vcs.revision":
			rev = kv.Value
		case "vcs.modified":
			modified = kv.Value
		}
	}
	if rev != "" {
		s += " at " + rev[:min(len(rev), 12)]
		if modified == "true" {
			s += " with local changes"
		}
	}
	return s
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func (m machine) String() string {
	s := fmt.Sprintf("%s, nproc %d, %s, kernel %s, %s, redis-server %s; app %s; embedded store on %s",
		m.CPU, m.NProc, m.OS, m.Kernel, m.Go, m.Redis, m.App, m.DataDirFS)
	if m.LoadAvg != "" {
		s += "; load average before the run " + m.LoadAvg
	}
	return s
}

// target is one goal of the issue, judged on the results.
type target struct {
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	Status   string `json:"status"` // statusMet, statusNotMet, statusNoise or statusNA
}

const (
	statusMet    = "met"
	statusNotMet = "not met"
	// statusNoise: the median's interval (medianInterval) holds both
	// sides of the target, so the rounds cannot tell which side the server
	// is on.
	statusNoise = "within noise"
	statusNA    = "n/a"
)

// Goals of the issue.
const (
	goalRatio      = 1.0
	goalP99        = 5 * time.Millisecond
	goalP99Conns   = 16
	goalRSSBytes   = 25_000_000
	goalBoltVotesS = 5000
)

// report is everything one bench run measured.
type report struct {
	Machine machine   `json:"machine"`
	Options options   `json:"options"`
	Started time.Time `json:"started"`
	// Results holds each scenario's median run by req/s at each
	// concurrency; Runs every run.
	Results []result `json:"results"`
	Targets []target `json:"targets"`
	Runs    []result `json:"runs"`
}

func (r *report) find(id string, conns int) *result {
	for i := range r.Results {
		if r.Results[i].ID == id && r.Results[i].Concurrency == conns {
			return &r.Results[i]
		}
	}
	return nil
}

// finish picks each scenario's median run, fills in the ratios and judges
// the targets.
func (r *report) finish() {
	r.Results = r.Results[:0]
	for _, conns := range r.Options.Concurrency {
		for _, sc := range allScenarios() {
			runs := r.runsOf(sc.ID(), conns)
			if len(runs) == 0 {
				continue
			}
			slices.SortStableFunc(runs, func(a, b result) int { return cmp.Compare(a.RPS, b.RPS) })
			r.Results = append(r.Results, runs[(len(runs)-1)/2])
		}
	}
	r.Targets = r.Targets[:0]
	for _, conns := range r.Options.Concurrency {
		for _, op := range []string{opVote, opPage} {
			app, ref, ceil := r.find(storeRedis+"/"+op, conns), r.find(serverReference+"/"+op, conns), r.find(serverCeiling+"/"+op, conns)
			ratios := r.roundRatios(storeRedis+"/"+op, serverReference+"/"+op, conns, func(res result) float64 { return res.RPS })
			if app != nil && len(ratios) > 0 {
				app.VsReference = ratios[(len(ratios)-1)/2]
				app.VsReferenceLow, app.VsReferenceHigh, app.VsReferenceConfidence = medianInterval(ratios)
			}
			for _, res := range []*result{app, ref} {
				if res != nil && ceil != nil && ceil.RPS > 0 {
					res.VsCeiling = res.RPS / ceil.RPS
				}
			}
			t := target{Goal: fmt.Sprintf("app (Redis) ≥ %.1f× the reference's req/s, %s, %d connections", goalRatio, op, conns), Status: statusNA, Measured: "not run"}
			if app != nil && app.VsReference > 0 {
				t.Measured = fmt.Sprintf("%.2f×", app.VsReference) + intervalNote(ratios)
				t.Status = judgeRounds(ratios, func(x float64) bool { return x >= goalRatio })
			}
			r.Targets = append(r.Targets, t)
		}
		cpu := target{Goal: fmt.Sprintf("CPU per vote, app + Redis, below the reference's, %d connections", conns), Status: statusNA, Measured: "not run"}
		if app, ref := r.find(storeRedis+"/"+opVote, conns), r.find(serverReference+"/"+opVote, conns); app != nil && ref != nil &&
			app.RedisCPUPerRequestUS > 0 && ref.RedisCPUPerRequestUS > 0 {
			cpu.Measured = fmt.Sprintf("%s µs against %s", cpuUS(app.totalCPU()), cpuUS(ref.totalCPU()))
			ratios := r.roundRatios(storeRedis+"/"+opVote, serverReference+"/"+opVote, conns, func(res result) float64 {
				if res.RedisCPUPerRequestUS <= 0 {
					return 0 // Redis's share unknown: no sum to compare
				}
				return res.totalCPU()
			})
			cpu.Measured += intervalNote(ratios)
			cpu.Status = judgeRounds(ratios, func(x float64) bool { return x < 1 })
		}
		r.Targets = append(r.Targets, cpu)
	}

	p99 := target{Goal: fmt.Sprintf("p99 < %d ms at %d connections (app, Redis)", goalP99.Milliseconds(), goalP99Conns), Status: statusNA, Measured: "not run"}
	rss := target{Goal: fmt.Sprintf("peak RSS < %d MB (app, Redis)", goalRSSBytes/1_000_000), Status: statusNA, Measured: "not run"}
	var p99s, rsss []string
	p99Met, rssMet := true, true
	for _, op := range []string{opVote, opPage} {
		if app := r.find(storeRedis+"/"+op, goalP99Conns); app != nil {
			p99s = append(p99s, fmt.Sprintf("%s %.2f ms", op, app.Latency.P99))
			p99Met = p99Met && app.Latency.P99 < ms(goalP99)
		}
		// The highest of all runs: a peak is a peak.
		var peak int64
		for _, run := range r.Runs {
			if run.ID == storeRedis+"/"+op {
				peak = max(peak, run.PeakRSSBytes)
			}
		}
		if peak > 0 {
			rsss = append(rsss, op+" "+mb(peak))
			rssMet = rssMet && peak < goalRSSBytes
		}
	}
	if len(p99s) > 0 {
		p99.Measured, p99.Status = strings.Join(p99s, ", "), judge(p99Met)
	} else if slices.ContainsFunc(r.Runs, func(res result) bool { return res.Server == serverApp && res.Store == storeRedis }) {
		p99.Measured = fmt.Sprintf("run at %s connections only", connsList(r.Options.Concurrency))
	}
	if len(rsss) > 0 {
		rss.Measured, rss.Status = strings.Join(rsss, ", "), judge(rssMet)
	}
	r.Targets = append(r.Targets, p99, rss)

	bolt := target{Goal: fmt.Sprintf("embedded store ≥ %s durable votes/s", thousands(goalBoltVotesS)), Status: statusNA, Measured: "not run"}
	for _, conns := range r.Options.Concurrency {
		if v := r.find(storeBolt+"/"+opVote, conns); v != nil {
			bolt.Measured, bolt.Status = fmt.Sprintf("%s votes/s at %d connections", thousands(v.RPS), conns), judge(v.RPS >= goalBoltVotesS)
			break
		}
	}
	r.Targets = append(r.Targets, bolt)

	loss := target{Goal: "no vote lost, none counted twice (counts and billed usage)", Status: statusNA, Measured: "not run"}
	var runs, failed int
	for _, res := range r.Runs {
		if res.Loss != nil {
			runs++
			if !res.Loss.OK {
				failed++
			}
		}
	}
	if runs > 0 {
		loss.Measured = fmt.Sprintf("%d of %d vote runs exact", runs-failed, runs)
		loss.Status = judge(failed == 0)
	}
	r.Targets = append(r.Targets, loss)
}

// roundRatios returns, sorted, the ratio of app's measure to ref's in each
// round that ran both at conns and measured both (a measure of 0 is
// unknown). The two run minutes apart within a round but up to an hour
// apart across rounds, while the machine's speed drifts: pairing them by
// round compares like with like.
func (r *report) roundRatios(app, ref string, conns int, measure func(result) float64) []float64 {
	refs := r.runsOf(ref, conns)
	var ratios []float64
	for _, a := range r.runsOf(app, conns) {
		i := slices.IndexFunc(refs, func(b result) bool { return b.Round == a.Round })
		if i < 0 || measure(a) <= 0 || measure(refs[i]) <= 0 {
			continue
		}
		ratios = append(ratios, measure(a)/measure(refs[i]))
	}
	slices.Sort(ratios)
	return ratios
}

// runsOf returns every run of scenario id at conns, in the order they ran.
func (r *report) runsOf(id string, conns int) []result {
	var runs []result
	for _, run := range r.Runs {
		if run.ID == id && run.Concurrency == conns {
			runs = append(runs, run)
		}
	}
	return runs
}

// judgeRounds judges a target on the rounds' ratios, sorted: met when the
// whole of medianInterval meets it, not met when none of it does, within
// noise when it holds both sides. With five rounds or fewer the interval is
// the lowest to the highest round, so every round must agree. No rounds:
// n/a.
func judgeRounds(ratios []float64, meets func(float64) bool) string {
	if len(ratios) == 0 {
		return statusNA
	}
	lo, hi, _ := medianInterval(ratios)
	switch {
	case meets(lo) && meets(hi):
		return statusMet
	case !meets(lo) && !meets(hi):
		return statusNotMet
	}
	return statusNoise
}

// intervalConfidence is the confidence medianInterval aims for.
const intervalConfidence = 0.95

// medianInterval returns two of the sorted ratios that bracket the median
// the machine would give over many rounds, and the probability that they
// do. It needs no assumption about the machine's noise beyond rounds being
// independent: each round falls below the true median with probability ½,
// so the k-th lowest and k-th highest of n rounds miss it only when k or
// more fall on one side, with probability 2·P(Binomial(n, ½) < k). k is
// the largest that keeps that at most 5%; with five rounds or fewer none
// does, and the interval is the lowest to the highest round (94% for five,
// 75% for three). More rounds narrow it: nine give the 2nd lowest and
// highest, twelve the 3rd, fifteen the 4th.
func medianInterval(sorted []float64) (lo, hi, confidence float64) {
	n := len(sorted)
	if n == 0 {
		return 0, 0, 0
	}
	k, confidence := 1, 1-2*binomialHalfCDF(n, 0)
	for k+1 <= (n+1)/2 {
		c := 1 - 2*binomialHalfCDF(n, k)
		if c < intervalConfidence {
			break
		}
		k, confidence = k+1, c
	}
	return sorted[k-1], sorted[n-k], confidence
}

// binomialHalfCDF is P(Binomial(n, ½) ≤ j).
func binomialHalfCDF(n, j int) float64 {
	p, term := 0.0, math.Pow(0.5, float64(n)) // C(n, 0)/2ⁿ
	for i := 0; i <= j && i <= n; i++ {
		p += term
		term = term * float64(n-i) / float64(i+1)
	}
	return min(p, 1)
}

// intervalNote tells a target's reader how far the rounds' ratios let its
// median be trusted: " (rounds 0.91–1.16×)" when the interval is the
// lowest to the highest round (up to eight rounds), else, say,
// " (96% interval 0.94–1.08×, 15 rounds)" with its confidence rounded down.
func intervalNote(sorted []float64) string {
	if len(sorted) < 2 {
		return ""
	}
	lo, hi, conf := medianInterval(sorted)
	if lo == sorted[0] && hi == sorted[len(sorted)-1] {
		return fmt.Sprintf(" (rounds %.2f–%.2f×)", lo, hi)
	}
	return fmt.Sprintf(" (%.0f%% interval %.2f–%.2f×, %d rounds)", 100*math.Floor(100*conf)/100, lo, hi, len(sorted))
}

func judge(ok bool) string {
	if ok {
		return statusMet
	}
	return statusNotMet
}

func (r *report) failedLossChecks() int {
	n := 0
	for _, res := range r.Runs {
		if res.Loss != nil && !res.Loss.OK {
			n++
		}
	}
	return n
}

// writeMarkdown prints the tables, ready to paste into the README.
func (r *report) writeMarkdown(w io.Writer) error {
	bw := bufio.NewWriter(w)
	o := r.Options
	fmt.Fprintf(bw, "Machine: %s.\n\n", r.Machine)
	fmt.Fprintf(bw, "Load: %s keep-alive connections, closed loop, %s measured after %s warm-up per scenario; "+
		"load generator, server and Redis share the machine. App LOG_LEVEL=%s. "+
		"The ceiling is redis-server alone, sent the same commands pipelined %d requests deep per connection.\n\n",
		connsList(o.Concurrency), o.Duration, o.Warmup, o.LogLevel, ceilingDepth)
	if o.Count > 1 {
		fmt.Fprintf(bw, "Each row is the median of %d runs by req/s; `vs reference` is the median of the rounds' ratios, "+
			"each round's app run against that round's reference run, and the two take turns going first. "+
			"A target compared with the reference is met when the interval that holds the median ratio "+
			"with 95%% confidence lies on its side, not met when it lies on the other, and within noise when it holds both; "+
			"with five rounds or fewer that interval is the lowest to the highest round.\n\n", o.Count)
	}
	fmt.Fprintln(bw, "| scenario | conns | req/s | p50 ms | p90 ms | p99 ms | CPU µs/req server | CPU µs/req server + Redis | req per Redis round trip | errors | peak RSS | vs reference | of ceiling | loss check |")
	fmt.Fprintln(bw, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, res := range r.Results {
		vs, ceil, loss, total, perTrip := "—", "—", "—", "—", "—"
		if res.RequestsPerRoundTrip > 0 {
			perTrip = strconv.FormatFloat(res.RequestsPerRoundTrip, 'f', 1, 64)
		}
		if res.VsReference > 0 {
			vs = fmt.Sprintf("%.2f×", res.VsReference)
		}
		if res.VsCeiling > 0 {
			ceil = fmt.Sprintf("%.0f%%", 100*res.VsCeiling)
		}
		if res.Loss != nil {
			loss = res.Loss.String()
		}
		if res.Store == storeRedis {
			total = cpuUS(res.totalCPU())
		}
		lat := fmt.Sprintf("%.2f | %.2f | %.2f", res.Latency.P50, res.Latency.P90, res.Latency.P99)
		server, rss := cpuUS(res.CPUPerRequestUS), mb(res.PeakRSSBytes)
		if res.Server == serverCeiling {
			lat, server, rss, perTrip = "— | — | —", "—", "—", strconv.Itoa(ceilingDepth)
		}
		fmt.Fprintf(bw, "| %s | %d | %s | %s | %s | %s | %s | %d | %s | %s | %s | %s |\n",
			res.Label(), res.Concurrency, thousands(res.RPS), lat, server, total, perTrip, res.Errors, rss, vs, ceil, loss)
	}
	fmt.Fprintln(bw)
	fmt.Fprintln(bw, "| target | measured | result |")
	fmt.Fprintln(bw, "|---|---|---|")
	for _, t := range r.Targets {
		fmt.Fprintf(bw, "| %s | %s | %s |\n", t.Goal, t.Measured, t.Status)
	}
	return bw.Flush()
}

// writeJSON writes the whole report to path.
func (r *report) writeJSON(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// connsList formats concurrencies: "16 and 64".
func connsList(conns []int) string {
	s := make([]string, len(conns))
	for i, c := range conns {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, " and ")
}

// cpuUS formats CPU microseconds per request; 0 is unknown.
func cpuUS(us float64) string {
	if us <= 0 {
		return "n/a"
	}
	return strconv.FormatFloat(us, 'f', 0, 64)
}

// mb formats bytes in MB (10^6, as the target is stated); 0 is unknown.
func mb(n int64) string {
	if n <= 0 {
		return "n/a"
	}
	return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + " MB"
}

// thousands formats a rate or count rounded to an integer with thousands
// separators.
func thousands(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "n/a"
	}
	s := strconv.FormatInt(int64(math.Round(f)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
