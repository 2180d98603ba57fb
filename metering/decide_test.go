package metering

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

var (
	t0    = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) // an hour start
	grace = 5 * time.Minute
	marg  = 10 * time.Minute
)

func TestClosed(t *testing.T) {
	for _, tc := range []struct {
		now  time.Time
		want bool
	}{
		{t0.Add(30 * time.Minute), false},                    // the hour is open
		{t0.Add(time.Hour), false},                           // ended, within grace
		{t0.Add(time.Hour + grace - time.Nanosecond), false}, // a hair before grace ends
		{t0.Add(time.Hour + grace), true},                    // grace over
		{t0.Add(48 * time.Hour), true},                       // long closed
	} {
		if got := Closed(tc.now, grace, t0); got != tc.want {
			t.Errorf("Closed(now=%s) = %v, want %v", tc.now.Format(time.TimeOnly), got, tc.want)
		}
	}
}

func TestSendable(t *testing.T) {
	for _, tc := range []struct {
		age  time.Duration
		want bool
	}{
		{time.Hour + grace, true},
		{23 * time.Hour, true},
		{Window - marg - time.Second, true},
		{Window - marg, false},
		{Window, false},
		{30 * time.Hour, false},
	} {
		if got := Sendable(t0.Add(tc.age), marg, t0); got != tc.want {
			t.Errorf("Sendable(age %s) = %v, want %v", tc.age, got, tc.want)
		}
	}
}

func TestDecide(t *testing.T) {
	closed := t0.Add(2 * time.Hour) // the hour closed long enough
	old := t0.Add(Window)           // past the window
	for _, tc := range []struct {
		name string
		now  time.Time
		rec  Record
		want Decision
	}{
		{"open hour waits", t0.Add(10 * time.Minute), Record{Counted: 5}, Decision{}},
		{"within grace waits", t0.Add(time.Hour + time.Minute), Record{Counted: 5}, Decision{}},
		{"no usage sends nothing", closed, Record{}, Decision{}},
		{"pending sends its count", closed, Record{Counted: 5}, Decision{ActionSend, 5, ""}},
		{"explicit pending state", closed, Record{State: StatePending, Counted: 5, Attempts: 2}, Decision{ActionSend, 5, ""}},
		{"carried-in usage is sent with the hour", closed, Record{Counted: 5, CarriedIn: 3}, Decision{ActionSend, 8, ""}},
		{"only carried-in usage", closed, Record{CarriedIn: 3}, Decision{ActionSend, 3, ""}},
		{"inflight is resent", closed, Record{State: StateInflight, Counted: 5, Sent: 5, Attempts: 1}, Decision{ActionSend, 5, ""}},
		{"pending past the window is carried", old, Record{Counted: 5, CarriedIn: 1}, Decision{ActionCarry, 6, ReasonExpired}},
		{"inflight past the window asks the service", old, Record{State: StateInflight, Counted: 5, Sent: 5}, Decision{ActionSend, 5, ""}},
		{"accepted and balanced", closed, Record{State: StateAccepted, Counted: 5, Sent: 5, Reported: 5}, Decision{}},
		{"accepted then late votes", closed, Record{State: StateAccepted, Counted: 7, Sent: 5, Reported: 5}, Decision{ActionCarry, 2, ReasonLate}},
		{"late votes after a carry", closed, Record{State: StateAccepted, Counted: 9, Sent: 5, Reported: 5, CarriedOut: 2}, Decision{ActionCarry, 2, ReasonLate}},
		{"late votes in an old hour", old, Record{State: StateAccepted, Counted: 7, Sent: 5, Reported: 5}, Decision{ActionCarry, 2, ReasonLate}},
		{"duplicate, equal", closed, Record{State: StateDuplicate, Counted: 5, Sent: 5, Reported: 5}, Decision{}},
		{"duplicate with a shortfall", closed, Record{State: StateDuplicate, Counted: 5, Sent: 5, Reported: 3}, Decision{ActionCarry, 2, ReasonShortfall}},
		{"mismatch carries nothing", closed, Record{State: StateMismatch, Counted: 5, Sent: 5, Reported: 8}, Decision{}},
		{"expired by the service, not yet carried", closed, Record{State: StateExpired, Counted: 5, Sent: 5}, Decision{ActionCarry, 5, ReasonExpired}},
		{"expired and carried", old, Record{State: StateExpired, Counted: 5, CarriedOut: 5}, Decision{}},
		{"expired, carried, then late votes", old, Record{State: StateExpired, Counted: 6, CarriedOut: 5}, Decision{ActionCarry, 1, ReasonExpired}},
		{"fractional quantities", closed, Record{Counted: 0.25, CarriedIn: 0.5}, Decision{ActionSend, 0.75, ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.rec.Hour = t0
			if got := Decide(tc.now, grace, marg, tc.rec); got != tc.want {
				t.Errorf("Decide = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestApply(t *testing.T) {
	msgTime := Time{t0.Add(2*time.Hour + 3*time.Second)}
	inflight := Record{Hour: t0, State: StateInflight, Counted: 5, Sent: 5, Attempts: 1}
	accepted := func(q float64) EventResult {
		return EventResult{UsageEventID: "id-1", Status: StatusAccepted, MessageTime: msgTime, Quantity: q}
	}
	duplicate := func(q float64) EventResult {
		acc := accepted(q)
		acc.Status = StatusDuplicate
		return EventResult{Status: StatusDuplicate, Quantity: 5, Error: &ErrorDetail{
			Code: "Conflict", AdditionalInfo: &AdditionalInfo{AcceptedMessage: &acc}}}
	}
	forbidden := &APIError{StatusCode: http.StatusForbidden, Detail: ErrorDetail{Code: "Forbidden", Message: "Client is not authorized for this usage resource."}}
	badRequest := &APIError{StatusCode: http.StatusBadRequest, Detail: ErrorDetail{Code: "BadArgument", Message: "Invalid usage state."}}
	for _, tc := range []struct {
		name      string
		o         Outcome
		state     State
		reported  float64
		eventID   string
		wantError bool
	}{
		{"accepted", Outcome{Result: accepted(5)}, StateAccepted, 5, "id-1", false},
		{"duplicate, same quantity", Outcome{Result: duplicate(5)}, StateDuplicate, 5, "id-1", false},
		{"duplicate, smaller: shortfall", Outcome{Result: duplicate(3)}, StateDuplicate, 3, "id-1", false},
		{"duplicate, larger: mismatch", Outcome{Result: duplicate(8)}, StateMismatch, 8, "id-1", false},
		{"duplicate without acceptedMessage stays inflight", Outcome{Result: EventResult{Status: StatusDuplicate}}, StateInflight, 0, "", true},
		{"expired", Outcome{Result: EventResult{Status: StatusExpired}}, StateExpired, 0, "", false},
		{"invalid dimension", Outcome{Result: EventResult{Status: StatusInvalidDimension, Error: &ErrorDetail{Message: "The payload dimension is invalid."}}}, StatePending, 0, "", true},
		{"resource not found", Outcome{Result: EventResult{Status: StatusResourceNotFound}}, StatePending, 0, "", true},
		{"403 is pending", Outcome{Err: forbidden}, StatePending, 0, "", true},
		{"400 is pending", Outcome{Err: badRequest}, StatePending, 0, "", true},
		{"429 after retries stays inflight", Outcome{Err: &APIError{StatusCode: 429}}, StateInflight, 0, "", true},
		{"5xx stays inflight", Outcome{Err: &APIError{StatusCode: 503}}, StateInflight, 0, "", true},
		{"no token: nothing was sent", Outcome{Err: fmt.Errorf("%w: IMDS unreachable", ErrToken)}, StatePending, 0, "", true},
		{"network error stays inflight", Outcome{Err: errors.New("connection reset by peer")}, StateInflight, 0, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.CorrelationID = "corr-1"
			got := Apply(inflight, tc.o)
			if got.State != tc.state || got.Reported != tc.reported || got.UsageEventID != tc.eventID {
				t.Errorf("Apply = state %s reported %v id %q, want %s %v %q", got.State, got.Reported, got.UsageEventID, tc.state, tc.reported, tc.eventID)
			}
			if (got.LastError != "") != tc.wantError {
				t.Errorf("LastError = %q, want error: %v", got.LastError, tc.wantError)
			}
			if got.CorrelationID != "corr-1" {
				t.Errorf("CorrelationID = %q", got.CorrelationID)
			}
			if got.Sent != inflight.Sent || got.Counted != inflight.Counted || got.Attempts != inflight.Attempts {
				t.Errorf("Apply changed what it must not: %+v", got)
			}
			if tc.state == StateAccepted && !got.MessageTime.Equal(msgTime.Time) {
				t.Errorf("MessageTime = %s", got.MessageTime)
			}
		})
	}
}

// TestBooksBalance walks an hour through a life of answers and carries and
// checks that what was counted is always billed or carried, never both.
func TestBooksBalance(t *testing.T) {
	now := t0.Add(2 * time.Hour)
	rec := Record{Hour: t0, Counted: 10}
	step := func(d Decision) {
		t.Helper()
		switch d.Action {
		case ActionSend:
			rec.State, rec.Sent = StateInflight, d.Quantity
		case ActionCarry:
			rec.CarriedOut += d.Quantity
			if !rec.State.Settled() {
				rec.State = StateExpired
			}
		}
	}
	d := Decide(now, grace, marg, rec)
	step(d)
	// The service already held 7 for this hour (an earlier partial send).
	acc := EventResult{Status: StatusDuplicate, Quantity: 7}
	rec = Apply(rec, Outcome{Result: EventResult{Status: StatusDuplicate, Error: &ErrorDetail{AdditionalInfo: &AdditionalInfo{AcceptedMessage: &acc}}}})
	step(Decide(now, grace, marg, rec)) // shortfall 3 carried
	rec.Counted += 4                    // late votes
	step(Decide(now, grace, marg, rec)) // 4 carried
	if rec.Reported+rec.CarriedOut != rec.Counted || rec.Due() != 0 {
		t.Fatalf("books do not balance: %+v", rec)
	}
	if d := Decide(now, grace, marg, rec); d.Action != ActionNone {
		t.Fatalf("balanced hour still has work: %+v", d)
	}
}
