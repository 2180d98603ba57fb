package metering

import (
	"errors"
	"time"
)

// The money logic: pure functions of a ledger record, an answer and the
// time, so every branch is tested without a store or a network.

// Action is what a pass does with an hour.
type Action int

// Actions.
const (
	ActionNone  Action = iota // open, settled and balanced, or nothing counted
	ActionSend                // send Quantity() for the hour's own time
	ActionCarry               // move Decision.Quantity into the open hour
)

// Decision is what to do with one hour now.
type Decision struct {
	Action   Action
	Quantity float64
	Reason   string // why a quantity is carried
}

// Carry reasons.
const (
	ReasonExpired   = "expired"   // the hour can no longer be sent for its own time
	ReasonShortfall = "shortfall" // a duplicate billed less than we counted
	ReasonLate      = "late"      // usage arrived after the hour was settled
)

// Closed reports whether hour ended at least grace ago: only then is its
// count final enough to send.
func Closed(now time.Time, grace time.Duration, hour time.Time) bool {
	return !hour.Add(time.Hour + grace).After(now)
}

// Sendable reports whether an event for hour is still inside the service's
// 24-hour window, with margin to spare.
func Sendable(now time.Time, margin time.Duration, hour time.Time) bool {
	return now.Sub(hour) < Window-margin
}

// Decide is the rule for one hour.
func Decide(now time.Time, grace, margin time.Duration, rec Record) Decision {
	if !Closed(now, grace, rec.Hour) {
		return Decision{}
	}
	if rec.State.Settled() {
		// Whatever is still due after the service's word (votes that came
		// late, a duplicate's shortfall, an expired hour) moves forward.
		if due := rec.Due(); due > 0 {
			reason := ReasonLate
			switch rec.State {
			case StateExpired:
				reason = ReasonExpired
			case StateDuplicate:
				if rec.Reported < rec.Sent {
					reason = ReasonShortfall
				}
			}
			return Decision{Action: ActionCarry, Quantity: due, Reason: reason}
		}
		return Decision{}
	}
	q := rec.Quantity()
	if q <= 0 {
		return Decision{} // the API refuses quantity 0: an hour without usage sends nothing
	}
	// An inflight hour may already be billed: only the service can say, so
	// it is asked even past the window (it answers Duplicate or Expired).
	if rec.State == StateInflight || Sendable(now, margin, rec.Hour) {
		return Decision{Action: ActionSend, Quantity: q}
	}
	return Decision{Action: ActionCarry, Quantity: q, Reason: ReasonExpired}
}

// Outcome is what came back for one sent hour: a result, or an error for
// the whole call.
type Outcome struct {
	Result        EventResult
	Err           error
	CorrelationID string
}

// Apply is the ledger record after an answer to rec's inflight send. It
// never settles an hour without the service's word.
func Apply(rec Record, o Outcome) Record {
	rec.CorrelationID = o.CorrelationID
	if o.Err != nil {
		rec.LastError = errorText(o.Err)
		// Refused outright (403, 400) or never sent (no token): the event
		// was not taken, so the hour is plainly pending. Otherwise (timeouts, resets, 5xx, 429 after
		// retries) it may have arrived: it stays inflight for a resend.
		if IsForbidden(o.Err) || isRefused(o.Err) || errors.Is(o.Err, ErrToken) {
			rec.State = StatePending
		}
		return rec
	}
	res := o.Result
	switch res.Status {
	case StatusAccepted, StatusDuplicate:
		acc, ok := res.Accepted()
		if !ok {
			rec.LastError = "duplicate answer without acceptedMessage"
			return rec // stays inflight: resend asks again
		}
		rec.State = StateAccepted
		if res.Status == StatusDuplicate {
			rec.State = StateDuplicate
			if acc.Quantity > rec.Sent {
				rec.State = StateMismatch
			}
		}
		rec.Reported = acc.Quantity
		rec.UsageEventID = acc.UsageEventID
		rec.MessageTime = acc.MessageTime.Time
		rec.LastError = ""
	case StatusExpired:
		rec.State = StateExpired
		rec.LastError = ""
	default:
		// InvalidDimension, ResourceNotFound, BadArgument...: the event was
		// refused; the hour waits for the configuration to be fixed, and is
		// carried if that takes past the window.
		rec.State = StatePending
		rec.LastError = string(res.Status)
		if res.Error != nil && res.Error.Message != "" {
			rec.LastError += ": " + res.Error.Message
		}
	}
	return rec
}

// isRefused reports an API answer that means "not taken": a 4xx other than
// the transient 408 and 429.
func isRefused(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	return ae.StatusCode >= 400 && ae.StatusCode < 500 && ae.StatusCode != 408 && ae.StatusCode != 429
}

func errorText(err error) string {
	s := err.Error()
	if len(s) > 500 {
		s = s[:500] + "…"
	}
	return s
}
