package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/robfig/cron/v3"

	"github.com/azure-vote/azure-vote/internal/config"
	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/emulator"
	"github.com/azure-vote/azure-vote/metering/usage"
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
	resource string // reported for; empty when paused
	plan     string
	endpoint string // reported to; empty when paused
	reporter *metering.Reporter
	client   *metering.Client

	emulator *web.Serving // local mode only, on a loopback port
	// emulatorInMemory: the built-in emulator could not keep its events in
	// a file, so a restart forgets them.
	emulatorInMemory bool
}

// newMetering chooses the mode and builds the client and reporter. A
// production endpoint without a usable identity is not an error: usage is
// still counted and reporting waits, saying why. observeTry, if set, is
// told of every try of every API call.
func (m *Main) newMetering(ledger metering.Ledger, observe func(metering.PassResult),
	observeTry func(string, int, time.Duration)) (*meteringSetup, error) {
	cfg, now, log := m.Config.Metering, m.Now, m.Logger
	s := &meteringSetup{}
	endpoint, resource, plan := cfg.Endpoint, cfg.ResourceID, cfg.PlanID
	switch {
	case cfg.Local():
		dir, _ := m.dataScope("")
		emu, kept, err := startLocalEmulator(cfg.Dimension, filepath.Join(dir, emulatorStateFile), now, log)
		if err != nil {
			return nil, err
		}
		s.emulator, s.emulatorInMemory = emu, !kept
		addr := emu.Addr().String()
		endpoint, resource, plan = "http://"+addr+"/api", localResource, localPlan
		s.mode = modeLocal
		s.detail = "Reporting to the built-in emulator at " + endpoint + " as " + resource + ", plan " + plan + ". Set EXTENSION_RESOURCE_ID and PLAN_ID (or METERING_ENDPOINT) to report for real."
	case endpoint == "":
		endpoint = metering.DefaultEndpoint
		fallthrough
	default:
		if unsetValue(resource) || unsetValue(plan) {
			if !metering.IsLocalEndpoint(endpoint) {
				// The fake local resource must never leave the machine: the
				// real service, or a stranger's, would be told of it.
				s.mode, s.detail = modePaused, noResourceReason(endpoint)
				log.Warn("metering paused", "reason", s.detail)
				return s, nil
			}
			// An emulator elsewhere on this machine with no resource: the
			// fake local one keeps the loop whole.
			resource, plan = localResource, localPlan
		}
		s.mode = modeAzure
		s.detail = "Resource " + resource + ", plan " + plan + ", endpoint " + endpoint + "."
	}
	cred, kind, err := metering.NewCredential(endpoint, cfg.ClientID)
	if errors.Is(err, metering.ErrNoIdentity) {
		s.mode, s.detail = modePaused, noIdentityReason
		log.Warn("metering paused", "reason", s.detail)
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("CLIENT_ID: %w", err)
	}
	client, err := metering.NewClient(endpoint, cred, &metering.ClientOptions{Logger: log, ObserveTry: observeTry})
	if err != nil {
		return nil, fmt.Errorf("METERING_ENDPOINT: %w", err)
	}
	s.client, s.resource, s.plan, s.endpoint = client, resource, plan, endpoint
	s.reporter, err = metering.NewReporter(metering.ReporterOptions{
		Ledger: ledger, Sender: client, Resource: resource, PlanID: plan, Dimensions: []string{cfg.Dimension},
		Grace: cfg.Grace, Now: now, Logger: log, Observe: observe,
	})
	if err != nil {
		return nil, err
	}
	log.Info("metering", "mode", s.mode, "endpoint", endpoint, "resource", resource, "plan", plan,
		"dimension", cfg.Dimension, "credential", kind, "schedule", cfg.Schedule)
	return s, nil
}

func unsetValue(s string) bool { return s == "" || s == config.Placeholder }

// noIdentityReason is why reporting waits without an identity, naming the
// environment variable and the chart key that set it.
const noIdentityReason = "No identity to get a token for the Metering Service API: set CLIENT_ID " +
	"(chart key global.azure.identity.clientId, which Azure fills in) to the managed identity's client id, " +
	"or a workload identity (AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID, AZURE_TENANT_ID). " +
	"Usage is counted and kept; hours still inside the 24-hour window are reported once it is set."

// noResourceReason is why reporting waits for a resource and plan.
func noResourceReason(endpoint string) string {
	return "EXTENSION_RESOURCE_ID and PLAN_ID (chart keys global.azure.extension.resourceId and " +
		"global.azure.marketplace.planId) must both be set to report to " + endpoint +
		"; the local demo resource is reported only to an emulator on this machine. Usage is counted and kept."
}

// emulatorStateFile, in the data directory, keeps the built-in emulator's
// events across restarts, so that reconciliation still matches earlier days.
const emulatorStateFile = "emulator-events.jsonl"

// startLocalEmulator serves the emulator on a loopback port of its own: it
// is for this process, never exposed beside the app. Its events are kept in
// stateFile; where that cannot be written they are kept in memory (kept is
// false), and the log says so.
func startLocalEmulator(dimension, stateFile string, now func() time.Time, log *slog.Logger) (_ *web.Serving, kept bool, err error) {
	o := emulator.Options{
		Plans:     map[string][]string{localPlan: {dimension}},
		Resources: []string{localResource},
		Now:       now,
		Logger:    log.With("component", "emulator"),
		StateFile: stateFile,
	}
	if err := os.MkdirAll(filepath.Dir(stateFile), 0o700); err != nil {
		o.StateFile = ""
		log.Warn("the built-in emulator keeps its events in memory: after a restart, earlier days differ", "err", err)
	}
	emu, err := emulator.Open(o)
	if err != nil && o.StateFile != "" {
		log.Warn("the built-in emulator keeps its events in memory: after a restart, earlier days differ", "err", err)
		o.StateFile = ""
		emu, err = emulator.Open(o)
	}
	if err != nil {
		return nil, false, fmt.Errorf("local metering emulator: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		emu.Close()
		return nil, false, fmt.Errorf("local metering emulator: %w", err)
	}
	srv := web.NewHTTPServer(ln.Addr().String(), emu)
	srv.RegisterOnShutdown(func() { _ = emu.Close() })
	return web.Serve(srv, ln), o.StateFile != "", nil
}

func (s *meteringSetup) close() error {
	if s.emulator == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.emulator.Stop(ctx)
}

// viewRetry is the retry policy of the usage page's call to the service.
func viewRetry() policy.RetryOptions {
	return policy.RetryOptions{
		MaxRetries: 1, RetryDelay: 200 * time.Millisecond, MaxRetryDelay: time.Second, TryTimeout: web.ReconcileTimeout,
	}
}

// quickEvents asks the service's records for the usage page. A person
// waits for this call: one quick retry, not the reporter's minute of
// backoff, so that an endpoint refusing connections is answered as such at
// once instead of as the deadline running out.
type quickEvents struct{ client *metering.Client }

func (q quickEvents) UsageEvents(ctx context.Context, query metering.UsageQuery) ([]metering.UsageRecord, error) {
	return q.client.UsageEvents(policy.WithRetryOptions(ctx, viewRetry()), query)
}

// usageSource answers the usage page: the metering kit's report of the
// ledger, the service and the rate card, and how reporting is set up.
type usageSource struct {
	view     *usage.View
	setup    *meteringSetup
	schedule cron.Schedule // nil: no schedule to tell the next pass by
	currency string
	speed    float64 // of the demo clock; 0 for the wall clock
}

// newUsageSource wires the usage page to the ledger and to the service
// the setup reports to.
func newUsageSource(ledger usage.Ledger, setup *meteringSetup, cfg config.Metering, demoSpeed float64, now func() time.Time) *usageSource {
	sched, _ := cron.ParseStandard(cfg.Schedule) // validated at start
	o := usage.Options{
		Ledger: ledger, Dimension: cfg.Dimension, RateCard: cfg.Pricing, Now: now,
		Resource: setup.resource, PlanID: setup.plan, Unavailable: setup.detail, Timeout: web.ReconcileTimeout,
	}
	if setup.client != nil {
		o.Events = quickEvents{setup.client}
	}
	if setup.emulatorInMemory {
		o.Note = "The built-in emulator keeps its events in memory: after a restart it holds none, and earlier days differ."
	}
	return &usageSource{view: usage.NewView(o), setup: setup, schedule: sched, currency: cfg.Currency, speed: demoSpeed}
}

func (s *usageSource) Usage(ctx context.Context, since time.Time) (web.Usage, error) {
	rep, err := s.view.Report(ctx, since)
	if err != nil {
		return web.Usage{}, err
	}
	u := web.Usage{
		Mode: s.setup.mode, Detail: s.setup.detail, Resource: s.setup.resource, Plan: s.setup.plan, Endpoint: s.setup.endpoint,
		Currency: s.currency, DemoSpeed: s.speed, Report: rep,
	}
	if s.setup.reporter != nil && s.schedule != nil {
		u.NextPass = s.schedule.Next(rep.GeneratedAt)
	}
	return u, nil
}
