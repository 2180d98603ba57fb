package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/azure-vote/azure-vote/config"
	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/store"
	"github.com/azure-vote/azure-vote/web"
)

// Store is everything the app keeps: votes, usage counters and the
// metering ledger, on Redis or in the embedded file.
type Store interface {
	web.VoteStore
	metering.Ledger
	ledgerHistory
	Close() error
}

// Main is the whole application, built from a Config. Tests build one on a
// random port and drive it over HTTP, exactly as the binary runs.
type Main struct {
	Config config.Config
	Logger *slog.Logger
	// Addr to listen on; defaults to ":<PORT>". Tests use "127.0.0.1:0".
	Addr string
	// Now is the clock of votes and reporting; tests move it.
	Now func() time.Time

	store    Store
	metering *meteringSetup
	usage    *usageView
	stopJobs context.CancelFunc
	jobsDone func()
	server   *http.Server
	listener net.Listener
	served   chan error
}

// NewMain reads and validates the configuration; a bad value is an error
// naming the variable, before anything is opened.
func NewMain(getenv func(string) string, logOut io.Writer) (*Main, error) {
	cfg, err := config.FromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	return &Main{
		Config: cfg,
		Logger: newLogger(logOut, cfg.LogLevel),
		Addr:   ":" + strconv.Itoa(cfg.Port),
		Now:    time.Now,
	}, nil
}

// Run opens the store, builds the server and starts serving; it returns
// once the listener is open. Close undoes it.
func (m *Main) Run(ctx context.Context) error {
	st, err := m.openStore()
	if err != nil {
		return err
	}
	m.store = st
	m.usage = newUsageView(st, m.Config.Metering, m.Now)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := web.NewMetrics(reg)
	ms, err := newMetering(m.Config.Metering, st, m.Now, m.Logger, func(res metering.PassResult) {
		m.usage.observe(res)
		metrics.ObservePass(res)
	}, metrics.ObserveAPICall)
	if err != nil {
		return err
	}
	m.metering, m.usage.setup = ms, ms

	title := m.Config.Title
	if m.Config.ShowHost {
		if h, err := os.Hostname(); err == nil {
			title = h
		}
	}
	srv, err := web.NewServer(web.Options{
		Page: web.Page{
			Title: title, Vote1: m.Config.Vote1, Vote2: m.Config.Vote2, GetValue: m.Config.GetValue,
		},
		Store:   st,
		Usage:   m.usage,
		Assets:  assets,
		Logger:  m.Logger,
		Metrics: metrics,
		Now:     m.Now,
	})
	if err != nil {
		return fmt.Errorf("templates: %w", err)
	}

	ln, err := net.Listen("tcp", m.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", m.Addr, err)
	}
	m.listener = ln
	m.server = web.NewHTTPServer(m.Addr, srv.Handler())
	m.served = make(chan error, 1)
	go func() { m.served <- m.server.Serve(ln) }()
	m.Logger.Info("serving", "addr", ln.Addr().String(), "version", version, "store", m.storeName())

	if ms.reporter != nil {
		jobs, stop := context.WithCancel(context.Background())
		wait, err := metering.Schedule(jobs, m.Config.Metering.Schedule, ms.reporter)
		if err != nil {
			stop()
			return err
		}
		m.stopJobs, m.jobsDone = stop, wait
	}
	return nil
}

// URL is the base URL the app serves on.
func (m *Main) URL() string { return "http://" + m.listener.Addr().String() }

func (m *Main) storeName() string {
	if m.Config.Redis != "" {
		return "redis"
	}
	return "embedded (" + m.Config.DataDir + ")"
}

func (m *Main) openStore() (Store, error) {
	opts := store.Options{Prefix: m.Config.RedisPrefix, Dimension: m.Config.Metering.Dimension}
	if m.Config.Redis == "" {
		st, err := store.OpenBolt(m.Config.DataDir, opts)
		if err != nil {
			return nil, fmt.Errorf("DATA_DIR: %w", err)
		}
		return st, nil
	}
	ro, err := store.ParseRedisAddr(m.Config.Redis, m.Config.RedisPwd)
	if err != nil {
		return nil, fmt.Errorf("REDIS: %w", err)
	}
	if opts.Prefix, err = m.Config.RedisKeyPrefix(store.IsCluster(ro)); err != nil {
		return nil, err
	}
	// go-redis connects lazily and reconnects by itself: an unreachable
	// Redis at start only keeps /readyz at 503 until it appears.
	st := store.NewRedis(ro, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := st.Ping(ctx); err != nil {
		m.Logger.Warn("redis not reachable yet; serving 503 on /readyz until it is", "err", err)
	}
	return st, nil
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
	if m.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := m.server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
		}
		if err := <-m.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
		m.server = nil
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
