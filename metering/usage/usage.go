// Package usage is the read side of custom-meter billing: what a usage page
// shows. From a ledger's hours, the Metering Service's own records (GET
// usageEvents) and a rate card it computes a Report: the hours of a window
// with a status each, their totals, every UTC day of the window set beside
// the service's record of it, and the month's estimated charges.
//
// It only reads: nothing it does changes the ledger or what is billed. A
// View asks the service at most once a minute, and again after a reporting
// pass; Build is the same computation on data read elsewhere.
package usage

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/azure-vote/azure-vote/metering"
)

// Ledger is what a View reads of a metering ledger; metering.Ledger has it.
type Ledger interface {
	// History returns every hour of the dimension from the hour of from on,
	// oldest first, settled ones included.
	History(ctx context.Context, dimension string, from time.Time) ([]metering.Record, error)
	// Records returns the hours the reporter still works on, however old:
	// a report counts the failing and unresolved ones before its window.
	Records(ctx context.Context, dimension string) ([]metering.Record, error)
}

// Events reads the service's records; *metering.Client has it.
type Events interface {
	UsageEvents(ctx context.Context, q metering.UsageQuery) ([]metering.UsageRecord, error)
}

// DefaultTimeout bounds a View's call to the service when Options.Timeout
// is zero: a person waits for the page.
const DefaultTimeout = 5 * time.Second

// How long a View keeps the service's answer: a minute, and 15 s after a
// failure, unless a reporting pass outdates it first.
const (
	answerTTL       = time.Minute
	failedAnswerTTL = 15 * time.Second
)

// Options configure a View.
type Options struct {
	Ledger    Ledger // required
	Dimension string // required
	// Events is asked for the service's records of Resource's subscription,
	// PlanID and Dimension; rows of other resources are left out. Nil: the
	// service is not asked, and Unavailable says why (reporting paused).
	Events      Events
	Resource    string
	PlanID      string
	Unavailable string
	// Note is a caveat shown with the service's records, e.g. that an
	// emulator forgets them when it restarts.
	Note string
	// Timeout bounds each call to Events; 0 is DefaultTimeout.
	Timeout  time.Duration
	RateCard *RateCard        // nil: no charges
	Now      func() time.Time // default time.Now
}

// View computes reports of a ledger and the service. It is safe for
// concurrent use; viewers arriving together share one call to the service.
type View struct {
	o Options

	// fetching is held while the service is asked or its cached answer
	// read, so that viewers arriving together make one call.
	fetching chan struct{}
	cached   *answer // guarded by fetching

	mu     sync.Mutex
	last   time.Time // end of the last pass that held the lock
	passes int       // passes that held the lock; a new one outdates the cache
}

// answer is one answer of the service, as cached.
type answer struct {
	from   time.Time // first day asked for
	at     time.Time
	passes int
	svc    Service
}

// NewView returns a View; Ledger and Dimension are required.
func NewView(o Options) *View {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	return &View{o: o, fetching: make(chan struct{}, 1)}
}

// Observe is told of every reporting pass (metering.ReporterOptions.Observe):
// a pass that held the lock may have reported, so the service is asked
// again, and its end is the report's LastPass.
func (v *View) Observe(res metering.PassResult) {
	if !res.Locked {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.last = res.Start.Add(res.Duration)
	v.passes++
}

// Report reads the ledger and the service and computes the report of the
// window that starts at the hour of since. The error is the ledger's: a
// service that fails or does not answer in time is in Report.Service, and
// the rest of the report stands.
func (v *View) Report(ctx context.Context, since time.Time) (Report, error) {
	now := v.o.Now().UTC()
	// One read of the ledger and one question to the service cover the
	// window and the month.
	from := metering.DayOf(since)
	if month := MonthOf(now); month.Before(from) {
		from = month
	}
	hist, err := v.o.Ledger.History(ctx, v.o.Dimension, from)
	if err != nil {
		return Report{}, err
	}
	open, err := v.o.Ledger.Records(ctx, v.o.Dimension)
	if err != nil {
		return Report{}, err
	}
	svc := v.service(ctx, from, now)
	v.mu.Lock()
	last := v.last
	v.mu.Unlock()
	return Build(Input{
		Dimension: v.o.Dimension, History: hist, Open: open, Service: svc, RateCard: v.o.RateCard,
		LastPass: last, Since: since, Now: now,
	}), nil
}

// service asks the service what it recorded from the day from on, or
// answers from the cache. It never takes longer than the timeout, and its
// failures are part of the answer.
func (v *View) service(ctx context.Context, from, now time.Time) Service {
	if v.o.Events == nil {
		return Service{Unavailable: v.o.Unavailable}
	}
	select {
	case v.fetching <- struct{}{}:
		defer func() { <-v.fetching }()
	case <-ctx.Done():
		return Service{Error: "gave up waiting for another view's call: " + ctx.Err().Error()}
	}
	v.mu.Lock()
	passes := v.passes
	v.mu.Unlock()
	if c := v.cached; c != nil && !c.from.After(from) && c.passes == passes {
		ttl := answerTTL
		if c.svc.Error != "" {
			ttl = failedAnswerTTL
		}
		if age := now.Sub(c.at); age >= 0 && age < ttl {
			return c.svc
		}
	}

	// Our own correlation id, so that even a call that got no answer can
	// be found in the service's logs.
	id := newCorrelationID()
	callCtx, cancel := context.WithTimeout(metering.WithCorrelationID(ctx, id), v.o.Timeout)
	defer cancel()
	rows, err := v.o.Events.UsageEvents(callCtx, metering.UsageQuery{
		Start: from, End: now, PlanID: v.o.PlanID, Dimension: v.o.Dimension, AzureSubscriptionID: metering.SubscriptionOf(v.o.Resource),
	})
	svc := Service{FetchedAt: now, Records: []metering.UsageRecord{}, Note: v.o.Note}
	if err != nil {
		// The id has a field of its own.
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
	// note says so.
	for _, r := range rows {
		if strings.EqualFold(r.UsageResourceID, v.o.Resource) {
			svc.Records = append(svc.Records, r)
		}
	}
	if len(svc.Records) == 0 && len(rows) > 0 {
		svc.Records = rows
		svc.Note = strings.TrimSpace(svc.Note + " The service names the resource differently (" + rows[0].UsageResourceID +
			"): these are all its rows for plan " + v.o.PlanID + " and dimension " + v.o.Dimension + ".")
	}
	v.cached = &answer{from: from, at: now, passes: passes, svc: svc}
	return svc
}

// newCorrelationID is a random (version 4) UUID, the form the service's
// x-ms-correlationid takes.
func newCorrelationID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails: it panics rather than return an error
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
