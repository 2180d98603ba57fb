package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/azure-vote/azure-vote/config"
	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/emulator"
	"github.com/azure-vote/azure-vote/web"
)

// In local mode the app reports to its own emulator under this clearly fake
// resource and plan, so the whole loop runs with nothing from Azure.
const (
	localResource = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local-demo/providers/Microsoft.KubernetesConfiguration/extensions/azure-vote-local"
	localPlan     = "local-demo"
)

// Metering modes, as the usage page and logs name them.
const (
	modeLocal  = "local"
	modeAzure  = "azure"
	modePaused = "paused"
)

// meteringSetup is the reporting side as built from the configuration.
type meteringSetup struct {
	mode     string
	detail   string // resource and plan, or why reporting waits
	reporter *metering.Reporter
	client   *metering.Client

	emulator    *http.Server // local mode only, on a loopback port
	emulatorRun chan error
}

// newMetering chooses the mode and builds the client and reporter. A
// production endpoint without a usable identity is not an error: usage is
// still counted and reporting waits, saying why.
func newMetering(cfg config.Metering, ledger metering.Ledger, now func() time.Time, log *slog.Logger, observe func(metering.PassResult)) (*meteringSetup, error) {
	s := &meteringSetup{}
	endpoint, resource, plan := cfg.Endpoint, cfg.ResourceID, cfg.PlanID
	switch {
	case cfg.Local():
		addr, srv, done, err := startLocalEmulator(cfg.Dimension, now, log)
		if err != nil {
			return nil, err
		}
		s.emulator, s.emulatorRun = srv, done
		endpoint, resource, plan = "http://"+addr+"/api", localResource, localPlan
		s.mode = modeLocal
		s.detail = "Reporting to the built-in emulator at " + endpoint + " as " + resource + ", plan " + plan + ". Set EXTENSION_RESOURCE_ID and PLAN_ID (or METERING_ENDPOINT) to report for real."
	case endpoint == "":
		endpoint = metering.DefaultEndpoint
		fallthrough
	default:
		if unsetValue(resource) || unsetValue(plan) {
			if endpoint == metering.DefaultEndpoint {
				s.mode, s.detail = modePaused, "EXTENSION_RESOURCE_ID and PLAN_ID must both be set to report to Azure; usage is kept."
				return s, nil
			}
			// Another endpoint (an emulator elsewhere) with no resource:
			// the fake local one keeps the loop whole.
			resource, plan = localResource, localPlan
		}
		s.mode = modeAzure
		s.detail = "Resource " + resource + ", plan " + plan + ", endpoint " + endpoint + "."
	}
	cred, kind, err := metering.NewCredential(endpoint, cfg.ClientID)
	if errors.Is(err, metering.ErrNoIdentity) {
		s.mode, s.detail = modePaused, err.Error()
		log.Warn("metering paused", "reason", err.Error())
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("CLIENT_ID: %w", err)
	}
	client, err := metering.NewClient(endpoint, cred, &metering.ClientOptions{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("METERING_ENDPOINT: %w", err)
	}
	s.client = client
	s.reporter = metering.NewReporter(metering.ReporterOptions{
		Ledger: ledger, Sender: client, Resource: resource, PlanID: plan, Dimension: cfg.Dimension,
		Grace: cfg.Grace, Now: now, Logger: log, Observe: observe,
	})
	log.Info("metering", "mode", s.mode, "endpoint", endpoint, "resource", resource, "plan", plan,
		"dimension", cfg.Dimension, "credential", kind, "schedule", cfg.Schedule)
	return s, nil
}

func unsetValue(s string) bool { return s == "" || s == config.Placeholder }

// startLocalEmulator serves the emulator on a loopback port of its own: it
// is for this process, never exposed beside the app.
func startLocalEmulator(dimension string, now func() time.Time, log *slog.Logger) (string, *http.Server, chan error, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, nil, fmt.Errorf("local metering emulator: %w", err)
	}
	emu := emulator.New(emulator.Options{
		Plans:     map[string][]string{localPlan: {dimension}},
		Resources: []string{localResource},
		Now:       now,
		Logger:    log.With("component", "emulator"),
	})
	srv := web.NewHTTPServer(ln.Addr().String(), emu)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	return ln.Addr().String(), srv, done, nil
}

func (s *meteringSetup) close() error {
	if s.emulator == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.emulator.Shutdown(ctx)
	if serr := <-s.emulatorRun; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// usageView answers the usage page from the ledger.
type usageView struct {
	setup  *meteringSetup
	ledger metering.Ledger
	dim    string

	mu   sync.Mutex
	last time.Time // end of the last pass that held the lock
}

func (v *usageView) observe(res metering.PassResult) {
	if !res.Locked {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.last = res.Start.Add(res.Duration)
}

func (v *usageView) Usage(ctx context.Context, since time.Time) (web.Usage, error) {
	recs, err := v.ledger.Records(ctx, v.dim)
	if err != nil {
		return web.Usage{}, err
	}
	recs = slices.DeleteFunc(recs, func(r metering.Record) bool { return r.Hour.Before(metering.HourOf(since)) })
	slices.Reverse(recs)
	v.mu.Lock()
	last := v.last
	v.mu.Unlock()
	return web.Usage{Mode: v.setup.mode, Detail: v.setup.detail, Dimension: v.dim, Hours: recs, LastReport: last}, nil
}
