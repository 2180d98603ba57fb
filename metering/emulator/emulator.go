package emulator

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/azure-vote/azure-vote/metering"
)

// MaxBodyBytes is the largest request body the emulator reads; a larger one
// is answered 413.
const MaxBodyBytes = 1 << 20

// DefaultOfferID is the offerId (and offerName) GET usageEvents reports when
// Options.OfferID is empty.
const DefaultOfferID = "azure-vote-emulator"

// Endpoint names an operation of the API, as Stats counts them.
type Endpoint string

// The endpoints, named by the last segment of their path.
const (
	EndpointUsageEvent      Endpoint = "usageEvent"
	EndpointBatchUsageEvent Endpoint = "batchUsageEvent"
	EndpointUsageEvents     Endpoint = "usageEvents"
	// EndpointOther counts requests for unknown paths.
	EndpointOther Endpoint = "other"
)

// Options configure an Emulator. The zero value accepts any plan, dimension
// and resource, uses the wall clock and injects no faults.
type Options struct {
	// Plans maps each known planId to its dimensions. An event for another
	// plan is refused (BadArgument), one for another dimension of a known
	// plan is InvalidDimension. Nil accepts any plan, with the dimensions of
	// Dimensions.
	Plans map[string][]string
	// Dimensions are the dimensions accepted when Plans is nil; empty
	// accepts any.
	Dimensions []string
	// Resources are the known resourceId / resourceUri values (compared
	// without regard to case, as Azure does); an event for another one is
	// ResourceNotFound. Empty accepts any well-formed resource.
	Resources []string
	// InactiveResources answer 400 "Invalid usage state." (ResourceNotActive
	// in a batch), as the service does for a Kubernetes app registered less
	// than a day ago or a SaaS subscription not in Subscribed state.
	InactiveResources []string
	// Tokens, if set, decides which bearer tokens are authorized; the others
	// get 403. Nil accepts any non-empty token: the emulator does not
	// validate tokens.
	Tokens func(token string) bool
	// OfferID is reported as offerId and offerName by GET usageEvents
	// (default DefaultOfferID).
	OfferID string
	// Now is the clock that stamps messageTime and judges the 24-hour
	// window (default time.Now).
	Now func() time.Time
	// Faults are injected from the start; see SetFaults to change them.
	Faults Faults
	// DuplicateBeforeWindow checks an event's key for a duplicate before
	// its 24-hour window, so that a resend of a billed event past the window
	// is answered Duplicate instead of Expired. The default is the order the
	// documentation implies: effectiveStartTime is validated with the rest of
	// the request (a 400 BadArgument on that field) before the key is looked
	// up. The real order is not documented; a client must be right for both.
	DuplicateBeforeWindow bool
	// ShuffleBatch answers the items of a batch in a random order (drawn
	// from Faults.Seed): the API documents no order, so a client must match
	// results to events by their echo.
	ShuffleBatch bool
	// ProcessingDelay is how long an accepted event shows in GET
	// usageEvents as received but not processed (reconStatus Submitted,
	// not counted in processedQuantity), as the real service's daily
	// records lag behind. Zero processes at once.
	ProcessingDelay time.Duration
	// StateFile, if set, keeps the accepted events across restarts: Open
	// reads it, and every accepted event is appended to it (JSON lines,
	// synced) before it is answered.
	StateFile string
	// Logger receives one record per request (default: discarded).
	Logger *slog.Logger
}

// Emulator is an http.Handler that behaves like the Marketplace Metering
// Service API. It is safe for concurrent use.
type Emulator struct {
	plans      map[string]map[string]bool // nil: any plan
	dimensions map[string]bool            // when plans is nil; nil: any
	resources  map[string]bool            // lower case; nil: any
	inactive   map[string]bool            // lower case
	tokens     func(string) bool
	offerID    string
	now        func() time.Time
	log        *slog.Logger

	dupFirst        bool
	shuffle         bool
	processingDelay time.Duration

	mu     sync.Mutex
	state  *os.File // StateFile, appended to; nil without one
	faults Faults
	rng    *rand.Rand
	events []metering.EventResult // accepted, in order
	byKey  map[eventKey]int       // index into events
	stats  Stats
}

// New returns an Emulator with no recorded events; o.StateFile is ignored
// (use Open).
func New(o Options) *Emulator {
	e := &Emulator{
		dupFirst:        o.DuplicateBeforeWindow,
		shuffle:         o.ShuffleBatch,
		processingDelay: o.ProcessingDelay,
		dimensions:      set(o.Dimensions, false),
		resources:       set(o.Resources, true),
		inactive:        set(o.InactiveResources, true),
		tokens:          o.Tokens,
		offerID:         o.OfferID,
		now:             o.Now,
		log:             o.Logger,
		byKey:           make(map[eventKey]int),
		stats:           newStats(),
	}
	if o.Plans != nil {
		e.plans = make(map[string]map[string]bool, len(o.Plans))
		for plan, dims := range o.Plans {
			e.plans[plan] = set(dims, false)
			if e.plans[plan] == nil {
				e.plans[plan] = map[string]bool{}
			}
		}
	}
	if e.offerID == "" {
		e.offerID = DefaultOfferID
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.setFaultsLocked(o.Faults)
	return e
}

// Open returns an Emulator holding the events of o.StateFile, created if
// missing, to which it appends every event it accepts. Close it when done.
func Open(o Options) (*Emulator, error) {
	e := New(o)
	if o.StateFile == "" {
		return e, nil
	}
	f, err := os.OpenFile(o.StateFile, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("emulator: state file: %w", err)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), MaxBodyBytes)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var ev metering.EventResult
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			f.Close()
			return nil, fmt.Errorf("emulator: state file %s line %d: %w", o.StateFile, line, err)
		}
		e.record(ev)
	}
	if err := sc.Err(); err != nil {
		f.Close()
		return nil, fmt.Errorf("emulator: state file %s: %w", o.StateFile, err)
	}
	e.state = f
	return e, nil
}

// Close closes the state file, if any.
func (e *Emulator) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state == nil {
		return nil
	}
	err := e.state.Close()
	e.state = nil
	return err
}

// record adds an accepted event to memory; the caller holds e.mu (or owns e).
func (e *Emulator) record(ev metering.EventResult) {
	e.byKey[keyOfResult(ev)] = len(e.events)
	e.events = append(e.events, ev)
}

// persist appends an accepted event to the state file before it is
// answered, so that an answer never claims what a restart would forget.
// The caller holds e.mu.
func (e *Emulator) persist(ev metering.EventResult) error {
	if e.state == nil {
		return nil
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if _, err := e.state.Write(append(b, '\n')); err != nil {
		return err
	}
	return e.state.Sync()
}

// set builds a lookup set, nil when values is empty so that "empty" keeps
// meaning "any".
func set(values []string, fold bool) map[string]bool {
	if len(values) == 0 {
		return nil
	}
	m := make(map[string]bool, len(values))
	for _, v := range values {
		if fold {
			v = strings.ToLower(v)
		}
		m[v] = true
	}
	return m
}

// Events returns every accepted event, in the order it was accepted.
func (e *Emulator) Events() []metering.EventResult {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.events)
}

// SetFaults replaces the injected faults and reseeds their randomness from
// f.Seed, so that what follows is reproducible.
func (e *Emulator) SetFaults(f Faults) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.setFaultsLocked(f)
}

func (e *Emulator) setFaultsLocked(f Faults) {
	e.faults = f
	e.rng = rand.New(rand.NewPCG(uint64(f.Seed), 0x9e3779b97f4a7c15))
}

// Stats counts what the emulator answered so far.
type Stats struct {
	// Responses counts answered requests by endpoint and HTTP status.
	Responses map[Endpoint]map[int]int
	// Dropped counts connections closed without an answer, by endpoint.
	Dropped map[Endpoint]int
	// DroppedAfterProcessing is how many of the drops came after the
	// request was processed: their events, if valid, were recorded.
	DroppedAfterProcessing int
	// Accepted is the number of events accepted.
	Accepted int
}

func newStats() Stats {
	return Stats{Responses: map[Endpoint]map[int]int{}, Dropped: map[Endpoint]int{}}
}

// Count is the number of requests to ep answered with status.
func (s Stats) Count(ep Endpoint, status int) int { return s.Responses[ep][status] }

// Stats returns a copy of the counters.
func (e *Emulator) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.stats
	s.Responses = make(map[Endpoint]map[int]int, len(e.stats.Responses))
	for ep, byStatus := range e.stats.Responses {
		s.Responses[ep] = maps.Clone(byStatus)
	}
	s.Dropped = maps.Clone(e.stats.Dropped)
	s.Accepted = len(e.events)
	return s
}

// answer is a response decided but not yet written, so that a fault can
// still drop it.
type answer struct {
	status int
	body   any
}

// ServeHTTP answers POST …/api/usageEvent, POST …/api/batchUsageEvent and
// GET …/api/usageEvents under any prefix, so the emulator can be mounted at
// "/api/" of a mux or at the root of a test server (base URL <server>/api).
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The ids come back on every answer, errors included, as the service
	// does: they are what a support ticket quotes.
	reqID, corrID := r.Header.Get(metering.HeaderRequestID), r.Header.Get(metering.HeaderCorrelationID)
	if reqID == "" {
		reqID = uuid.NewString()
	}
	if corrID == "" {
		corrID = uuid.NewString()
	}
	w.Header().Set(metering.HeaderRequestID, reqID)
	w.Header().Set(metering.HeaderCorrelationID, corrID)
	log := e.log.With(slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.String("requestId", reqID), slog.String("correlationId", corrID))

	ep, method := route(r.URL.Path)
	if ep == EndpointOther {
		e.write(w, log, ep, answer{http.StatusNotFound, &metering.ErrorDetail{
			Code: "NotFound", Message: "The requested resource does not exist.", Target: r.URL.Path}})
		return
	}
	if r.Method != method {
		w.Header().Set("Allow", method)
		e.write(w, log, ep, answer{http.StatusMethodNotAllowed, &metering.ErrorDetail{
			Code: "MethodNotAllowed", Message: "The method " + r.Method + " is not allowed; use " + method + "."}})
		return
	}

	// The body is read before any wait: net/http notices a client that gave
	// up only once the body is consumed.
	var body []byte
	var bodyProblem *answer
	if r.Method == http.MethodPost {
		body, bodyProblem = readBody(w, r, targetOf(ep))
	}

	f, faults := e.decide()
	if f != faultNone {
		log = log.With(slog.String("fault", f.String()))
	}
	if faults.Latency > 0 && !sleep(r.Context(), faults.Latency) {
		return // the client gave up; nobody is left to answer
	}
	if f == faultDropBefore {
		e.drop(w, log, ep, false)
		return
	}
	if a, ok := faultAnswer(f, faults, w.Header()); ok {
		e.write(w, log, ep, a)
		return
	}

	var a answer
	switch {
	case r.URL.Query().Get("api-version") != metering.APIVersion:
		a = answer{http.StatusBadRequest, &metering.ErrorDetail{
			Code: "BadArgument", Target: "api-version",
			Message: "The api-version query parameter is missing or unsupported; the supported api-version is " + metering.APIVersion + "."}}
	case !e.authorized(r):
		a = answer{http.StatusForbidden, &metering.ErrorDetail{Code: "Forbidden", Message: msgForbidden}}
	case bodyProblem != nil:
		a = *bodyProblem
	case ep == EndpointUsageEvent:
		a = e.usageEvent(body)
	case ep == EndpointBatchUsageEvent:
		a = e.batchUsageEvent(body)
	default:
		a = e.usageEvents(r)
	}
	if f == faultDropAfter {
		e.drop(w, log, ep, true)
		return
	}
	e.write(w, log, ep, a)
}

// route maps a path ending in /api/<operation> (case-insensitive, as the
// service's routing is) to its endpoint and method.
func route(path string) (Endpoint, string) {
	segs := strings.Split(strings.TrimSuffix(path, "/"), "/")
	if len(segs) < 2 || !strings.EqualFold(segs[len(segs)-2], "api") {
		return EndpointOther, ""
	}
	switch last := segs[len(segs)-1]; {
	case strings.EqualFold(last, string(EndpointUsageEvent)):
		return EndpointUsageEvent, http.MethodPost
	case strings.EqualFold(last, string(EndpointBatchUsageEvent)):
		return EndpointBatchUsageEvent, http.MethodPost
	case strings.EqualFold(last, string(EndpointUsageEvents)):
		return EndpointUsageEvents, http.MethodGet
	}
	return EndpointOther, ""
}

// authorized reports whether the request carries a bearer token the
// emulator accepts.
func (e *Emulator) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return false
	}
	return e.tokens == nil || e.tokens(token)
}

// write sends an answer as JSON and counts it.
func (e *Emulator) write(w http.ResponseWriter, log *slog.Logger, ep Endpoint, a answer) {
	body, err := json.Marshal(a.body)
	if err != nil {
		a.status = http.StatusInternalServerError
		body = []byte(`{"code":"InternalServerError","message":"The emulator could not encode its answer."}`)
		log.Error("encode answer", slog.Any("error", err))
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(a.status)
	if _, err := w.Write(body); err != nil {
		log.Debug("write answer", slog.Any("error", err))
	}

	e.mu.Lock()
	if e.stats.Responses[ep] == nil {
		e.stats.Responses[ep] = map[int]int{}
	}
	e.stats.Responses[ep][a.status]++
	e.mu.Unlock()
	log.Info("metering request", slog.String("endpoint", string(ep)), slog.Int("status", a.status))
}

// sleep waits d, or less if ctx ends first; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
