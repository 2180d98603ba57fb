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
		if got := isClosed(tc.now, grace, t0); got != tc.want {
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
		if got := isSendable(t0.Add(tc.age), marg, t0); got != tc.want {
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
		want decision
	}{
		{"open hour waits", t0.Add(10 * time.Minute), Record{Counted: 5}, decision{}},
		{"within grace waits", t0.Add(time.Hour + time.Minute), Record{Counted: 5}, decision{}},
		{"no usage sends nothing", closed, Record{}, decision{}},
		{"pending sends its count", closed, Record{Counted: 5}, decision{actSend, 5, ""}},
		{"explicit pending state", closed, Record{State: StatePending, Counted: 5, Attempts: 2}, decision{actSend, 5, ""}},
		{"carried-in usage is sent with the hour", closed, Record{Counted: 5, CarriedIn: 3}, decision{actSend, 8, ""}},
		{"only carried-in usage", closed, Record{CarriedIn: 3}, decision{actSend, 3, ""}},
		{"inflight is resent", closed, Record{State: StateInflight, Counted: 5, Sent: 5, Attempts: 1}, decision{actSend, 5, ""}},
		{"pending past the window is carried", old, Record{Counted: 5, CarriedIn: 1}, decision{actCarry, 6, reasonExpired}},
		{"inflight past the window asks the records", old, Record{State: StateInflight, Counted: 5, Sent: 5}, decision{actResolve, 5, ""}},
		{"maybe billed resends what it sent", closed, Record{State: StatePending, Counted: 9, Sent: 5, MaybeBilled: true}, decision{actSend, 5, ""}},
		{"maybe billed past the window is never carried", old, Record{State: StatePending, Counted: 9, Sent: 5, MaybeBilled: true}, decision{actResolve, 5, ""}},
		{"unresolved asks the records, even in the window", closed, Record{State: StateUnresolved, Counted: 5, Sent: 5, MaybeBilled: true}, decision{actResolve, 5, ""}},
		{"refused, not maybe billed, past the window is carried", old, Record{State: StatePending, Counted: 5, Sent: 5, LastError: "403"}, decision{actCarry, 5, reasonExpired}},
		{"resolved as held, with late votes", old, Record{State: StateAccepted, Counted: 9, Sent: 5, Reported: 5, ResolvedBy: ResolvedByRecords}, decision{actCarry, 4, reasonLate}},
		{"accepted and balanced", closed, Record{State: StateAccepted, Counted: 5, Sent: 5, Reported: 5}, decision{}},
		{"accepted then late votes", closed, Record{State: StateAccepted, Counted: 7, Sent: 5, Reported: 5}, decision{actCarry, 2, reasonLate}},
		{"late votes after a carry", closed, Record{State: StateAccepted, Counted: 9, Sent: 5, Reported: 5, CarriedOut: 2}, decision{actCarry, 2, reasonLate}},
		{"late votes in an old hour", old, Record{State: StateAccepted, Counted: 7, Sent: 5, Reported: 5}, decision{actCarry, 2, reasonLate}},
		{"duplicate, equal", closed, Record{State: StateDuplicate, Counted: 5, Sent: 5, Reported: 5}, decision{}},
		{"duplicate with a shortfall", closed, Record{State: StateDuplicate, Counted: 5, Sent: 5, Reported: 3}, decision{actCarry, 2, reasonShortfall}},
		{"mismatch carries nothing", closed, Record{State: StateMismatch, Counted: 5, Sent: 5, Reported: 8}, decision{}},
		{"expired by the service, not yet carried", closed, Record{State: StateExpired, Counted: 5, Sent: 5}, decision{actCarry, 5, reasonExpired}},
		{"expired and carried", old, Record{State: StateExpired, Counted: 5, CarriedOut: 5}, decision{}},
		{"expired, carried, then late votes", old, Record{State: StateExpired, Counted: 6, CarriedOut: 5}, decision{actCarry, 1, reasonExpired}},
		{"fractional quantities", closed, Record{Counted: 0.25, CarriedIn: 0.5}, decision{actSend, 0.75, ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.rec.Hour = t0
			if got := decide(tc.now, grace, marg, tc.rec); got != tc.want {
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
	itemError := func(st Status) outcome {
		return outcome{Result: EventResult{Status: st, Error: &ErrorDetail{Message: "refused"}}}
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
		o    outcome
		want want
	}{
		// The service's word settles, whatever came before.
		{"accepted", fresh, outcome{Result: acc}, want{StateAccepted, 5, false, 0, false}},
		{"accepted after a lost answer", maybe, outcome{Result: acc}, want{StateAccepted, 5, false, 0, false}},
		{"duplicate, same quantity", maybe, outcome{Result: duplicateOf(sentEvent, acc)}, want{StateDuplicate, 5, false, 0, false}},
		{"duplicate, smaller: shortfall", maybe, outcome{Result: duplicateOf(sentEvent, acceptedFor(sentEvent, 3))}, want{StateDuplicate, 3, false, 0, false}},
		{"duplicate, larger: mismatch", maybe, outcome{Result: duplicateOf(sentEvent, acceptedFor(sentEvent, 8))}, want{StateMismatch, 8, false, 0, false}},
		{"duplicate from another plan", maybe, outcome{Result: duplicateOf(sentEvent, other(func(r *EventResult) { r.PlanID = "gold" }))}, want{StateInflight, 0, true, 1, true}},

		// Answers that cannot be trusted: maybe billed, resent a bounded number of times.
		{"duplicate without acceptedMessage", fresh, outcome{Result: EventResult{Status: StatusDuplicate}}, want{StateInflight, 0, true, 1, true}},
		{"accepted for another hour", fresh, outcome{Result: other(func(r *EventResult) { r.EffectiveStartTime = Time{t0.Add(time.Hour)} })}, want{StateInflight, 0, true, 1, true}},
		{"accepted for another dimension", fresh, outcome{Result: other(func(r *EventResult) { r.Dimension = "percore" })}, want{StateInflight, 0, true, 1, true}},
		{"accepted with another quantity", fresh, outcome{Result: other(func(r *EventResult) { r.Quantity = 9 })}, want{StateInflight, 0, true, 1, true}},
		{"no result for the event", fresh, outcome{Bad: "the answer holds no result for this event"}, want{StateInflight, 0, true, 1, true}},
		{"unknown status", fresh, outcome{Result: EventResult{Status: "Pending"}}, want{StateInflight, 0, true, 1, true}},
		{"unreadable answer", fresh, outcome{Err: unreadable}, want{StateInflight, 0, true, 1, true}},
		{"third bad answer: unresolved", Record{Hour: t0, State: StateInflight, Counted: 5, Sent: 5, MaybeBilled: true, BadAnswers: MaxBadAnswers - 1},
			outcome{Result: EventResult{Status: StatusDuplicate}}, want{StateUnresolved, 0, true, MaxBadAnswers, true}},

		// No answer: it may have arrived.
		{"429 after retries", fresh, outcome{Err: &APIError{StatusCode: 429}}, want{StateInflight, 0, true, 0, true}},
		{"5xx", fresh, outcome{Err: &APIError{StatusCode: 503}}, want{StateInflight, 0, true, 0, true}},
		{"dropped connection", fresh, outcome{Err: &TransportError{Op: "POST usageEvent", Err: errors.New("EOF")}}, want{StateInflight, 0, true, 0, true}},
		{"an error this package does not know", fresh, outcome{Err: errors.New("connection reset by peer")}, want{StateInflight, 0, true, 0, true}},
		{"403 after a dropped try of the same call", fresh, outcome{Err: forbiddenAfterDrop}, want{StateInflight, 0, true, 0, true}},
		{"no token after a dropped try of the same call", fresh, outcome{Err: tokenAfterDrop}, want{StateInflight, 0, true, 0, true}},

		// Refusals of this try: not billed by it, and an earlier try's
		// possible billing is not forgotten.
		{"403, first try", fresh, outcome{Err: forbidden}, want{StatePending, 0, false, 0, true}},
		{"403 after a lost answer", maybe, outcome{Err: forbidden}, want{StatePending, 0, true, 0, true}},
		{"400 invalid usage state, first try", fresh, outcome{Err: badRequest}, want{StatePending, 0, false, 0, true}},
		{"400 invalid usage state after a lost answer", maybe, outcome{Err: badRequest}, want{StatePending, 0, true, 0, true}},
		{"no token, first try", fresh, outcome{Err: noToken}, want{StatePending, 0, false, 0, true}},
		{"no token after a lost answer", maybe, outcome{Err: noToken}, want{StatePending, 0, true, 0, true}},
		{"expired, first try", fresh, outcome{Result: EventResult{Status: StatusExpired}}, want{StateExpired, 0, false, 0, false}},
		{"expired after a lost answer", maybe, outcome{Result: EventResult{Status: StatusExpired}}, want{StateUnresolved, 0, true, 0, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.CorrelationID = "corr-1"
			tc.o.Event = sentEvent
			got := applyOutcome(tc.rec, tc.o)
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
			got := applyOutcome(maybe, o)
			if got.State != StatePending || !got.MaybeBilled || got.LastError == "" {
				t.Errorf("Apply = %+v, want pending, still maybe billed, with the error", got)
			}
			if got = applyOutcome(fresh, o); got.State != StatePending || got.MaybeBilled {
				t.Errorf("first try: Apply = %+v, want pending, not maybe billed", got)
			}
		})
	}
}

func TestClaimKeepsWhatMayBeBilled(t *testing.T) {
	now := t0.Add(2 * time.Hour)
	pending := Record{Hour: t0, Counted: 5}
	if c := claimRecord(pending, 5, now, "c1"); c.State != StateInflight || c.MaybeBilled || c.Sent != 5 || c.Attempts != 1 {
		t.Errorf("first claim = %+v", c)
	}
	crashed := Record{Hour: t0, State: StateInflight, Counted: 7, Sent: 5, Attempts: 1}
	if d := decide(now, grace, marg, crashed); d != (decision{actSend, 5, ""}) {
		t.Errorf("an inflight hour resends what it sent: %+v", d)
	}
	if c := claimRecord(crashed, 5, now, "c2"); !c.MaybeBilled || c.Sent != 5 {
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
	if d := decide(now, grace, marg, got); d != (decision{actCarry, 2, reasonLate}) {
		t.Errorf("after accepted, the late 2 are carried: %+v", d)
	}
	got, err = settleByOperator(unresolved, VerdictCarry, "Partner Center shows nothing", "ops", now)
	if err != nil || got.State != StateExpired || got.MaybeBilled {
		t.Errorf("carry: %+v, %v", got, err)
	}
	if d := decide(now, grace, marg, got); d != (decision{actCarry, 7, reasonExpired}) {
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
	step := func(d decision) {
		t.Helper()
		switch d.action {
		case actSend:
			rec.State, rec.Sent = StateInflight, d.Quantity
		case actCarry:
			rec.CarriedOut += d.Quantity
			if !rec.State.Settled() {
				rec.State = StateExpired
			}
		}
	}
	d := decide(now, grace, marg, rec)
	step(d)
	// The service already held 7 for this hour (an earlier partial send).
	rec = applyOutcome(rec, outcome{Event: sentEvent, Result: duplicateOf(sentEvent, acceptedFor(sentEvent, 7))})
	step(decide(now, grace, marg, rec)) // shortfall 3 carried
	rec.Counted += 4                    // late votes
	step(decide(now, grace, marg, rec)) // 4 carried
	if rec.Reported+rec.CarriedOut != rec.Counted || rec.Due() != 0 {
		t.Fatalf("books do not balance: %+v", rec)
	}
	if d := decide(now, grace, marg, rec); d.action != actNone {
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
