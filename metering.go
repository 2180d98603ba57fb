package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/uuid"
	"github.com/robfig/cron/v3"

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

// Bounds of the reconciliation with the service: the page asks GET
// usageEvents at most once a minute (a failure is retried sooner), and
// a pass that reported something makes it ask again.
const (
	serviceTTL      = time.Minute
	serviceErrorTTL = 15 * time.Second
)

// viewRetry is the retry policy of the usage page's call to the service.
func viewRetry() policy.RetryOptions {
	return policy.RetryOptions{
		MaxRetries: 1, RetryDelay: 200 * time.Millisecond, MaxRetryDelay: time.Second, TryTimeout: web.ReconcileTimeout,
	}
}

// usageView answers the usage page from the ledger, the service's own
// record (GET usageEvents) and the rate card.
type usageView struct {
	setup    *meteringSetup
	ledger   ledgerHistory
	dim      string
	pricing  config.Pricing
	currency string
	schedule cron.Schedule // nil: no schedule to tell the next pass by
	speed    float64       // of the demo clock; 0 for the wall clock
	now      func() time.Time

	mu     sync.Mutex
	last   time.Time // end of the last pass that held the lock
	passes int       // passes that held the lock; a new one outdates the cache

	// fetching is held while the service is asked or its cache read, so
	// that viewers arriving together make one call.
	fetching chan struct{}
	cached   *serviceAnswer
}

// serviceAnswer is one answer of GET usageEvents, as cached.
type serviceAnswer struct {
	from   time.Time // first day asked for
	at     time.Time
	passes int
	svc    web.Service
}

// ledgerHistory is the ledger as the usage page reads it: every hour of a
// range, settled ones included (Records leaves out what the reporter no
// longer needs).
type ledgerHistory interface {
	History(ctx context.Context, dim string, from time.Time) ([]metering.Record, error)
	// Records are the hours the reporter still works on, however old:
	// the page counts the failing and unresolved ones before its window.
	Records(ctx context.Context, dim string) ([]metering.Record, error)
}

func newUsageView(ledger ledgerHistory, cfg config.Metering, demoSpeed float64, now func() time.Time) *usageView {
	sched, _ := cron.ParseStandard(cfg.Schedule) // validated at start
	return &usageView{
		ledger: ledger, dim: cfg.Dimension, pricing: cfg.Pricing, currency: cfg.Currency,
		schedule: sched, speed: demoSpeed, now: now, fetching: make(chan struct{}, 1),
	}
}

func (v *usageView) observe(res metering.PassResult) {
	if !res.Locked {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.last = res.Start.Add(res.Duration)
	v.passes++
}

func (v *usageView) Usage(ctx context.Context, since time.Time) (web.Usage, error) {
	now := v.now().UTC()
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	// One read of the ledger and one question to the service cover the
	// window and the month.
	from := metering.DayOf(since)
	if month.Before(from) {
		from = month
	}
	recs, err := v.ledger.History(ctx, v.dim, from)
	if err != nil {
		return web.Usage{}, err
	}
	open, err := v.ledger.Records(ctx, v.dim)
	if err != nil {
		return web.Usage{}, err
	}
	svc := v.service(ctx, from, now)

	hours := slices.DeleteFunc(slices.Clone(recs), func(r metering.Record) bool { return r.Hour.Before(metering.HourOf(since)) })
	slices.Reverse(hours)
	v.mu.Lock()
	last := v.last
	v.mu.Unlock()
	u := web.Usage{
		Mode: v.setup.mode, Detail: v.setup.detail, Resource: v.setup.resource, Plan: v.setup.plan, Endpoint: v.setup.endpoint,
		Dimension: v.dim, Hours: hours, LastReport: last, Service: svc,
		Charges: v.charges(recs, svc, month), Currency: v.currency, DemoSpeed: v.speed,
	}
	if v.setup.reporter != nil && v.schedule != nil {
		u.NextPass = v.schedule.Next(now)
	}
	for _, r := range open {
		switch {
		case !r.Hour.Before(metering.HourOf(since)):
		case r.State == metering.StateUnresolved:
			u.Earlier.Unresolved++
		case !r.State.Settled() && r.LastError != "":
			u.Earlier.Failing++
		}
	}
	return u, nil
}

// service asks GET usageEvents what the service recorded from the day
// from on, or answers from the cache. It never takes longer than
// web.ReconcileTimeout, and its failures are part of the answer.
func (v *usageView) service(ctx context.Context, from, now time.Time) web.Service {
	s := v.setup
	if s.client == nil {
		return web.Service{Unavailable: s.detail}
	}
	select {
	case v.fetching <- struct{}{}:
		defer func() { <-v.fetching }()
	case <-ctx.Done():
		return web.Service{Error: "gave up waiting for another view's call: " + ctx.Err().Error()}
	}
	v.mu.Lock()
	passes := v.passes
	v.mu.Unlock()
	if c := v.cached; c != nil && !c.from.After(from) && c.passes == passes {
		ttl := serviceTTL
		if c.svc.Error != "" {
			ttl = serviceErrorTTL
		}
		if age := now.Sub(c.at); age >= 0 && age < ttl {
			return c.svc
		}
	}

	// Our own correlation id, so that even a call that got no answer can
	// be found in the service's logs.
	id := uuid.NewString()
	callCtx, cancel := context.WithTimeout(metering.WithCorrelationID(ctx, id), web.ReconcileTimeout)
	defer cancel()
	// A person waits for this call: one quick retry, not the reporter's
	// minute of backoff, so that an endpoint refusing connections is
	// answered as such at once instead of as the deadline running out.
	callCtx = policy.WithRetryOptions(callCtx, viewRetry())
	rows, err := s.client.UsageEvents(callCtx, metering.UsageQuery{
		Start: from, End: now, PlanID: s.plan, Dimension: v.dim, AzureSubscriptionID: metering.SubscriptionOf(s.resource),
	})
	svc := web.Service{FetchedAt: now, Records: []metering.UsageRecord{}}
	if s.emulatorInMemory {
		svc.Note = "The built-in emulator keeps its events in memory: after a restart it holds none, and earlier days differ."
	}
	if err != nil {
		// The page shows the id on a line of its own.
		svc.Error = strings.Replace(err.Error(), " (correlation id "+id+")", "", 1)
		svc.CorrelationID = id
		if ctx.Err() != nil {
			return svc // the viewer left; the next one asks again
		}
	}
	// The query cannot ask for one resource: other resources of the plan
	// are not ours to compare. But the service may name a resource by
	// another id than the one we send (a usage id for an ARM path); then
	// all rows of the plan and dimension are the best there is, and the
	// page says so.
	for _, r := range rows {
		if strings.EqualFold(r.UsageResourceID, s.resource) {
			svc.Records = append(svc.Records, r)
		}
	}
	if len(svc.Records) == 0 && len(rows) > 0 {
		svc.Records = rows
		svc.Note = strings.TrimSpace(svc.Note + " The service names the resource differently (" + rows[0].UsageResourceID +
			"): these are all its rows for plan " + s.plan + " and dimension " + v.dim + ".")
	}
	v.cached = &serviceAnswer{from: from, at: now, passes: passes, svc: svc}
	return svc
}

// charges estimates this month's bill: the service's totals of the month
// plus what the ledger has counted and not reported yet. Without the
// service's totals, the ledger's hours are all there is, and the page says
// so. Nil when no price is configured.
func (v *usageView) charges(recs []metering.Record, svc web.Service, month time.Time) *web.Charges {
	p := v.pricing
	if !p.Set {
		return nil
	}
	c := &web.Charges{Month: month, Included: p.Included, Price: p.Price, Source: "service"}
	for _, t := range p.Tiers {
		c.Tiers = append(c.Tiers, web.PriceTier{From: t.From, Price: t.Price})
	}
	answered := svc.Answered()
	if !answered {
		c.Source = "ledger"
	}
	for _, r := range svc.Records {
		// What the service accepted; processing only confirms it later,
		// unless it rejects it.
		if !r.UsageDate.Before(month) && r.ReconStatus != metering.ReconRejected {
			c.Billed += r.SubmittedQuantity
		}
	}
	for _, r := range recs {
		if r.Hour.Before(month) {
			continue
		}
		if !answered {
			c.Billed += r.Reported
		}
		c.Unbilled += max(0, r.Due())
	}
	c.Quantity = c.Billed + c.Unbilled
	c.Billable = p.Billable(c.Quantity)
	c.Amount = p.Cost(c.Quantity)
	return c
}
