package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/azure-vote/azure-vote/internal/config"
	"github.com/azure-vote/azure-vote/internal/store"
	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/usage"
	"github.com/azure-vote/azure-vote/web"
)

// Store is everything the app keeps: votes, usage counters and the
// metering ledger, on Redis or in the embedded file.
type Store interface {
	web.VoteStore
	metering.Ledger
	usage.Ledger // the usage page's reads
	Close() error
}

// Main is the whole application, built from a Config. Tests build one on a
// random port and drive it over HTTP, exactly as the binary runs.
type Main struct {
	Config config.Config
	Logger *slog.Logger
	// Addr to listen on; defaults to ":<PORT>". Tests use "127.0.0.1:0".
	Addr string
	// MetricsAddr is the private listener (/metrics, and the usage page
	// when it is private); defaults to ":<METRICS_PORT>", empty when
	// METRICS_PORT is 0. Tests use "127.0.0.1:0".
	MetricsAddr string
	// Now is the clock of votes and reporting; tests move it. With
	// DEMO_SPEED, Run replaces it by the demo clock.
	Now func() time.Time

	store       Store
	redisPrefix string // of the store's keys, when it is Redis
	metering    *meteringSetup
	usage       *usageSource
	stopJobs    context.CancelFunc
	jobsDone    func()
	server      *http.Server
	serving     *web.Serving
	web         *web.Server
	private     *web.Serving // the listener no public Service exposes
}

// NewMain reads and validates the configuration; a bad value is an error
// naming the variable, before anything is opened.
func NewMain(getenv func(string) string, logOut io.Writer) (*Main, error) {
	cfg, err := config.FromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	m := &Main{
		Config: cfg,
		Logger: newLogger(logOut, cfg.LogLevel),
		Addr:   ":" + strconv.Itoa(cfg.Port),
		Now:    time.Now,
	}
	if cfg.MetricsPort != 0 {
		m.MetricsAddr = ":" + strconv.Itoa(cfg.MetricsPort)
	}
	return m, nil
}

// Run opens the store, builds the server and starts serving; it returns
// once the listener is open. Close undoes it.
func (m *Main) Run(ctx context.Context) error {
	st, err := m.openStore()
	if err != nil {
		return err
	}
	m.store = st
	demoSpeed := m.Config.DemoSpeed // 0: the wall clock
	if demoSpeed > 0 {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		clock := newDemoClock(demoOrigin(ctx, st, m.Config.Metering.Dimension, m.Now()), demoSpeed)
		cancel()
		m.Now = clock.Now
		m.Logger.Info("demo clock", "speed", demoSpeed, "now", clock.Now())
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := web.NewMetrics(reg)
	// No pass runs before Schedule, below: m.usage is set by then.
	ms, err := m.newMetering(st, func(res metering.PassResult) {
		m.usage.view.Observe(res)
		metrics.ObservePass(res)
	}, metrics.ObserveAPICall)
	if err != nil {
		return err
	}
	m.metering = ms
	m.usage = newUsageSource(st, ms, m.Config.Metering, demoSpeed, m.Now)

	title := m.Config.Title
	if m.Config.ShowHost {
		if h, err := os.Hostname(); err == nil {
			title = h
		}
	}
	srv, err := web.NewServer(web.Options{
		Page: web.Page{
			Title: title, Vote1: m.Config.Vote1, Vote2: m.Config.Vote2, GetValue: m.Config.GetValue,
			Dimension: m.Config.Metering.Dimension,
		},
		Store:   st,
		Usage:   m.usage,
		Assets:  assets,
		Logger:  m.Logger,
		Metrics: metrics,
		Now:     m.Now,

		UsagePrivate: m.Config.UsagePrivate,
	})
	if err != nil {
		return fmt.Errorf("templates: %w", err)
	}

	m.web = srv
	if err := m.servePrivate(srv.PrivateHandler()); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", m.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", m.Addr, err)
	}
	m.server = web.NewHTTPServer(m.Addr, srv.Handler())
	m.serving = web.Serve(m.server, web.LimitConnections(m.server, ln, m.Config.MaxConnections))
	m.Logger.Info("serving", "addr", ln.Addr().String(), "version", version, "store", m.storeName())

	if ms.reporter != nil {
		jobs, stop := context.WithCancel(context.Background())
		wait, err := metering.Schedule(jobs, m.Config.Metering.Schedule, ms.reporter, metering.Pace(demoSpeed))
		if err != nil {
			stop()
			return err
		}
		m.stopJobs, m.jobsDone = stop, wait
	}
	return nil
}

// URL is the base URL the app serves on.
func (m *Main) URL() string { return "http://" + m.serving.Addr().String() }

// PrivateURL is the base URL of the private listener; empty without one.
func (m *Main) PrivateURL() string {
	if m.private == nil {
		return ""
	}
	return "http://" + m.private.Addr().String()
}

// servePrivate opens the private listener, unless METRICS_PORT is 0.
func (m *Main) servePrivate(h http.Handler) error {
	if m.MetricsAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", m.MetricsAddr)
	if err != nil {
		return fmt.Errorf("METRICS_PORT: listen on %s: %w", m.MetricsAddr, err)
	}
	m.private = web.Serve(web.NewHTTPServer(m.MetricsAddr, h), ln)
	m.Logger.Info("serving metrics", "addr", ln.Addr().String(), "usage_private", m.Config.UsagePrivate)
	return nil
}

// Drain is the first step of a graceful stop, before Close: /readyz
// answers 503, so load balancers and kube-proxy take this instance out,
// while every request is still served for d; responses ask clients to
// close their connections, so the next request opens one elsewhere.
func (m *Main) Drain(d time.Duration) {
	if m.web == nil || d <= 0 {
		return
	}
	m.web.Drain()
	m.server.SetKeepAlivesEnabled(false)
	m.Logger.Info("draining", "for", d.String())
	time.Sleep(d)
}

func (m *Main) storeName() string {
	if m.Config.Redis != "" {
		return "redis (" + m.redisPrefix + ")"
	}
	dir, _ := m.dataScope("")
	return "embedded (" + dir + ")"
}

func (m *Main) openStore() (Store, error) {
	dir, _ := m.dataScope("")
	opts := store.Options{Dimension: m.Config.Metering.Dimension}
	if m.Config.Redis == "" {
		st, err := store.OpenBolt(dir, opts)
		if err != nil {
			return nil, dataDirError(err)
		}
		return st, nil
	}
	ro, err := store.ParseRedisAddr(m.Config.Redis, m.Config.RedisPwd)
	if err != nil {
		return nil, fmt.Errorf("REDIS: %w", err)
	}
	base, err := m.Config.RedisKeyPrefix(store.IsCluster(ro))
	if err != nil {
		return nil, err
	}
	_, opts.Prefix = m.dataScope(base)
	opts.WaitReplicas = m.Config.RedisWaitReplicas
	m.redisPrefix = opts.Prefix
	// go-redis connects lazily and reconnects by itself: an unreachable
	// Redis at start only keeps /readyz at 503 until it appears.
	st := store.NewRedis(ro, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := st.Ping(ctx); err != nil {
		if redisRefusedPassword(err) {
			m.Logger.Error("redis refused the password: check REDIS_PWD or the password in REDIS; serving 503 on /readyz until it is accepted", "err", err)
		} else {
			m.Logger.Warn("redis not reachable yet; serving 503 on /readyz until it is", "err", err)
		}
	}
	return st, nil
}

// redisRefusedPassword tells a wrong or missing password from a Redis that
// is not there: Redis answers WRONGPASS or NOAUTH (and, to AUTH when it has
// no password, an ERR about AUTH), never with the password itself.
func redisRefusedPassword(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "WRONGPASS") || strings.Contains(msg, "NOAUTH") ||
		(strings.Contains(msg, "ERR") && strings.Contains(msg, "AUTH") && strings.Contains(msg, "password"))
}

// dataDirError names the embedded store's path once: an *fs.PathError
// already holds it, and the store's message would add it again.
func dataDirError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("DATA_DIR: cannot %s %s: %v (the directory must be writable)", pe.Op, pe.Path, pe.Err)
	}
	return fmt.Errorf("DATA_DIR: %w", err)
}

// Close drains in-flight requests, then closes the store: the reverse of
// Run. Closing twice is harmless.
func (m *Main) Close() error {
	var errs []error
	if m.stopJobs != nil {
		m.stopJobs()
		m.jobsDone()
		m.stopJobs = nil
	}
	if m.serving != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := m.serving.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
		}
		m.serving, m.server = nil, nil
	}
	if m.private != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := m.private.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown private listener: %w", err))
		}
		m.private = nil
	}
	if m.metering != nil {
		if err := m.metering.close(); err != nil {
			errs = append(errs, fmt.Errorf("close emulator: %w", err))
		}
		m.metering = nil
	}
	if m.store != nil {
		if err := m.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
		m.store = nil
	}
	return errors.Join(errs...)
}
