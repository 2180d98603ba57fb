package metering

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/google/uuid"
)

// Name and version the azcore telemetry policy puts in the User-Agent.
const (
	moduleName    = "metering"
	moduleVersion = "v1.0.0"
)

// ClientOptions configures a Client. The zero value is ready to use.
type ClientOptions struct {
	// ClientOptions configures the azcore pipeline (Retry, Transport,
	// Telemetry, TracingProvider, PerCallPolicies, PerRetryPolicies, ...).
	// Retry fields left zero get this package's defaults: MaxRetries 4,
	// RetryDelay 1s (exponential, with jitter), MaxRetryDelay 30s,
	// TryTimeout 30s, StatusCodes 408, 429, 500, 502, 503, 504. A Retry-After
	// longer than MaxRetryDelay is not waited for: the call returns an
	// *APIError carrying it.
	//
	// InsecureAllowCredentialWithHTTP is ignored: plain http is allowed
	// exactly when the endpoint's host is a loopback address.
	azcore.ClientOptions

	// Logger receives one line per call. Nil discards.
	Logger *slog.Logger

	// ObserveTry, when set, is told of every try of every call: the
	// operation (usageEvent, batchUsageEvent or usageEvents), the HTTP
	// status (0 when no answer came) and how long it took. For metrics.
	ObserveTry func(operation string, status int, d time.Duration)
}

// Client calls the Metering Service API. It is safe for concurrent use.
//
// Retrying a POST is safe with this API: the service keeps one event per
// resource, dimension and hour, so a resend of an event that did arrive is
// answered Duplicate, never billed twice.
type Client struct {
	az     *azcore.Client
	base   *url.URL
	logger *slog.Logger
}

// NewClient returns a client of the API at endpoint, the base URL that the
// operation names follow (DefaultEndpoint, or an emulator's ".../api"), as
// CheckEndpoint accepts it. Tokens come from cred for Scope.
func NewClient(endpoint string, cred azcore.TokenCredential, o *ClientOptions) (*Client, error) {
	base, plainHTTP, err := parseEndpoint(endpoint)
	if err != nil {
		return nil, fmt.Errorf("metering: endpoint: %w", err)
	}
	if cred == nil {
		return nil, errors.New("metering: NewClient: no credential")
	}
	var opts ClientOptions
	if o != nil {
		opts = *o
	}
	co := opts.ClientOptions
	co.Retry = retryDefaults(co.Retry)
	co.InsecureAllowCredentialWithHTTP = plainHTTP

	bearer := runtime.NewBearerTokenPolicy(tokenSource{cred}, []string{Scope},
		&policy.BearerTokenOptions{InsecureAllowCredentialWithHTTP: plainHTTP})
	// countAttempt sits after the bearer policy: it sees only tries that
	// got a token and so could leave this process.
	perRetry := []policy.Policy{bearer, policyFunc(countAttempt)}
	if opts.ObserveTry != nil {
		perRetry = append(perRetry, observeTries(opts.ObserveTry))
	}
	az, err := azcore.NewClient(moduleName, moduleVersion, runtime.PipelineOptions{
		// Let azcore's own logging (azcore/log) show the ids and queries.
		AllowedHeaders: []string{HeaderRequestID, HeaderCorrelationID},
		AllowedQueryParameters: []string{
			"api-version", "usageStartDate", "UsageEndDate", "offerId",
			"planId", "dimension", "azureSubscriptionId", "reconStatus",
		},
		PerCall: []policy.Policy{policyFunc(setIDs)},
		// The bearer policy runs per try so that a retry after a long
		// Retry-After still carries a fresh token.
		PerRetry: perRetry,
	}, &co)
	if err != nil {
		return nil, fmt.Errorf("metering: NewClient: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Client{az: az, base: base, logger: logger}, nil
}

// Endpoint is the base URL the client calls.
func (c *Client) Endpoint() string { return c.base.String() }

// CheckEndpoint says why endpoint cannot be the base URL of a Client, or
// returns nil: an absolute URL whose path ends in /api, without user
// information, query or fragment, over https, or plain http to a loopback
// host only (a bearer token must never cross a network in clear). The
// error never repeats the URL: its user information may be a password.
func CheckEndpoint(endpoint string) error {
	_, _, err := parseEndpoint(endpoint)
	return err
}

// IsLocalEndpoint reports whether endpoint is served on this machine (a
// loopback host): an emulator's, never the service's.
func IsLocalEndpoint(endpoint string) bool {
	u, err := url.Parse(endpoint)
	return err == nil && isLoopback(u.Hostname())
}

// parseEndpoint checks endpoint (see CheckEndpoint) and reports whether it
// is plain http on a loopback host.
func parseEndpoint(endpoint string) (*url.URL, bool, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		// The URL is not repeated: its user information may be a password.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, false, err
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "":
		return nil, false, fmt.Errorf("want an absolute https URL such as %s", DefaultEndpoint)
	case u.User != nil:
		return nil, false, errors.New("must not carry user information: the API takes a bearer token")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, false, errors.New("must not have a query or fragment")
	case !strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/api"):
		return nil, false, errors.New("the base URL must end in /api")
	}
	plain := u.Scheme == "http"
	if plain && !isLoopback(u.Hostname()) {
		return nil, false, errors.New("plain http would expose the bearer token; use https (http is allowed only for a loopback emulator)")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, plain, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func retryDefaults(r policy.RetryOptions) policy.RetryOptions {
	if r.MaxRetries == 0 {
		r.MaxRetries = 4
	}
	if r.RetryDelay == 0 {
		r.RetryDelay = time.Second
	}
	if r.MaxRetryDelay == 0 {
		r.MaxRetryDelay = 30 * time.Second
	}
	if r.TryTimeout == 0 {
		r.TryTimeout = 30 * time.Second
	}
	if r.StatusCodes == nil {
		r.StatusCodes = []int{
			http.StatusRequestTimeout, http.StatusTooManyRequests,
			http.StatusInternalServerError, http.StatusBadGateway,
			http.StatusServiceUnavailable, http.StatusGatewayTimeout,
		}
	}
	return r
}

// SendUsageEvent posts one event to usageEvent. The service's answers are
// results, not errors:
//   - 200: Status Accepted, the service's record of the event;
//   - 409: Status Duplicate, the event as sent, with Error.AdditionalInfo.
//     AcceptedMessage the event billed first for the hour (its quantity may
//     differ from ours); result.Accepted() returns it;
//   - 400 whose every detail targets effectiveStartTime: Status Expired, the
//     event as sent, with Error (the service uses that answer for "too old"
//     and "in the future" alike).
//
// Any other answer is an *APIError; a call without a usable answer is a
// *TransportError (see IsTransient); a failure to get a token wraps ErrToken.
func (c *Client) SendUsageEvent(ctx context.Context, ev UsageEvent) (_ EventResult, err error) {
	ctx, endSpan := runtime.StartSpan(ctx, "Client.SendUsageEvent", c.az.Tracer(), nil)
	defer func() { endSpan(err) }()

	x, err := c.exchange(ctx, http.MethodPost, "usageEvent", nil, ev)
	if err != nil {
		return EventResult{}, err
	}
	return x.eventResult(ev)
}

// eventResult reads the answer to one usage event.
func (x *exchanged) eventResult(ev UsageEvent) (EventResult, error) {
	switch {
	case x.status == http.StatusOK:
		var res EventResult
		if err := json.Unmarshal(x.body, &res); err != nil {
			return EventResult{}, x.unreadable(err)
		}
		if res.Status == "" {
			res.Status = StatusAccepted
		}
		res.Unanswered = x.unanswered
		return res, nil
	case x.status == http.StatusConflict:
		d := x.detail
		if d.Code == "" {
			d.Code = "Conflict"
		}
		res := sentResult(ev, StatusDuplicate, &d)
		res.Unanswered = x.unanswered
		return res, nil
	case x.status == http.StatusBadRequest && isExpiry(x.detail):
		d := x.detail
		res := sentResult(ev, StatusExpired, &d)
		res.Unanswered = x.unanswered
		return res, nil
	}
	return EventResult{}, x.apiError()
}

// SendBatch posts 1 to MaxBatch events to batchUsageEvent and returns the
// service's results. The API documents no order for them: match each result
// to its event by its echo (resource, dimension, effectiveStartTime), never by
// position, and expect an answer to be short, long or wrong. Every per-event status
// (Accepted, Duplicate, Expired, ResourceNotFound, ...) is a result; an
// answer that is not 200 is an *APIError. A batch of 0 or more than MaxBatch
// events is refused before sending with a *BatchSizeError.
func (c *Client) SendBatch(ctx context.Context, events []UsageEvent) (_ BatchResult, err error) {
	if n := len(events); n == 0 || n > MaxBatch {
		return BatchResult{}, &BatchSizeError{Size: n}
	}
	ctx, endSpan := runtime.StartSpan(ctx, "Client.SendBatch", c.az.Tracer(), nil)
	defer func() { endSpan(err) }()

	x, err := c.exchange(ctx, http.MethodPost, "batchUsageEvent", nil, BatchRequest{Request: events})
	if err != nil {
		return BatchResult{}, err
	}
	return x.batchResult()
}

// batchResult reads the answer to a batch.
func (x *exchanged) batchResult() (BatchResult, error) {
	if x.status != http.StatusOK {
		return BatchResult{}, x.apiError()
	}
	var res BatchResult
	if err := json.Unmarshal(x.body, &res); err != nil {
		return BatchResult{}, x.unreadable(err)
	}
	res.Unanswered = x.unanswered
	return res, nil
}

// UsageEvents reads what the service recorded (GET usageEvents). q.Start is
// required; every other field is sent only when set.
func (c *Client) UsageEvents(ctx context.Context, q UsageQuery) (_ []UsageRecord, err error) {
	if q.Start.IsZero() {
		return nil, errors.New("metering: GET usageEvents: the query needs a start (usageStartDate)")
	}
	ctx, endSpan := runtime.StartSpan(ctx, "Client.UsageEvents", c.az.Tracer(), nil)
	defer func() { endSpan(err) }()

	v := url.Values{}
	v.Set("usageStartDate", queryTime(q.Start))
	if !q.End.IsZero() {
		v.Set("UsageEndDate", queryTime(q.End))
	}
	for name, val := range map[string]string{
		"offerId":             q.OfferID,
		"planId":              q.PlanID,
		"dimension":           q.Dimension,
		"azureSubscriptionId": q.AzureSubscriptionID,
		"reconStatus":         string(q.ReconStatus),
	} {
		if val != "" {
			v.Set(name, val)
		}
	}
	x, err := c.exchange(ctx, http.MethodGet, "usageEvents", v, nil)
	if err != nil {
		return nil, err
	}
	return x.usageRecords()
}

// usageRecords reads the answer to GET usageEvents.
func (x *exchanged) usageRecords() ([]UsageRecord, error) {
	if x.status != http.StatusOK {
		return nil, x.apiError()
	}
	recs := []UsageRecord{}
	if err := json.Unmarshal(x.body, &recs); err != nil {
		return nil, x.unreadable(err)
	}
	return recs, nil
}

func queryTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// sentResult is the result for an answer that does not echo the event.
func sentResult(ev UsageEvent, st Status, d *ErrorDetail) EventResult {
	r := ev.Echo(st)
	r.Error = d
	return r
}

// isExpiry reports whether a 400 is about the event's time and nothing else:
// a 400 that also names, say, a missing resource must not be taken for an
// expiry, or the reporter would carry usage that can never be billed.
func isExpiry(d ErrorDetail) bool {
	leaves := d.Details
	if len(leaves) == 0 {
		leaves = []ErrorDetail{d}
	}
	for _, l := range leaves {
		if !strings.EqualFold(l.Target, "effectiveStartTime") {
			return false
		}
	}
	return true
}

// exchanged is one call's final answer.
type exchanged struct {
	op                       string // "POST usageEvent"
	status                   int
	header                   http.Header
	body                     []byte
	detail                   ErrorDetail // decoded body of a non-2xx answer
	requestID, correlationID string
	attempts                 int
	// unanswered counts earlier tries that got no definitive answer (no
	// response, a 408, 429 or 5xx): any of them may have been recorded.
	unanswered int
}

func (x *exchanged) apiError() *APIError {
	return &APIError{
		Op:            x.op,
		StatusCode:    x.status,
		Detail:        x.detail,
		RequestID:     x.requestID,
		CorrelationID: x.correlationID,
		RetryAfter:    retryAfter(x.header, time.Now()),
		Unanswered:    max(0, x.unanswered-boolInt(!definitive(x.status))),
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// unreadable is the error for an answer that came back but cannot be used:
// whatever it said, the event may have been recorded.
func (x *exchanged) unreadable(err error) *TransportError {
	return &TransportError{
		Op:            x.op,
		StatusCode:    x.status,
		RequestID:     x.requestID,
		CorrelationID: x.correlationID,
		Attempts:      x.attempts,
		Err:           fmt.Errorf("%d answer: %w", x.status, err),
	}
}

// exchange sends one call through the pipeline, reads its answer and logs
// one line for it.
func (c *Client) exchange(ctx context.Context, method, name string, query url.Values, body any) (*exchanged, error) {
	op := method + " " + name
	// A call that cannot start is not sent: say so plainly, not as a
	// transport error that would suggest it may have arrived.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("metering: %s: %w: %w", op, ErrNotSent, err)
	}
	u := c.base.JoinPath(name)
	if query == nil {
		query = url.Values{}
	}
	query.Set("api-version", APIVersion)
	u.RawQuery = query.Encode()

	tries := new(tryCounts)
	req, err := runtime.NewRequest(context.WithValue(ctx, attemptsKey{}, tries), method, u.String())
	if err != nil {
		return nil, fmt.Errorf("metering: %s: %w: %w", op, ErrNotSent, err)
	}
	req.Raw().Header.Set("Accept", "application/json")
	if body != nil {
		if err := runtime.MarshalAsJSON(req, body); err != nil {
			return nil, fmt.Errorf("metering: %s: %w: %w", op, ErrNotSent, err)
		}
	}

	start := time.Now()
	resp, err := c.az.Pipeline().Do(req)
	x := &exchanged{
		op:            op,
		requestID:     req.Raw().Header.Get(HeaderRequestID),
		correlationID: req.Raw().Header.Get(HeaderCorrelationID),
		attempts:      int(tries.sent.Load()),
		unanswered:    int(tries.unanswered.Load()),
	}
	if resp != nil {
		x.status, x.header = resp.StatusCode, resp.Header
	}
	if err == nil {
		x.body, err = runtime.Payload(resp)
	}
	c.logCall(ctx, method, u.Path, x, time.Since(start), err)
	switch {
	case errors.Is(err, ErrToken) && x.unanswered == 0:
		return nil, fmt.Errorf("metering: %s: %w", op, err)
	case err != nil:
		// A try before this failure may have been recorded, whatever ended
		// the call (a token that could not be renewed, say).
		err = tries.explain(err)
		return nil, &TransportError{Op: op, RequestID: x.requestID, CorrelationID: x.correlationID, Attempts: x.attempts, Err: err}
	}
	if x.status >= 300 {
		x.detail = decodeDetail(x.body)
	}
	return x, nil
}

func (c *Client) logCall(ctx context.Context, method, path string, x *exchanged, d time.Duration, err error) {
	level := slog.LevelInfo
	if err != nil || (x.status >= 400 && x.status != http.StatusConflict) {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("path", path),
		slog.Int("status", x.status),
		slog.String("request_id", x.requestID),
		slog.String("correlation_id", x.correlationID),
		slog.Duration("duration", d),
		slog.Int("attempts", x.attempts),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	c.logger.LogAttrs(ctx, level, "metering call", attrs...)
}

// tokenPattern matches a bearer credential or a bare JWT, which a proxy or
// a faulty emulator may echo into an error body.
var tokenPattern = regexp.MustCompile(`(?i)bearer\s+[^\s"',;]+|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`)

// decodeDetail reads an error body; a body that is not the API's error
// object (a proxy's HTML page, say) is kept, shortened, as the message.
// Anything shaped like a token is blanked first, as errors get logged.
func decodeDetail(body []byte) ErrorDetail {
	body = tokenPattern.ReplaceAll(body, []byte("[redacted]"))
	var d ErrorDetail
	if err := json.Unmarshal(body, &d); err == nil {
		redactDetail(&d) // a JSON escape can hide a token from the first pass
		return d
	}
	const limit = 256
	s := strings.TrimSpace(string(body))
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return ErrorDetail{Message: s}
}

// redactDetail blanks anything shaped like a token in the decoded texts.
func redactDetail(d *ErrorDetail) {
	for _, s := range []*string{&d.Code, &d.Message, &d.Target} {
		*s = tokenPattern.ReplaceAllString(*s, "[redacted]")
	}
	for i := range d.Details {
		redactDetail(&d.Details[i])
	}
}

// retryAfter reads the wait the service asked for, in the headers azcore's
// retry policy honours.
func retryAfter(h http.Header, now time.Time) time.Duration {
	for _, ms := range []string{"retry-after-ms", "x-ms-retry-after-ms"} {
		if n, err := strconv.Atoi(h.Get(ms)); err == nil && n > 0 {
			return time.Duration(n) * time.Millisecond
		}
	}
	v := h.Get("Retry-After")
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

type correlationKey struct{}

// WithCorrelationID returns a context whose calls carry id as their
// x-ms-correlationid, so that a caller can record it beside the outcome and
// find the call in the service's logs. Calls without one get a new UUID.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey{}, id)
}

type attemptsKey struct{}

// explain puts the last try's failure before a deadline or cancellation
// that ended the call while it waited to retry: "connection refused"
// says what is wrong, "context deadline exceeded" only when it gave up.
func (t *tryCounts) explain(err error) error {
	last := t.last.Load()
	if last == nil || errors.Is(*last, context.DeadlineExceeded) || errors.Is(*last, context.Canceled) ||
		!(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		return err
	}
	n := t.sent.Load()
	word := "tries"
	if n == 1 {
		word = "try"
	}
	return fmt.Errorf("%w (after %d %s; stopped waiting to retry: %w)", *last, n, word, err)
}

type policyFunc func(*policy.Request) (*http.Response, error)

func (f policyFunc) Do(req *policy.Request) (*http.Response, error) { return f(req) }

// setIDs gives every call its request and correlation ids. It runs once per
// call, so the tries of one call share them.
func setIDs(req *policy.Request) (*http.Response, error) {
	h := req.Raw().Header
	if h.Get(HeaderRequestID) == "" {
		h.Set(HeaderRequestID, uuid.NewString())
	}
	id, _ := req.Raw().Context().Value(correlationKey{}).(string)
	if id == "" {
		id = uuid.NewString()
	}
	h.Set(HeaderCorrelationID, id)
	return req.Next()
}

// observeTries reports each try's operation, status and duration.
func observeTries(observe func(operation string, status int, d time.Duration)) policy.Policy {
	return policyFunc(func(req *policy.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := req.Next()
		status := 0
		if err == nil && resp != nil {
			status = resp.StatusCode
		}
		observe(operationOf(req.Raw().URL.Path), status, time.Since(start))
		return resp, err
	})
}

// operationOf names the operation of a request path, from a fixed set so
// that a metric label cannot grow without bound.
func operationOf(path string) string {
	switch op := path[strings.LastIndexByte(path, '/')+1:]; op {
	case "usageEvent", "batchUsageEvent", "usageEvents":
		return op
	}
	return "other"
}

// tryCounts are one call's tries: how many were sent, and how many of those
// got no definitive answer.
type tryCounts struct {
	sent, unanswered atomic.Int32
	last             atomic.Pointer[error] // the last try's failure, if it failed
}

func countAttempt(req *policy.Request) (*http.Response, error) {
	n, _ := req.Raw().Context().Value(attemptsKey{}).(*tryCounts)
	if n != nil {
		n.sent.Add(1)
	}
	resp, err := req.Next()
	if n != nil && (err != nil || resp == nil || !definitive(resp.StatusCode)) {
		n.unanswered.Add(1)
	}
	if n != nil && err != nil {
		n.last.Store(&err)
	}
	return resp, err
}

// definitive reports whether an HTTP status is the service's word on the
// request: anything but a 408, 429 or 5xx, which a gateway or a failing
// service may give after the event was recorded.
func definitive(status int) bool {
	return status != 0 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests && status < 500
}

// ErrToken marks a call that failed because no token could be had: the
// request was not sent.
var ErrToken = errors.New("metering: no token")

// ErrNotSent marks a call that failed before any request left the process
// (its context had ended, or the request could not be built).
var ErrNotSent = errors.New("request not sent")

// tokenSource marks the credential's failures with ErrToken, so that they
// can be told apart from failures of the call itself.
type tokenSource struct{ cred azcore.TokenCredential }

func (s tokenSource) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tk, err := s.cred.GetToken(ctx, o)
	if err != nil {
		return azcore.AccessToken{}, fmt.Errorf("%w: %w", ErrToken, err)
	}
	return tk, nil
}

// APIError is an answer of the service that is neither a result nor
// retried away: a 400 other than an expiry, a 403, a 404, a 5xx or 429 that
// outlasted the retries, ...
type APIError struct {
	Op            string        // "POST usageEvent"
	StatusCode    int           // HTTP status of the final answer
	Detail        ErrorDetail   // the decoded body: message, code, target, details
	RequestID     string        // x-ms-requestid of the call
	CorrelationID string        // x-ms-correlationid of the call
	RetryAfter    time.Duration // the wait the service asked for, if it did
	// Unanswered counts earlier tries of the call that got no definitive
	// answer (no response, a 408, 429 or 5xx): the final answer does not
	// speak for them, and any of them may have been recorded.
	Unanswered int
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "metering: %s: %d %s", e.Op, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Detail.Message != "" {
		b.WriteString(": " + e.Detail.Message)
	}
	for _, d := range e.Detail.Details {
		b.WriteString("; ")
		if d.Target != "" {
			b.WriteString(d.Target + ": ")
		}
		b.WriteString(d.Message)
	}
	if e.CorrelationID != "" {
		fmt.Fprintf(&b, " (correlation id %s)", e.CorrelationID)
	}
	return b.String()
}

// TransportError is a call that got no usable answer: the connection failed
// or dropped, a try timed out, the answer could not be read, or the context
// ended while the call was under way. The request may have reached the
// service and been recorded, so its outcome is unknown: resend the same
// event, and a Duplicate will settle it.
type TransportError struct {
	Op string
	// StatusCode is the status of an answer that came back but could not be
	// read (the service processed the request); 0 when none came.
	StatusCode    int
	RequestID     string
	CorrelationID string
	Attempts      int // tries sent
	Err           error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("metering: %s: %v (correlation id %s)", e.Op, e.Err, e.CorrelationID)
}

func (e *TransportError) Unwrap() error { return e.Err }

// BatchSizeError refuses a batch of 0 or more than MaxBatch events.
type BatchSizeError struct{ Size int }

func (e *BatchSizeError) Error() string {
	return fmt.Sprintf("metering: POST batchUsageEvent: a batch holds 1 to %d events, not %d", MaxBatch, e.Size)
}

// IsForbidden reports whether the service refused the caller's identity
// (403, or 401): a missing, expired or foreign token, or a resource of
// another publisher.
func IsForbidden(err error) bool {
	var e *APIError
	return errors.As(err, &e) && (e.StatusCode == http.StatusForbidden || e.StatusCode == http.StatusUnauthorized)
}

// IsBadRequest reports whether the service refused the request as malformed
// or not applicable (400), e.g. a missing resource or "Invalid usage state.".
func IsBadRequest(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.StatusCode == http.StatusBadRequest
}

// MayHaveArrived reports whether a failed call may have delivered its
// request to the service, which may have recorded it. It is false only for
// errors known to say otherwise: a refusal (403, 400, ...) when no earlier
// try of the same call went unanswered (a refusal answers only the try it
// was given to), a token that could not be had before any try, a call that
// never started (ErrNotSent), a batch of the wrong size. Any other error,
// one this package does not know included, may have arrived.
func MayHaveArrived(err error) bool {
	if err == nil {
		return false
	}
	var te *TransportError
	if errors.As(err, &te) {
		return true
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Unanswered > 0 || !definitive(ae.StatusCode)
	}
	var be *BatchSizeError
	if errors.As(err, &be) {
		return false
	}
	return !errors.Is(err, ErrToken) && !errors.Is(err, ErrNotSent)
}

// IsTransient reports whether err may pass if the call is made again later:
// a 408, 429 or 5xx answer, a *TransportError, a network error or timeout, an
// unexpected EOF or a reset connection. A transient error of a POST means the
// event may have been recorded. Errors wrapping ErrToken are not transient:
// nothing was sent.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, ErrToken) {
		return false
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		s := apiErr.StatusCode
		return s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500
	}
	var te *TransportError
	if errors.As(err, &te) {
		return true
	}
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) ||
		(errors.As(err, &ne) && ne.Timeout()) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE)
}
