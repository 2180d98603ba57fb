// Command bench is the load benchmark of azure-vote: it runs the app against
// a throw-away Redis and on its embedded store, and beside it a bare
// reference server doing the same Redis work with go-redis and net/http
// alone, and compares them.
//
//	go run ./bench                  16 and 64 connections, 10s per scenario
//	go run ./bench -c 64 -d 30s     one concurrency, longer runs
//	go run ./bench -only redis/vote -app ./azure-vote
//	go run ./bench -faults          Redis SIGKILL, SIGSTOP and Sentinel failovers under vote load
//
// Every server is a process of its own on a free port of 127.0.0.1, so its
// peak memory can be read from /proc. After each vote run the votes stored
// are counted and compared with the votes acknowledged: a run that lost or
// double counted a vote fails. The table goes to stdout (markdown), the
// details to a JSON file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == serveReferenceCmd {
		if err := serveReference(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// serveReferenceCmd is the command under which the bench runs the reference
// server as its own process.
const serveReferenceCmd = "serve-reference"

// options are the command-line settings.
type options struct {
	Concurrency []int         `json:"concurrency"`
	Duration    time.Duration `json:"-"`
	Warmup      time.Duration `json:"-"`
	MaxRequests int64         `json:"maxRequests"`
	Count       int           `json:"count"`
	LogLevel    string        `json:"logLevel"`
	DurationS   float64       `json:"durationSeconds"`
	WarmupS     float64       `json:"warmupSeconds"`

	jsonPath string
	appBin   string
	only     []string
	faults   bool          // run the fault benchmark instead
	stall    time.Duration // how long the fault benchmark stops Redis
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conns := fs.String("c", "16,64", "concurrent keep-alive connections: one number, or several separated by commas, each run in turn")
	fs.DurationVar(&o.Duration, "d", 10*time.Second, "measured duration of each scenario")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "warm-up before each measurement")
	fs.IntVar(&o.Count, "count", 1, "rounds of all scenarios; each scenario reports its median run by req/s")
	fs.Int64Var(&o.MaxRequests, "n", 5_000_000, "most requests of one scenario, warm-up included")
	fs.StringVar(&o.jsonPath, "json", "bench-results.json", "file for the JSON results (empty: none)")
	fs.StringVar(&o.appBin, "app", "", "the app binary to run (default: build it from the module)")
	fs.StringVar(&o.LogLevel, "log-level", "info", "LOG_LEVEL of the app (info logs every request, as deployed)")
	fs.BoolVar(&o.faults, "faults", false, "run the fault benchmark: Redis SIGKILL, SIGSTOP and Sentinel failovers under vote load, with the first -c as voters")
	fs.DurationVar(&o.stall, "stall", 10*time.Second, "with -faults: how long Redis is stopped (SIGSTOP)")
	only := fs.String("only", "", "comma-separated scenarios to run, e.g. redis/vote,reference/vote (default: all)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./bench [flags]\n\nscenarios: %s\n\nflags:\n", strings.Join(scenarioIDs(), ", "))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for f := range strings.SplitSeq(*conns, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 || c > 4096 {
			return o, fmt.Errorf("-c %q: each must be a number 1-4096", *conns)
		}
		if !slices.Contains(o.Concurrency, c) {
			o.Concurrency = append(o.Concurrency, c)
		}
	}
	switch {
	case o.Duration <= 0 || o.Duration > time.Hour:
		return o, fmt.Errorf("-d %s: must be positive and at most an hour", o.Duration)
	case o.Warmup < 0 || o.Warmup > time.Minute:
		return o, fmt.Errorf("-warmup %s: must be 0 to 1m", o.Warmup)
	case o.Count < 1 || o.Count > 100:
		return o, fmt.Errorf("-count %d: must be 1-100", o.Count)
	case o.MaxRequests < 1:
		return o, fmt.Errorf("-n %d: must be positive", o.MaxRequests)
	case o.stall <= 0 || o.stall > 10*time.Minute:
		return o, fmt.Errorf("-stall %s: must be positive and at most 10m", o.stall)
	}
	if *only != "" {
		known := scenarioIDs()
		for id := range strings.SplitSeq(*only, ",") {
			id = strings.TrimSpace(id)
			if !slices.Contains(known, id) {
				return o, fmt.Errorf("-only: unknown scenario %q (known: %s)", id, strings.Join(known, ", "))
			}
			o.only = append(o.only, id)
		}
	}
	o.DurationS, o.WarmupS = o.Duration.Seconds(), o.Warmup.Seconds()
	return o, nil
}

// run is main without the process around it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	if o.faults {
		return runFaults(ctx, o, stdout, stderr)
	}
	b, err := newBench(ctx, o, stderr)
	if err != nil {
		return err
	}
	report, runErr := b.runAll(ctx)
	if err := b.close(); err != nil {
		runErr = errors.Join(runErr, err)
	}
	if report == nil {
		return runErr
	}
	if err := report.writeMarkdown(stdout); err != nil {
		return errors.Join(runErr, err)
	}
	if o.jsonPath != "" {
		if err := report.writeJSON(o.jsonPath); err != nil {
			return errors.Join(runErr, err)
		}
		fmt.Fprintf(stderr, "results written to %s\n", o.jsonPath)
	}
	if runErr != nil {
		return runErr
	}
	if n := report.failedLossChecks(); n > 0 {
		return fmt.Errorf("%d vote run(s) lost or double counted votes", n)
	}
	return nil
}
