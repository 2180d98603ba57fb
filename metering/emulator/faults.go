package emulator

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/azure-vote/azure-vote/metering"
)

// Faults are the failures of a real network and a busy service that the
// emulator injects, so that a client's retries can be tested. Each request
// to a known endpoint draws one number in [0, 1) from a generator seeded
// with Seed: below DropRate it is dropped, in the next ErrorRate it gets a
// 500 or 503, in the next ThrottleRate a 429, in the next DropAfterRate it is
// processed and then dropped; rates whose sum exceeds 1
// leave the later kinds less than their share. A faulted request is never
// both recorded and answered with success, so a client that sees an error
// may always resend.
type Faults struct {
	// ErrorRate is the fraction of requests answered 500 or 503 before
	// processing (nothing is recorded).
	ErrorRate float64
	// ThrottleRate is the fraction answered 429 with Retry-After before
	// processing.
	ThrottleRate float64
	// RetryAfter is the wait a 429 asks for, sent in whole seconds rounded
	// up; zero sends 1, as a real throttle never asks for no wait.
	RetryAfter time.Duration
	// Latency is added to every request to a known endpoint.
	Latency time.Duration
	// DropRate is the fraction of connections closed without an answer.
	// Half of them are closed before processing and half after: then the
	// event is recorded but the answer lost, the "sent, outcome unknown"
	// case a client must settle by resending and reading the Duplicate.
	DropRate float64
	// DropAfterRate is the fraction of connections closed without an
	// answer after the request was processed, always: the event is recorded
	// and the client cannot know.
	DropAfterRate float64
	// Seed makes the draws reproducible (for a sequential client).
	Seed int64
}

// fault is what the draw decided for one request.
type fault int

const (
	faultNone fault = iota
	faultDropBefore
	faultDropAfter
	faultError500
	faultError503
	faultThrottle
)

func (f fault) String() string {
	switch f {
	case faultDropBefore:
		return "drop-before"
	case faultDropAfter:
		return "drop-after"
	case faultError500:
		return "error-500"
	case faultError503:
		return "error-503"
	case faultThrottle:
		return "throttle"
	}
	return "none"
}

// decide draws the fault of one request and returns it with the faults in
// force. It always draws, so that the sequence depends only on the seed and
// the order of requests.
func (e *Emulator) decide() (fault, Faults) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f := e.faults
	u := e.rng.Float64()
	switch {
	case u < f.DropRate:
		if e.rng.IntN(2) == 0 {
			return faultDropBefore, f
		}
		return faultDropAfter, f
	case u < f.DropRate+f.ErrorRate:
		if e.rng.IntN(2) == 0 {
			return faultError500, f
		}
		return faultError503, f
	case u < f.DropRate+f.ErrorRate+f.ThrottleRate:
		return faultThrottle, f
	case u < f.DropRate+f.ErrorRate+f.ThrottleRate+f.DropAfterRate:
		return faultDropAfter, f
	}
	return faultNone, f
}

// faultAnswer is the answer given instead of processing under fault f, if
// it has one; a 429 also sets Retry-After in h.
func faultAnswer(f fault, faults Faults, h http.Header) (answer, bool) {
	switch f {
	case faultError500:
		return answer{http.StatusInternalServerError, &metering.ErrorDetail{
			Code: "InternalServerError", Message: "An unexpected error occurred. Retry the request."}}, true
	case faultError503:
		return answer{http.StatusServiceUnavailable, &metering.ErrorDetail{
			Code: "ServiceUnavailable", Message: "The service is temporarily unavailable. Retry the request."}}, true
	case faultThrottle:
		secs := retryAfterSeconds(faults.RetryAfter)
		h.Set("Retry-After", secs)
		return answer{http.StatusTooManyRequests, &metering.ErrorDetail{
			Code: "TooManyRequests", Message: "Rate limit is exceeded. Try again in " + secs + " seconds."}}, true
	}
	return answer{}, false
}

// retryAfterSeconds is the Retry-After value for d: whole seconds, rounded
// up, at least 1.
func retryAfterSeconds(d time.Duration) string {
	secs := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(secs, 1), 10)
}

// drop closes the connection without an answer.
func (e *Emulator) drop(w http.ResponseWriter, log *slog.Logger, ep Endpoint, after bool) {
	e.mu.Lock()
	e.stats.Dropped[ep]++
	if after {
		e.stats.DroppedAfterProcessing++
	}
	e.mu.Unlock()
	log.Info("metering request dropped", slog.String("endpoint", string(ep)), slog.Bool("afterProcessing", after))

	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// HTTP/2, or a writer that cannot be hijacked: aborting the handler
		// is the other way net/http offers to cut an answer off.
		panic(http.ErrAbortHandler)
	}
	if err := conn.Close(); err != nil {
		log.Debug("close dropped connection", slog.Any("error", err))
	}
}
