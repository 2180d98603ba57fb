package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Phases of a fault run: votes flow before the fault and after recovery, so
// that both edges are measured.
const (
	faultBefore   = 3 * time.Second
	faultAfter    = 3 * time.Second
	faultRecovery = time.Minute // most a run waits for votes to be acknowledged again
	// restartDelay is how long a killed Redis stays away before it is
	// started again, as a supervisor would.
	restartDelay = time.Second
)

// faultResult is what one fault run measured. Stored is read from Redis
// after the run. With a token every vote a voter gave up on may still
// have been stored; without, every failed vote.
type faultResult struct {
	Fault   string `json:"fault"`
	Acked   int64  `json:"acknowledged"`
	Stored  int64  `json:"stored"`
	Usage   int64  `json:"usage"`
	GaveUp  int64  `json:"gaveUp"`
	Retries int64  `json:"retries"`
	// Tokens: votes sent with the form's token, and without (a page with no
	// token field).
	Tokens   int64         `json:"tokens"`
	NoTokens int64         `json:"noTokens"`
	Recovery time.Duration `json:"recoveryNs"`
}

// lost is the acknowledged votes Redis does not hold; storedRefused the
// votes Redis holds that no client had acknowledged. Only their difference
// is known when both happen in one run, which only a failover can cause.
func (r faultResult) lost() int64          { return max(0, r.Acked-r.Stored) }
func (r faultResult) storedRefused() int64 { return max(0, r.Stored-r.Acked) }

// faultBench runs the app's processes for the fault runs.
type faultBench struct {
	opts     options
	voters   int // the first -c: concurrent voters
	log      io.Writer
	tmp      string
	appBin   string
	redisBin string
}

// runFaults runs each fault under vote load on a fresh Redis and prints the
// table of what was acknowledged, stored and lost.
func runFaults(ctx context.Context, o options, stdout, stderr io.Writer) (err error) {
	tmp, err := os.MkdirTemp("", "azure-vote-faults-")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(tmp)) }()
	f := &faultBench{opts: o, voters: o.Concurrency[0], log: stderr, tmp: tmp}
	if f.redisBin, err = exec.LookPath("redis-server"); err != nil {
		return fmt.Errorf("redis-server is not on PATH (%w); install it with: apt-get install -y redis-server", err)
	}
	if f.appBin = o.appBin; f.appBin == "" {
		if f.appBin, _, err = buildApp(ctx, tmp, false, stderr); err != nil {
			return err
		}
	}
	runs := []struct {
		name string
		run  func(context.Context, string) (faultResult, error)
	}{
		{"Redis SIGKILL, restarted after " + restartDelay.String() + " (appendfsync always)", f.killRedis},
		{"Redis SIGSTOP for " + o.stall.String(), f.stallRedis},
		{"Sentinel: master SIGKILL, replica promoted", f.sentinelKill},
		{"Sentinel: SENTINEL FAILOVER", f.sentinelFailover},
		{"Sentinel: SENTINEL FAILOVER, 2 replicas, min-replicas-to-write 1, min-replicas-max-lag 1", f.sentinelFailoverMinReplicas},
	}
	var results []faultResult
	for i, r := range runs {
		dir := filepath.Join(tmp, "fault-"+strconv.Itoa(i+1))
		if err := os.Mkdir(dir, 0o700); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "%s: %d voters...\n", r.name, f.voters)
		res, err := r.run(ctx, dir)
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		res.Fault = r.name
		fmt.Fprintf(stderr, "  acknowledged %d, stored %d, gave up %d, retries %d, recovery %s\n",
			res.Acked, res.Stored, res.GaveUp, res.Retries, res.Recovery.Round(time.Millisecond))
		results = append(results, res)
	}
	return writeFaultTable(stdout, results)
}

func writeFaultTable(w io.Writer, results []faultResult) error {
	var err error
	pr := func(format string, a ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, a...)
		}
	}
	pr("| fault, under vote load | acknowledged | stored | acknowledged but lost | stored but refused | given up | retries | recovery | votes with a token |\n")
	pr("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		tokens := fmt.Sprintf("%d of %d", r.Tokens, r.Tokens+r.NoTokens)
		pr("| %s | %d | %d | %d | %d | %d | %d | %.1f s | %s |\n", r.Fault, r.Acked, r.Stored, r.lost(), r.storedRefused(),
			r.GaveUp, r.Retries, r.Recovery.Seconds(), tokens)
	}
	for _, r := range results {
		if r.Usage != r.Stored {
			pr("\n%s: usage %d differs from votes %d\n", r.Fault, r.Usage, r.Stored)
		}
	}
	return err
}

// measure starts the app on REDIS=redisAddr, votes, calls inject, which
// returns once the fault is over, waits for votes to be acknowledged again,
// votes a little longer, lets every voter finish, and counts what counter
// reads from Redis.
func (f *faultBench) measure(ctx context.Context, dir, redisAddr string, counter *redis.Client, inject func() error) (faultResult, error) {
	var res faultResult
	var base string
	app, _, err := startOnFreePort(func(port int) (*proc, error) {
		base = "http://127.0.0.1:" + strconv.Itoa(port)
		return startServing(ctx, "app", f.appBin, nil,
			serverEnv("PORT="+strconv.Itoa(port), "REDIS="+redisAddr, "DATA_DIR="+dir, "LOG_LEVEL="+f.opts.LogLevel), filepath.Join(dir, "app.log"), base)
	})
	if err != nil {
		return res, err
	}
	if err := checkLoopback(base); err != nil {
		return res, errors.Join(err, app.stop())
	}
	load := startVoterLoad(base, f.voters)
	err = func() error {
		if err := sleepCtx(ctx, faultBefore); err != nil {
			return err
		}
		load.fault()
		if err := inject(); err != nil {
			return err
		}
		rec, err := load.recovered(ctx, time.Now(), faultRecovery)
		if err != nil {
			return err
		}
		res.Recovery = rec
		return sleepCtx(ctx, faultAfter)
	}()
	load.stop()
	err = errors.Join(err, app.stop())
	if err != nil {
		return res, err
	}
	res.Acked, res.GaveUp, res.Retries = load.acked.Load(), load.gaveUp.Load(), load.retries.Load()
	res.Tokens, res.NoTokens = load.withToken.Load(), load.noToken.Load()
	if res.Stored, res.Usage, err = redisCounts(ctx, counter); err != nil {
		return res, fmt.Errorf("count: %w", err)
	}
	return res, nil
}

// killRedis: SIGKILL of a Redis that fsyncs every write, and a restart on
// the same port and files.
func (f *faultBench) killRedis(ctx context.Context, dir string) (faultResult, error) {
	durable := []string{"--appendonly", "yes", "--appendfsync", "always"}
	var addr string
	var port int
	rs, port, err := startOnFreePort(func(port int) (*proc, error) {
		addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		return startRedisOn(ctx, f.redisBin, "redis-server", dir, port, durable...)
	})
	if err != nil {
		return faultResult{}, err
	}
	counter := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer counter.Close()
	res, err := f.measure(ctx, dir, addr, counter, func() error {
		rs.kill()
		if err := sleepCtx(ctx, restartDelay); err != nil {
			return err
		}
		rs, err = startRedisOn(ctx, f.redisBin, "redis-server", dir, port, durable...)
		return err
	})
	if rs != nil && rs.running() {
		err = errors.Join(err, rs.stop())
	}
	return res, err
}

// stallRedis: SIGSTOP, the stall of a swapped-out or frozen server, and
// SIGCONT after -stall.
func (f *faultBench) stallRedis(ctx context.Context, dir string) (faultResult, error) {
	rs, addr, err := startRedis(ctx, dir)
	if err != nil {
		return faultResult{}, err
	}
	counter := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer counter.Close()
	res, err := f.measure(ctx, dir, addr, counter, func() error {
		if err := rs.signal(pauseSignal); err != nil {
			return err
		}
		err := sleepCtx(ctx, f.opts.stall)
		return errors.Join(err, rs.signal(resumeSignal))
	})
	return res, errors.Join(err, rs.stop())
}

// sentinelKill: SIGKILL of the master of a Sentinel group; the Sentinels
// promote a replica, and the app must follow without a restart.
func (f *faultBench) sentinelKill(ctx context.Context, dir string) (faultResult, error) {
	return f.sentinelRun(ctx, dir, 1, nil, func(g *sentinelGroup, master string) (string, error) {
		g.data[master].kill()
		return g.promoted(ctx, master)
	})
}

// sentinelFailover: SENTINEL FAILOVER, a planned switch of the master.
func (f *faultBench) sentinelFailover(ctx context.Context, dir string) (faultResult, error) {
	return f.sentinelRun(ctx, dir, 1, nil, func(g *sentinelGroup, master string) (string, error) {
		return g.failover(ctx, master)
	})
}

// minReplicas is what the README asks publishers of a Sentinel install to
// set on every data server: a master that has heard from no replica for a
// second refuses writes, so a master being replaced stops acknowledging
// votes it can no longer pass on.
var minReplicas = []string{"--min-replicas-to-write", "1", "--min-replicas-max-lag", "1"}

// sentinelFailoverMinReplicas: SENTINEL FAILOVER with two replicas and
// minReplicas. With one replica the new master would have none left and
// refuse every vote until the old one rejoined it.
func (f *faultBench) sentinelFailoverMinReplicas(ctx context.Context, dir string) (faultResult, error) {
	return f.sentinelRun(ctx, dir, 2, minReplicas, func(g *sentinelGroup, master string) (string, error) {
		return g.failover(ctx, master)
	})
}

// sentinelRun runs fault, which returns the server the Sentinels promoted,
// on a new Sentinel group, and waits until the group has settled on it.
func (f *faultBench) sentinelRun(ctx context.Context, dir string, replicas int, serverArgs []string,
	fault func(g *sentinelGroup, master string) (string, error)) (faultResult, error) {
	g, err := startSentinelGroup(ctx, f.redisBin, dir, replicas, serverArgs...)
	if err != nil {
		return faultResult{}, err
	}
	counter := g.client()
	defer counter.Close()
	res, err := f.measure(ctx, dir, g.url(), counter, func() error {
		master, err := g.master(ctx)
		if err != nil {
			return err
		}
		next, err := fault(g, master)
		if err != nil {
			return err
		}
		return g.waitMaster(ctx, next)
	})
	return res, errors.Join(err, g.stop())
}

// running reports whether the process has not exited.
func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill ends the process at once (SIGKILL), as a crash would, and waits.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

func (p *proc) signal(sig syscall.Signal) error {
	if sig == 0 {
		return errors.New("pausing a process is supported on Linux only")
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("%s: %v: %w", p.name, sig, err)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
