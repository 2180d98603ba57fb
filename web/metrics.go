package web

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the web layer's Prometheus series. The registry is the
// caller's, so the metering side can register its own on the same one.
// A nil *Metrics records nothing.
type Metrics struct {
	registry    *prometheus.Registry
	votes       *prometheus.CounterVec
	usage       prometheus.Counter
	storeErrors prometheus.Counter
	requests    *prometheus.HistogramVec

	reports     *prometheus.CounterVec
	carried     prometheus.Counter
	mismatches  prometheus.Counter
	pending     prometheus.Gauge
	unresolved  prometheus.Gauge
	resolved    prometheus.Counter
	lastReport  prometheus.Gauge
	lastSuccess prometheus.Gauge
	apiCalls    *prometheus.HistogramVec

	// The children of requests and votes, by label values: resolving them
	// hashes every label on every request, a lookup here does not.
	requestSeries sync.Map // requestSeries → prometheus.Observer
	voteSeries    sync.Map // choice → prometheus.Counter
}

// requestSeries are the labels of one series of requests.
type requestSeries struct {
	method, route string
	code          int
}

// Namespace prefixes every series of the application.
const Namespace = "azure_vote"

// NewMetrics registers the web series on reg.
func NewMetrics(reg *prometheus.Registry) *Metrics {
	m := &Metrics{
		registry: reg,
		votes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "votes_total", Help: "Votes counted, by choice.",
		}, []string{"choice"}),
		usage: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "metering_usage_counted_total",
			Help: "Units of usage counted (one per vote), whatever becomes of their reporting.",
		}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "store_errors_total", Help: "Store calls that failed while serving a vote, a reset or the usage ledger.",
		}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "http_request_duration_seconds", Help: "HTTP requests by route and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 2.5},
		}, []string{"method", "route", "code"}),
	}
	m.reports = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "metering_reports_total",
		Help: "Usage events answered, by outcome (accepted, duplicate, mismatch, expired, failed).",
	}, []string{"outcome"})
	m.carried = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "metering_carried_quantity_total", Help: "Usage carried into a later hour.",
	})
	m.mismatches = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "metering_mismatches_total",
		Help: "Hours the service billed for more than was counted; each needs a person to look.",
	})
	m.pending = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "metering_pending_hours", Help: "Closed hours with usage not yet settled, after the last pass.",
	})
	m.unresolved = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "metering_unresolved_hours",
		Help: "Hours that may be billed and that neither a resend nor the service's records could settle, after the last pass: alert on any; an operator settles them.",
	})
	m.resolved = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "metering_resolved_hours_total",
		Help: "Hours whose answer was lost, settled from the service's daily records.",
	})
	m.lastReport = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "metering_last_pass_timestamp_seconds", Help: "End of the last reporting pass that held the lock.",
	})
	m.lastSuccess = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "metering_last_success_timestamp_seconds",
		Help: "End of the last reporting pass that held the lock and had no failed event.",
	})
	m.apiCalls = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "metering_api_request_duration_seconds",
		Help:    "Tries of Metering API calls, by operation and HTTP status (\"error\" when no answer came).",
		Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"operation", "code"})
	reg.MustRegister(m.votes, m.usage, m.storeErrors, m.requests, m.reports, m.carried, m.mismatches,
		m.pending, m.unresolved, m.resolved, m.lastReport, m.lastSuccess, m.apiCalls)
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// ObservePass records the outcome of a reporting pass.
func (m *Metrics) ObservePass(res metering.PassResult) {
	if m == nil || !res.Locked {
		return
	}
	for outcome, n := range map[string]int{
		"accepted": res.Accepted, "duplicate": res.Duplicate, "mismatch": res.Mismatch,
		"expired": res.Expired, "failed": res.Failed,
	} {
		m.reports.WithLabelValues(outcome).Add(float64(n))
	}
	m.carried.Add(res.Carried)
	m.mismatches.Add(float64(res.Mismatch))
	m.pending.Set(float64(res.Pending))
	m.unresolved.Set(float64(res.Unresolved))
	m.resolved.Add(float64(res.Resolved))
	end := float64(res.Start.Add(res.Duration).Unix())
	m.lastReport.Set(end)
	if res.Failed == 0 {
		m.lastSuccess.Set(end)
	}
}

// ObserveAPICall records one try of a Metering API call. Operation is the
// API's operation name (usageEvent, batchUsageEvent, usageEvents); status
// 0 means the try got no answer.
func (m *Metrics) ObserveAPICall(operation string, status int, d time.Duration) {
	if m == nil {
		return
	}
	code := "error"
	if status > 0 {
		code = strconv.Itoa(status)
	}
	m.apiCalls.WithLabelValues(operation, code).Observe(d.Seconds())
}

// countVote counts a vote for choice, one of the page's two.
func (m *Metrics) countVote(choice string) {
	if m == nil {
		return
	}
	c, ok := m.voteSeries.Load(choice)
	if !ok {
		c, _ = m.voteSeries.LoadOrStore(choice, m.votes.WithLabelValues(choice))
	}
	c.(prometheus.Counter).Inc()
	m.usage.Inc()
}

func (m *Metrics) storeError() {
	if m != nil {
		m.storeErrors.Inc()
	}
}

func (m *Metrics) observeRequest(r *http.Request, status int, d time.Duration) {
	if m == nil {
		return
	}
	// The route pattern, not the path, and the method only when it is a
	// standard one keep the label set bounded, whatever clients send.
	k := requestSeries{method: methodLabel(r.Method), route: "unmatched", code: status}
	if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
		k.route = rc.RoutePattern()
	}
	o, ok := m.requestSeries.Load(k)
	if !ok {
		o, _ = m.requestSeries.LoadOrStore(k, m.requests.WithLabelValues(k.method, k.route, strconv.Itoa(k.code)))
	}
	o.(prometheus.Observer).Observe(d.Seconds())
}

// methodLabel is method if it is one of HTTP's own, else "other".
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return method
	}
	return "other"
}
