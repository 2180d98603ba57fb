package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/emulator"
	"github.com/azure-vote/azure-vote/web"
)

// reportOnce runs one metering pass with the configured store, lock and
// ledger: what the hourly job does, on an operator's demand.
func reportOnce(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	m, err := NewMain(getenv, stderr)
	if err != nil {
		return err
	}
	if m.Config.Metering.Local() {
		return errors.New("report: no metering target configured (set EXTENSION_RESOURCE_ID and PLAN_ID, or METERING_ENDPOINT); in local mode the running app reports to its own emulator")
	}
	return withReporter(m, "report", stderr, func(r *metering.Reporter) (any, error) { return r.Pass(ctx) })
}

// withReporter opens the configured store and reporter, as the server
// would, runs f with the reporter and prints its result as JSON.
func withReporter(m *Main, cmd string, stdout io.Writer, f func(*metering.Reporter) (any, error)) error {
	st, err := m.openStore()
	if err != nil {
		return err
	}
	defer st.Close()
	ms, err := m.newMetering(st, nil, nil)
	if err != nil {
		return err
	}
	defer ms.close()
	if ms.reporter == nil {
		return fmt.Errorf("%s: reporting is paused: %s", cmd, ms.detail)
	}
	res, err := f(ms.reporter)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// settleHour records an operator's verdict on an unresolved hour, with the
// same lock and ledger as report: azure-vote settle HOUR --as accepted|carry
// --reason "...". The operator checks Partner Center first; the ledger keeps
// who decided, when and why.
func settleHour(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("settle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	as := fs.String("as", "", "accepted (the service holds the hour) or carry (it does not: carry its usage)")
	reason := fs.String("reason", "", "why, e.g. what Partner Center shows (required)")
	by := fs.String("by", cmp.Or(getenv("USER"), "operator"), "who decides")
	var hourArg string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		hourArg, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if hourArg == "" && fs.NArg() > 0 {
		hourArg = fs.Arg(0)
	}
	if hourArg == "" {
		return errors.New("settle: name the hour, e.g. azure-vote settle 2026-11-22T08 --as carry --reason \"...\"")
	}
	hour, err := parseHourArg(hourArg)
	if err != nil {
		return err
	}
	m, err := NewMain(getenv, stderr)
	if err != nil {
		return err
	}
	return withReporter(m, "settle", stderr, func(r *metering.Reporter) (any, error) {
		rec, err := r.Settle(ctx, m.Config.Metering.Dimension, hour, metering.Verdict(*as), *reason, *by)
		if err != nil {
			return nil, fmt.Errorf("settle: %w", err)
		}
		return rec, nil
	})
}

// parseHourArg reads an hour as the data contract names it (2026-11-22T08)
// or as an RFC 3339 time within it.
func parseHourArg(s string) (time.Time, error) {
	if t, err := time.ParseInLocation("2006-01-02T15", s, time.UTC); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return metering.HourOf(t), nil
	}
	return time.Time{}, fmt.Errorf("settle: %q is not an hour: write it as 2026-11-22T08 (UTC)", s)
}

// serveEmulator serves the Metering API emulator alone, for partners'
// tests and demos: point METERING_ENDPOINT at http://<addr>/api.
func serveEmulator(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8090", "address to listen on")
	var f emulator.Faults
	fs.Float64Var(&f.ErrorRate, "error-rate", 0, "fraction of requests answered 500/503")
	fs.Float64Var(&f.ThrottleRate, "throttle-rate", 0, "fraction of requests answered 429")
	fs.DurationVar(&f.RetryAfter, "retry-after", time.Second, "Retry-After of a 429")
	fs.DurationVar(&f.Latency, "latency", 0, "delay added to every request")
	fs.Float64Var(&f.DropRate, "drop-rate", 0, "fraction of connections closed without an answer")
	level := fs.String("log-level", "info", "log level")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for name, v := range map[string]float64{"-error-rate": f.ErrorRate, "-throttle-rate": f.ThrottleRate, "-drop-rate": f.DropRate} {
		if v < 0 || v > 1 {
			return fmt.Errorf("emulator: %s=%v: must be between 0 and 1", name, v)
		}
	}
	if f.ErrorRate+f.ThrottleRate+f.DropRate > 1 {
		return errors.New("emulator: -error-rate + -throttle-rate + -drop-rate must not exceed 1")
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("emulator: -log-level=%q: must be debug, info, warn or error", *level)
	}
	log := newLogger(stderr, lvl)
	emu := emulator.New(emulator.Options{Faults: f, Logger: log})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("emulator: listen on %s: %w", *addr, err)
	}
	serving := web.Serve(web.NewHTTPServer(*addr, emu), ln)
	log.Info("metering emulator serving", "endpoint", "http://"+ln.Addr().String()+"/api")
	select {
	case err := <-serving.Failed():
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return serving.Stop(shutdown)
}
