package metering

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
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
		{"inflight past the window asks the records", old, Record{State: StateInflight, Counted: 5, Sent: 5}, Decision{ActionResolve, 5, ""}},
		{"maybe billed resends what it sent", closed, Record{State: StatePending, Counted: 9, Sent: 5, MaybeBilled: true}, Decision{ActionSend, 5, ""}},
		{"maybe billed past the window is never carried", old, Record{State: StatePending, Counted: 9, Sent: 5, MaybeBilled: true}, Decision{ActionResolve, 5, ""}},
		{"unresolved asks the records, even in the window", closed, Record{State: StateUnresolved, Counted: 5, Sent: 5, MaybeBilled: true}, Decision{ActionResolve, 5, ""}},
		{"refused, not maybe billed, past the window is carried", old, Record{State: StatePending, Counted: 5, Sent: 5, LastError: "403"}, Decision{ActionCarry, 5, ReasonExpired}},
		{"resolved as held, with late votes", old, Record{State: StateAccepted, Counted: 9, Sent: 5, Reported: 5, ResolvedBy: ResolvedByRecords}, Decision{ActionCarry, 4, ReasonLate}},
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

// sentEvent is the event sent for t0 in the Apply tests.
var sentEvent = NewUsageEvent("/subscriptions/0000/resourceGroups/rg/providers/x/extensions/vote", "basic", "pervote", t0, 5)

// acceptedFor is the service's record of ev, as accepted with quantity q.
func acceptedFor(ev UsageEvent, q float64) EventResult {
	r := ev.Echo(StatusAccepted)
	r.UsageEventID = "id-1"
	r.MessageTime = Time{t0.Add(2*time.Hour + 3*time.Second)}
	r.Quantity = q
	return r
}

// duplicateOf is a Duplicate answer to ev whose acceptedMessage is acc.
func duplicateOf(ev UsageEvent, acc EventResult) EventResult {
	acc.Status = StatusDuplicate
	r := ev.Echo(StatusDuplicate)
	r.Error = &ErrorDetail{Code: "Conflict", AdditionalInfo: &AdditionalInfo{AcceptedMessage: &acc}}
	return r
}

func TestApply(t *testing.T) {
	fresh := Record{Hour: t0, Dimension: "pervote", State: StateInflight, Counted: 5, Sent: 5, Attempts: 1}
	maybe := fresh
	maybe.MaybeBilled = true // an earlier try may have arrived
	forbidden := &APIError{StatusCode: http.StatusForbidden, Detail: ErrorDetail{Code: "Forbidden", Message: "Client is not authorized for this usage resource."}}
	badRequest := &APIError{StatusCode: http.StatusBadRequest, Detail: ErrorDetail{Code: "BadArgument", Message: "Invalid usage state."}}
	forbiddenAfterDrop := &APIError{StatusCode: http.StatusForbidden, Unanswered: 1}
	noToken := fmt.Errorf("%w: IMDS unreachable", ErrToken)
	tokenAfterDrop := &TransportError{Op: "POST usageEvent", Err: noToken}
	unreadable := &TransportError{Op: "POST usageEvent", StatusCode: 200, Err: errors.New(`200 answer: "x" is not an ISO 8601 time`)}
	acc := acceptedFor(sentEvent, 5)
	other := func(f func(*EventResult)) EventResult { r := acc; f(&r); return r }
	itemError := func(st Status) Outcome {
		return Outcome{Result: EventResult{Status: st, Error: &ErrorDetail{Message: "refused"}}}
	}
	type want struct {
		state    State
		reported float64
		maybe    bool
		bad      int
		err      bool // LastError set
	}
	for _, tc := range []struct {
		name string
		rec  Record
		o    Outcome
		want want
	}{
		// The service's word settles, whatever came before.
		{"accepted", fresh, Outcome{Result: acc}, want{StateAccepted, 5, false, 0, false}},
		{"accepted after a lost answer", maybe, Outcome{Result: acc}, want{StateAccepted, 5, false, 0, false}},
		{"duplicate, same quantity", maybe, Outcome{Result: duplicateOf(sentEvent, acc)}, want{StateDuplicate, 5, false, 0, false}},
		{"duplicate, smaller: shortfall", maybe, Outcome{Result: duplicateOf(sentEvent, acceptedFor(sentEvent, 3))}, want{StateDuplicate, 3, false, 0, false}},
		{"duplicate, larger: mismatch", maybe, Outcome{Result: duplicateOf(sentEvent, acceptedFor(sentEvent, 8))}, want{StateMismatch, 8, false, 0, false}},
		{"duplicate from another plan", maybe, Outcome{Result: duplicateOf(sentEvent, other(func(r *EventResult) { r.PlanID = "gold" }))}, want{StateInflight, 0, true, 1, true}},

		// Answers that cannot be trusted: maybe billed, resent a bounded number of times.
		{"duplicate without acceptedMessage", fresh, Outcome{Result: EventResult{Status: StatusDuplicate}}, want{StateInflight, 0, true, 1, true}},
		{"accepted for another hour", fresh, Outcome{Result: other(func(r *EventResult) { r.EffectiveStartTime = Time{t0.Add(time.Hour)} })}, want{StateInflight, 0, true, 1, true}},
		{"accepted for another dimension", fresh, Outcome{Result: other(func(r *EventResult) { r.Dimension = "percore" })}, want{StateInflight, 0, true, 1, true}},
		{"accepted with another quantity", fresh, Outcome{Result: other(func(r *EventResult) { r.Quantity = 9 })}, want{StateInflight, 0, true, 1, true}},
		{"no result for the event", fresh, Outcome{Bad: "the answer holds no result for this event"}, want{StateInflight, 0, true, 1, true}},
		{"unknown status", fresh, Outcome{Result: EventResult{Status: "Pending"}}, want{StateInflight, 0, true, 1, true}},
		{"unreadable answer", fresh, Outcome{Err: unreadable}, want{StateInflight, 0, true, 1, true}},
		{"third bad answer: unresolved", Record{Hour: t0, State: StateInflight, Counted: 5, Sent: 5, MaybeBilled: true, BadAnswers: MaxBadAnswers - 1},
			Outcome{Result: EventResult{Status: StatusDuplicate}}, want{StateUnresolved, 0, true, MaxBadAnswers, true}},

		// No answer: it may have arrived.
		{"429 after retries", fresh, Outcome{Err: &APIError{StatusCode: 429}}, want{StateInflight, 0, true, 0, true}},
		{"5xx", fresh, Outcome{Err: &APIError{StatusCode: 503}}, want{StateInflight, 0, true, 0, true}},
		{"dropped connection", fresh, Outcome{Err: &TransportError{Op: "POST usageEvent", Err: errors.New("EOF")}}, want{StateInflight, 0, true, 0, true}},
		{"an error this package does not know", fresh, Outcome{Err: errors.New("connection reset by peer")}, want{StateInflight, 0, true, 0, true}},
		{"403 after a dropped try of the same call", fresh, Outcome{Err: forbiddenAfterDrop}, want{StateInflight, 0, true, 0, true}},
		{"no token after a dropped try of the same call", fresh, Outcome{Err: tokenAfterDrop}, want{StateInflight, 0, true, 0, true}},

		// Refusals of this try: not billed by it, and an earlier try's
		// possible billing is not forgotten.
		{"403, first try", fresh, Outcome{Err: forbidden}, want{StatePending, 0, false, 0, true}},
		{"403 after a lost answer", maybe, Outcome{Err: forbidden}, want{StatePending, 0, true, 0, true}},
		{"400 invalid usage state, first try", fresh, Outcome{Err: badRequest}, want{StatePending, 0, false, 0, true}},
		{"400 invalid usage state after a lost answer", maybe, Outcome{Err: badRequest}, want{StatePending, 0, true, 0, true}},
		{"no token, first try", fresh, Outcome{Err: noToken}, want{StatePending, 0, false, 0, true}},
		{"no token after a lost answer", maybe, Outcome{Err: noToken}, want{StatePending, 0, true, 0, true}},
		{"expired, first try", fresh, Outcome{Result: EventResult{Status: StatusExpired}}, want{StateExpired, 0, false, 0, false}},
		{"expired after a lost answer", maybe, Outcome{Result: EventResult{Status: StatusExpired}}, want{StateUnresolved, 0, true, 0, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.CorrelationID = "corr-1"
			tc.o.Event = sentEvent
			got := Apply(tc.rec, tc.o)
			w := tc.want
			if got.State != w.state || got.Reported != w.reported || got.MaybeBilled != w.maybe || got.BadAnswers != w.bad {
				t.Errorf("Apply = state %s reported %v maybe %v bad %d, want %s %v %v %d",
					got.State, got.Reported, got.MaybeBilled, got.BadAnswers, w.state, w.reported, w.maybe, w.bad)
			}
			if (got.LastError != "") != w.err {
				t.Errorf("LastError = %q, want error: %v", got.LastError, w.err)
			}
			if got.State == StateUnresolved && got.Unresolved == "" {
				t.Error("unresolved without a reason")
			}
			if got.CorrelationID != "corr-1" {
				t.Errorf("CorrelationID = %q", got.CorrelationID)
			}
			if got.Sent != tc.rec.Sent || got.Counted != tc.rec.Counted || got.Attempts != tc.rec.Attempts {
				t.Errorf("Apply changed what it must not: %+v", got)
			}
			if w.state == StateAccepted && !got.MessageTime.Equal(acc.MessageTime.Time) {
				t.Errorf("MessageTime = %s", got.MessageTime)
			}
		})
	}
	for _, st := range []Status{StatusError, StatusResourceNotFound, StatusResourceNotAuthorized, StatusResourceNotActive,
		StatusInvalidDimension, StatusInvalidQuantity, StatusBadArgument} {
		t.Run("batch item "+string(st)+" after a lost answer", func(t *testing.T) {
			o := itemError(st)
			o.Event = sentEvent
			got := Apply(maybe, o)
			if got.State != StatePending || !got.MaybeBilled || got.LastError == "" {
				t.Errorf("Apply = %+v, want pending, still maybe billed, with the error", got)
			}
			if got = Apply(fresh, o); got.State != StatePending || got.MaybeBilled {
				t.Errorf("first try: Apply = %+v, want pending, not maybe billed", got)
			}
		})
	}
}

func TestClaimKeepsWhatMayBeBilled(t *testing.T) {
	now := t0.Add(2 * time.Hour)
	pending := Record{Hour: t0, Counted: 5}
	if c := Claim(pending, 5, now, "c1"); c.State != StateInflight || c.MaybeBilled || c.Sent != 5 || c.Attempts != 1 {
		t.Errorf("first claim = %+v", c)
	}
	crashed := Record{Hour: t0, State: StateInflight, Counted: 7, Sent: 5, Attempts: 1}
	if d := Decide(now, grace, marg, crashed); d != (Decision{ActionSend, 5, ""}) {
		t.Errorf("an inflight hour resends what it sent: %+v", d)
	}
	if c := Claim(crashed, 5, now, "c2"); !c.MaybeBilled || c.Sent != 5 {
		t.Errorf("claim after a crash = %+v, want maybe billed, sending 5 again", c)
	}
}

func TestMatchResults(t *testing.T) {
	a := NewUsageEvent(sentEvent.ResourceURI, "basic", "pervote", t0, 5)
	b := NewUsageEvent(sentEvent.ResourceURI, "basic", "pervote", t0.Add(time.Hour), 7)
	events := []UsageEvent{a, b}
	upper := acceptedFor(b, 7)
	upper.ResourceURI = strings.ToUpper(upper.ResourceURI)
	for _, tc := range []struct {
		name    string
		results []EventResult
		matched []float64 // quantity of each event's match, 0 for none
		bad     []bool
		stray   int
	}{
		{"in order", []EventResult{acceptedFor(a, 5), acceptedFor(b, 7)}, []float64{5, 7}, []bool{false, false}, 0},
		{"reversed", []EventResult{acceptedFor(b, 7), acceptedFor(a, 5)}, []float64{5, 7}, []bool{false, false}, 0},
		{"resource case differs", []EventResult{acceptedFor(a, 5), upper}, []float64{5, 7}, []bool{false, false}, 0},
		{"short", []EventResult{acceptedFor(b, 7)}, []float64{0, 7}, []bool{true, false}, 0},
		{"twice for one event", []EventResult{acceptedFor(a, 5), acceptedFor(a, 5)}, []float64{5, 0}, []bool{true, true}, 0},
		{"an answer for an event not sent", []EventResult{acceptedFor(a, 5), acceptedFor(NewUsageEvent(a.ResourceURI, "basic", "pervote", t0.Add(5*time.Hour), 1), 1)},
			[]float64{5, 0}, []bool{false, true}, 1},
		{"an answer without a time", []EventResult{{Status: StatusAccepted, Quantity: 5}}, []float64{0, 0}, []bool{true, true}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			matched, bad, stray := matchResults(events, tc.results)
			for i := range events {
				if matched[i].Quantity != tc.matched[i] && !(tc.bad[i] && tc.matched[i] == 0) {
					t.Errorf("event %d matched %+v, want quantity %v", i, matched[i], tc.matched[i])
				}
				if (bad[i] != "") != tc.bad[i] {
					t.Errorf("event %d bad = %q, want bad: %v", i, bad[i], tc.bad[i])
				}
			}
			if len(stray) != tc.stray {
				t.Errorf("stray = %v, want %d", stray, tc.stray)
			}
		})
	}
}

func TestJudgeDay(t *testing.T) {
	day := DayOf(t0)
	h := func(n int) time.Time { return day.Add(time.Duration(n) * time.Hour) }
	held := func(n int, q float64) Record {
		return Record{Hour: h(n), State: StateAccepted, Counted: q, Sent: q, Reported: q}
	}
	waitingRec := func(n int, q float64) Record {
		return Record{Hour: h(n), State: StateUnresolved, Counted: q, Sent: q, MaybeBilled: true}
	}
	row := func(q float64, n int) UsageRecord {
		return UsageRecord{UsageDate: Time{day}, ReconStatus: ReconAccepted, SubmittedQuantity: q, ProcessedQuantity: q, SubmittedCount: n}
	}
	for _, tc := range []struct {
		name string
		recs []Record
		rows []UsageRecord
		want dayVerdict
	}{
		{"held beside a settled hour", []Record{held(1, 4), waitingRec(3, 6)}, []UsageRecord{row(10, 2)}, dayHeld},
		{"absent beside a settled hour", []Record{held(1, 4), waitingRec(3, 6)}, []UsageRecord{row(4, 1)}, dayAbsent},
		{"two waiting, both held", []Record{waitingRec(2, 3), waitingRec(3, 6)}, []UsageRecord{row(9, 2)}, dayHeld},
		{"two waiting, both absent", []Record{held(1, 4), waitingRec(2, 3), waitingRec(3, 6)}, []UsageRecord{row(4, 1)}, dayAbsent},
		{"two waiting, one held: undecided", []Record{waitingRec(2, 3), waitingRec(3, 6)}, []UsageRecord{row(6, 1)}, dayUndecided},
		{"rows split by plan add up", []Record{held(1, 4), waitingRec(3, 6)}, []UsageRecord{row(4, 1), row(6, 1)}, dayHeld},
		{"quantity matches, count does not", []Record{held(1, 4), waitingRec(3, 6)}, []UsageRecord{row(10, 3)}, dayUndecided},
		{"no rows: may still be processing", []Record{waitingRec(3, 6)}, nil, dayUndecided},
		{"processing", []Record{held(1, 4), waitingRec(3, 6)}, []UsageRecord{{UsageDate: Time{day}, ReconStatus: ReconSubmitted, SubmittedQuantity: 4, ProcessedQuantity: 0, SubmittedCount: 1}}, dayUndecided},
		{"processed less than submitted", []Record{held(1, 4), waitingRec(3, 6)}, []UsageRecord{{UsageDate: Time{day}, ReconStatus: ReconAccepted, SubmittedQuantity: 10, ProcessedQuantity: 4, SubmittedCount: 2}}, dayUndecided},
		{"rejected", []Record{waitingRec(3, 6)}, []UsageRecord{{UsageDate: Time{day}, ReconStatus: ReconRejected, SubmittedQuantity: 6, ProcessedQuantity: 6, SubmittedCount: 1}}, dayUndecided},
		{"another hour of the day still pending", []Record{{Hour: h(20), Counted: 2}, waitingRec(3, 6)}, []UsageRecord{row(6, 1)}, dayUndecided},
		{"service holds less than the settled hours", []Record{held(1, 4), held(2, 4), waitingRec(3, 6)}, []UsageRecord{row(4, 1)}, dayUndecided},
		{"expired and carried hours hold nothing", []Record{{Hour: h(1), State: StateExpired, Counted: 2, CarriedOut: 2}, waitingRec(3, 6)}, []UsageRecord{row(6, 1)}, dayHeld},
	} {
		t.Run(tc.name, func(t *testing.T) {
			waiting := map[time.Time]bool{}
			for _, r := range tc.recs {
				if r.State == StateUnresolved {
					waiting[r.Hour] = true
				}
			}
			got, why := judgeDay(day, tc.recs, waiting, tc.rows)
			if got != tc.want || why == "" {
				t.Errorf("judgeDay = %v (%s), want %v", got, why, tc.want)
			}
		})
	}
}

func TestSettleByOperator(t *testing.T) {
	now := t0.Add(30 * time.Hour)
	unresolved := Record{Hour: t0, State: StateUnresolved, Counted: 7, Sent: 5, MaybeBilled: true, Unresolved: "records processing"}
	got, err := settleByOperator(unresolved, VerdictAccepted, "Partner Center shows 5 units", "ops@example.com", now)
	if err != nil || got.State != StateAccepted || got.Reported != 5 || got.MaybeBilled || got.ResolvedBy != "ops@example.com" ||
		got.Resolution != "Partner Center shows 5 units" || !got.ResolvedAt.Equal(now) || got.Unresolved != "" {
		t.Errorf("accepted: %+v, %v", got, err)
	}
	if d := Decide(now, grace, marg, got); d != (Decision{ActionCarry, 2, ReasonLate}) {
		t.Errorf("after accepted, the late 2 are carried: %+v", d)
	}
	got, err = settleByOperator(unresolved, VerdictCarry, "Partner Center shows nothing", "ops", now)
	if err != nil || got.State != StateExpired || got.MaybeBilled {
		t.Errorf("carry: %+v, %v", got, err)
	}
	if d := Decide(now, grace, marg, got); d != (Decision{ActionCarry, 7, ReasonExpired}) {
		t.Errorf("after carry, all 7 are carried: %+v", d)
	}
	for name, tc := range map[string]struct {
		rec    Record
		v      Verdict
		reason string
	}{
		"settled":         {Record{Hour: t0, State: StateAccepted, Counted: 5, Reported: 5}, VerdictCarry, "x"},
		"still reporting": {Record{Hour: t0, State: StateInflight, Counted: 5, Sent: 5}, VerdictCarry, "x"},
		"no reason":       {unresolved, VerdictCarry, " "},
		"unknown verdict": {unresolved, "maybe", "x"},
	} {
		if _, err := settleByOperator(tc.rec, tc.v, tc.reason, "ops", now); err == nil {
			t.Errorf("%s: no error", name)
		}
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
	rec = Apply(rec, Outcome{Event: sentEvent, Result: duplicateOf(sentEvent, acceptedFor(sentEvent, 7))})
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

func TestOurRows(t *testing.T) {
	day := DayOf(t0)
	const ours, other = "/subscriptions/1/resourceGroups/rg/providers/x/extensions/vote", "/subscriptions/1/resourceGroups/rg/providers/x/extensions/other"
	row := func(res, dim string, d time.Time) UsageRecord {
		return UsageRecord{UsageDate: Time{d}, UsageResourceID: res, Dimension: dim, SubmittedQuantity: 1}
	}
	for _, tc := range []struct {
		name    string
		rows    []UsageRecord
		want    int
		decides bool
	}{
		{"ours, case aside", []UsageRecord{row(strings.ToUpper(ours), "pervote", day)}, 1, true},
		{"another resource of the offer is left out", []UsageRecord{row(ours, "pervote", day), row(other, "pervote", day)}, 1, true},
		{"other days and dimensions are left out", []UsageRecord{row(ours, "percore", day), row(ours, "pervote", day.Add(-24*time.Hour))}, 0, true},
		{"no rows at all", nil, 0, true},
		{"only rows of another name: nothing proven", []UsageRecord{row("6f1a2b3c-0000-4000-8000-000000000001", "pervote", day)}, 0, false},
	} {
		got, why := ourRows(tc.rows, day, "pervote", ours)
		if len(got) != tc.want || (why == "") != tc.decides {
			t.Errorf("%s: ourRows = %d rows, %q; want %d rows, decides %v", tc.name, len(got), why, tc.want, tc.decides)
		}
	}
}
