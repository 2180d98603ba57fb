package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// scenario is one measured run: which server, on which store, doing what.
type scenario struct {
	Server string `json:"server"` // serverApp or serverReference
	Store  string `json:"store"`  // storeRedis or storeBolt
	Op     string `json:"op"`     // opVote or opPage
}

const (
	serverApp       = "app"
	serverReference = "reference"
	// serverCeiling is no server: a Go loop pipelining the reference's
	// commands straight to Redis, the most the machine's Redis can do.
	serverCeiling = "ceiling"
	storeRedis    = "redis"
	storeBolt     = "bolt"
	opVote        = "vote"
	opPage        = "page"
)

// allScenarios lists the scenarios in the order they run and are printed:
// each app run follows the reference run it is compared with.
func allScenarios() []scenario {
	return []scenario{
		{serverReference, storeRedis, opVote},
		{serverApp, storeRedis, opVote},
		{serverCeiling, storeRedis, opVote},
		{serverReference, storeRedis, opPage},
		{serverApp, storeRedis, opPage},
		{serverCeiling, storeRedis, opPage},
		{serverApp, storeBolt, opVote},
		{serverApp, storeBolt, opPage},
	}
}

// ID names the scenario on the command line: reference/vote, redis/page...
func (s scenario) ID() string {
	if s.Server == serverReference || s.Server == serverCeiling {
		return s.Server + "/" + s.Op
	}
	return s.Store + "/" + s.Op
}

// Label names the scenario in the table.
func (s scenario) Label() string {
	req := "POST / (vote)"
	if s.Op == opPage {
		req = "GET / (page)"
	}
	switch {
	case s.Server == serverReference:
		return "reference (net/http + go-redis): " + req
	case s.Server == serverCeiling:
		return "ceiling (redis-server alone, pipelined): " + req
	case s.Store == storeRedis:
		return "app, Redis: " + req
	default:
		return "app, embedded bbolt: " + req
	}
}

func scenarioIDs() []string {
	var ids []string
	for _, s := range allScenarios() {
		ids = append(ids, s.ID())
	}
	return ids
}

// Choices of the app's default configuration; the bench votes for both.
const (
	vote1 = "Cats"
	vote2 = "Dogs"
)

// voteForms are the bodies a vote run alternates between.
func voteForms() []string { return []string{"vote=" + vote1, "vote=" + vote2} }

// bench holds what all scenarios share: the binaries, the Redis server and
// a client of it for flushing and counting.
type bench struct {
	opts      options
	log       io.Writer
	tmp       string
	appBin    string
	selfBin   string
	refBin    string // serves the reference with serveReferenceCmd
	redis     *proc
	redisAddr string
	rdb       *redis.Client
	machine   machine
}

func newBench(ctx context.Context, o options, log io.Writer) (_ *bench, err error) {
	tmp, err := os.MkdirTemp("", "azure-vote-bench-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	b := &bench{opts: o, log: log, tmp: tmp}
	defer func() {
		if err != nil {
			err = errors.Join(err, b.close())
		}
	}()
	if b.selfBin, err = os.Executable(); err != nil {
		return nil, fmt.Errorf("find the bench binary: %w", err)
	}
	b.appBin = o.appBin
	if b.appBin == "" {
		if b.appBin, b.refBin, err = buildApp(ctx, tmp, true, log); err != nil {
			return nil, err
		}
	} else if b.appBin, err = filepath.Abs(b.appBin); err != nil {
		return nil, err
	}
	if b.refBin == "" { // a given app: the reference is this bench binary
		b.refBin = b.selfBin
	}
	redisDir := filepath.Join(tmp, "redis")
	if err := os.Mkdir(redisDir, 0o700); err != nil {
		return nil, err
	}
	if b.redis, b.redisAddr, err = startRedis(ctx, redisDir); err != nil {
		return nil, err
	}
	b.rdb = redis.NewClient(&redis.Options{Addr: b.redisAddr, MaxRetries: -1})
	b.machine = readMachine(ctx, tmp, b.appBin)
	return b, nil
}

// buildApp builds the app of the current module into dir; with reference,
// the reference too, from the bench's own package. Both are built as the
// Dockerfile builds the image: static (no cgo, so no libc mapped in),
// trimmed and stripped, so that each is measured as it would ship.
func buildApp(ctx context.Context, dir string, reference bool, log io.Writer) (appBin, refBin string, err error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", "", fmt.Errorf("find the module to build (run from inside it, or pass -app): %v", err)
	}
	fmt.Fprintf(log, "building from %s\n", filepath.Dir(gomod))
	build := func(out, pkg string) error {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
		cmd.Dir = filepath.Dir(gomod)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
		}
		return nil
	}
	appBin = filepath.Join(dir, "azure-vote")
	if err := build(appBin, "."); err != nil {
		return "", "", err
	}
	if reference {
		refBin = filepath.Join(dir, "reference")
		if err := build(refBin, "./bench"); err != nil {
			return "", "", err
		}
	}
	return appBin, refBin, nil
}

func (b *bench) close() error {
	var errs []error
	if b.rdb != nil {
		_ = b.rdb.Close()
	}
	if b.redis != nil {
		errs = append(errs, b.redis.stop())
	}
	errs = append(errs, os.RemoveAll(b.tmp))
	return errors.Join(errs...)
}

// runAll runs the selected scenarios in order, -count rounds of them, so
// that a passing disturbance on a shared machine hits one run of each
// rather than all runs of one. A scenario that cannot run stops the bench;
// the report then holds the runs done so far.
func (b *bench) runAll(ctx context.Context) (*report, error) {
	r := &report{Machine: b.machine, Options: b.opts, Started: time.Now().UTC()}
	fmt.Fprintf(b.log, "%v connections, %s warm-up + %s per scenario, %d round(s)\n",
		b.opts.Concurrency, b.opts.Warmup, b.opts.Duration, b.opts.Count)
	var err error
rounds:
	for round := 1; round <= b.opts.Count; round++ {
		for _, conns := range b.opts.Concurrency {
			for _, sc := range roundOrder(round) {
				if len(b.opts.only) > 0 && !slices.Contains(b.opts.only, sc.ID()) {
					continue
				}
				res, rerr := b.runScenario(ctx, sc, conns)
				if rerr != nil {
					err = fmt.Errorf("%s at %d connections: %w", sc.ID(), conns, rerr)
					break rounds
				}
				res.Round = round
				fmt.Fprintf(b.log, "%-15s c=%-3d #%d  %s\n", sc.ID(), conns, round, res.summary())
				r.Runs = append(r.Runs, res)
			}
		}
	}
	r.finish()
	return r, err
}

// roundOrder is the order in which round runs the scenarios: every other
// round runs them backwards, so that the app and the reference, which run
// one after the other, take turns going first. Each round's ratio then
// carries no bias of its own from going second on a machine whose state
// (caches, a neighbour's load) changes as the round goes on.
func roundOrder(round int) []scenario {
	s := allScenarios()
	if round%2 == 0 {
		slices.Reverse(s)
	}
	return s
}

// runScenario starts a fresh server (and empties Redis), so that each
// measurement starts from the same state and its peak memory is its own.
func (b *bench) runScenario(ctx context.Context, sc scenario, conns int) (_ result, err error) {
	if sc.Store == storeRedis {
		if err := b.rdb.FlushAll(ctx).Err(); err != nil {
			return result{}, fmt.Errorf("empty redis: %w", err)
		}
		if err := b.rdb.ConfigResetStat(ctx).Err(); err != nil {
			return result{}, fmt.Errorf("reset redis stats: %w", err)
		}
	}
	if sc.Server == serverCeiling {
		return b.runCeiling(ctx, sc, conns)
	}
	srv, base, err := b.startServer(ctx, sc)
	if err != nil {
		return result{}, err
	}
	defer func() {
		if serr := srv.stop(); serr != nil {
			err = errors.Join(err, serr)
		}
	}()
	if sc.Op == opPage {
		// A page with counts on it, as users see it.
		c := &http.Client{Timeout: requestTimeout}
		for _, form := range voteForms() {
			if err := do(ctx, c, http.MethodPost, base+"/", []byte(form)); err != nil {
				return result{}, fmt.Errorf("seed votes: %w", err)
			}
		}
	}
	spec := loadSpec{
		URL: base + "/", Method: http.MethodGet,
		Concurrency: conns, Warmup: b.opts.Warmup, Duration: b.opts.Duration,
		MaxRequests: b.opts.MaxRequests,
	}
	if sc.Op == opVote {
		spec.Method, spec.Forms = http.MethodPost, voteForms()
	}
	cpu0, cpuErr := srv.cpuTime()
	rcpu0, rcpuErr := redisCPU(ctx, b.rdb)
	lr, err := runLoad(ctx, spec)
	if err != nil {
		return result{}, err
	}
	res := newResult(sc, conns, lr)
	n := lr.OKTotal + lr.ErrorsTotal
	if cpu1, err := srv.cpuTime(); err == nil && cpuErr == nil && n > 0 {
		res.CPUPerRequestUS = perRequestUS(cpu1-cpu0, n)
	}
	if rcpu1, err := redisCPU(ctx, b.rdb); err == nil && rcpuErr == nil && n > 0 && sc.Store == storeRedis {
		res.RedisCPUPerRequestUS = perRequestUS(rcpu1-rcpu0, n)
	}
	if sc.Store == storeRedis {
		calls, err := redisRoundTrips(ctx, b.rdb)
		if err != nil {
			return result{}, err
		}
		if calls > 0 {
			res.RequestsPerRoundTrip = float64(n) / float64(calls)
		}
	}
	if mem, err := srv.memory(); err == nil {
		res.PeakRSSBytes, res.RSSAnonBytes, res.RSSFileBytes = mem.PeakRSS, mem.RssAnon, mem.RssFile
	} else {
		fmt.Fprintf(b.log, "%s: %v\n", sc.ID(), err)
	}
	if sc.Op == opVote {
		lc, err := b.lossCheck(ctx, sc, base, lr)
		if err != nil {
			return result{}, err
		}
		res.Loss = &lc
	}
	return res, nil
}

// redisRoundTrips counts the commands that carried requests since the
// stats were reset: EXEC (the reference's votes), EVALSHA and EVAL (the
// app's vote groups) and HGETALL outside them (pages). Commands inside a
// MULTI or a script are counted by Redis too, so those are subtracted.
func redisRoundTrips(ctx context.Context, rdb *redis.Client) (int64, error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return 0, fmt.Errorf("redis commandstats: %w", err)
	}
	calls := func(cmd string) int64 {
		_, rest, ok := strings.Cut(info, "cmdstat_"+cmd+":calls=")
		if !ok {
			return 0
		}
		end := strings.IndexByte(rest, ',')
		if end < 0 {
			return 0
		}
		n, _ := strconv.ParseInt(rest[:end], 10, 64)
		return n
	}
	exec, scripts := calls("exec"), calls("evalsha")+calls("eval")
	// A MULTI holds one HGETALL; a script one too: the rest are page reads.
	pages := calls("hgetall") - exec - scripts
	return exec + scripts + max(0, pages), nil
}

// redisCPU is redis-server's CPU time so far, user and system, as INFO
// reports it, in microseconds: /proc counts 10 ms ticks, which a short run
// with little Redis work can miss altogether.
func redisCPU(ctx context.Context, rdb *redis.Client) (time.Duration, error) {
	info := rdb.InfoMap(ctx, "cpu")
	if err := info.Err(); err != nil {
		return 0, fmt.Errorf("redis cpu: %w", err)
	}
	var seconds float64
	for _, key := range []string{"used_cpu_user", "used_cpu_sys"} {
		v, err := strconv.ParseFloat(info.Item("CPU", key), 64)
		if err != nil {
			return 0, fmt.Errorf("redis cpu: %s: %w", key, err)
		}
		seconds += v
	}
	return time.Duration(seconds * float64(time.Second)), nil
}

// perRequestUS is CPU time per request in microseconds.
func perRequestUS(cpu time.Duration, requests int64) float64 {
	return float64(cpu) / float64(time.Microsecond) / float64(requests)
}

// startServer starts the scenario's server and waits until it is ready.
func (b *bench) startServer(ctx context.Context, sc scenario) (*proc, string, error) {
	// Every app gets its own data directory: the embedded store's file, and
	// the local emulator's state with Redis, stay out of the working directory.
	dataDir, err := os.MkdirTemp(b.tmp, "data-")
	if err != nil {
		return nil, "", err
	}
	logPath := filepath.Join(b.tmp, strings.ReplaceAll(sc.ID(), "/", "-")+".log")
	var base string
	p, _, err := startOnFreePort(func(port int) (*proc, error) {
		base = "http://127.0.0.1:" + strconv.Itoa(port)
		if sc.Server == serverReference {
			return startServing(ctx, "reference", b.refBin,
				[]string{serveReferenceCmd, "-port", strconv.Itoa(port), "-redis", b.redisAddr},
				serverEnv(), logPath, base)
		}
		env := serverEnv("PORT="+strconv.Itoa(port), "DATA_DIR="+dataDir, "LOG_LEVEL="+b.opts.LogLevel)
		if sc.Store == storeRedis {
			env = append(env, "REDIS="+b.redisAddr)
		}
		return startServing(ctx, "app", b.appBin, nil, env, logPath, base)
	})
	return p, base, err
}

// lossCheck counts the votes and the billed usage stored after a vote run
// and compares them with the votes the server acknowledged.
func (b *bench) lossCheck(ctx context.Context, sc scenario, base string, lr loadResult) (lossCheck, error) {
	lc := lossCheck{Acked: lr.OKTotal, Unknown: lr.ErrorsTotal}
	var err error
	if sc.Store == storeRedis {
		lc.Votes, lc.Usage, err = redisCounts(ctx, b.rdb)
	} else {
		lc.Votes, lc.Usage, err = appCounts(ctx, base)
	}
	if err != nil {
		return lossCheck{}, fmt.Errorf("loss check: %w", err)
	}
	lc.OK = lc.holds()
	return lc, nil
}

// redisCounts reads the vote counts and the usage counters of every hour.
func redisCounts(ctx context.Context, rdb *redis.Client) (votes, usage int64, err error) {
	counts, err := rdb.HGetAll(ctx, votesKey).Result()
	if err != nil {
		return 0, 0, fmt.Errorf("read votes: %w", err)
	}
	for choice, v := range counts {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("count of %q is %q", choice, v)
		}
		votes += n
	}
	hours, err := rdb.ZRange(ctx, hoursKey, 0, -1).Result()
	if err != nil {
		return 0, 0, fmt.Errorf("read usage hours: %w", err)
	}
	for _, h := range hours {
		n, err := rdb.Get(ctx, usageKey(h)).Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return 0, 0, fmt.Errorf("read usage of %s: %w", h, err)
		}
		usage += n
	}
	return votes, usage, nil
}

// resultsLine is the page's count line: "Cats - 12 | Dogs - 7".
var resultsLine = regexp.MustCompile(`<div id="results">\s*[^<]*? - (\d+) \| [^<]*? - (\d+)\s*</div>`)

// appCounts reads the counts through the app itself: the vote page's
// results line and the usage counters of /api/usage.
func appCounts(ctx context.Context, base string) (votes, usage int64, err error) {
	page, err := get(ctx, base+"/")
	if err != nil {
		return 0, 0, err
	}
	if votes, err = parseResults(page); err != nil {
		return 0, 0, err
	}
	body, err := get(ctx, base+"/api/usage")
	if err != nil {
		return 0, 0, err
	}
	if usage, err = parseUsage(body); err != nil {
		return 0, 0, err
	}
	return votes, usage, nil
}

func get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: requestTimeout}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}

// parseResults adds up the two counts of the vote page.
func parseResults(page []byte) (int64, error) {
	m := resultsLine.FindSubmatch(page)
	if m == nil {
		return 0, errors.New("no results line on the vote page")
	}
	var total int64
	for _, g := range m[1:] {
		n, err := strconv.ParseInt(string(g), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("results line: %w", err)
		}
		total += n
	}
	return total, nil
}
