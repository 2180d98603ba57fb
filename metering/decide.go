package metering

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// The money logic: pure functions of a ledger record, an answer and the
// time, so every branch is tested without a store or a network.
//
// The rule behind all of them: when it cannot be known whether the service
// received an event, assume it may have (Record.MaybeBilled), and keep that
// until the service itself settles the hour, by its answer to the hour's
// own event or by its records. A maybe-billed quantity is never carried.

// action is what a pass does with an hour.
type action int

// The actions.
const (
	actNone    action = iota // open, settled and balanced, or nothing counted
	actSend                  // send decision.Quantity for the hour's own time
	actCarry                 // move decision.Quantity into the open hour
	actResolve               // ask the service's records whether it holds the hour
)

// decision is what to do with one hour now.
type decision struct {
	action   action
	Quantity float64
	Reason   string // why a quantity is carried
}

// Why a quantity is carried.
const (
	reasonExpired   = "expired"   // the hour can no longer be sent for its own time
	reasonShortfall = "shortfall" // a duplicate billed less than we counted
	reasonLate      = "late"      // usage arrived after the hour was settled
)

// MaxBadAnswers is how many answers in a row that cannot be trusted (no
// acceptedMessage, an echo of another event, an unreadable body) an hour
// gets before it stops being resent and waits, unresolved, for the
// service's records or an operator.
const MaxBadAnswers = 3

// ResolvedByRecords is Record.ResolvedBy for an hour settled from the
// service's own records (GET usageEvents).
const ResolvedByRecords = "service-records"

// isClosed reports whether hour ended at least grace ago: only then is its
// count final enough to send.
func isClosed(now time.Time, grace time.Duration, hour time.Time) bool {
	return !hour.Add(time.Hour + grace).After(now)
}

// isSendable reports whether an event for hour is still inside the service's
// 24-hour window, with margin to spare.
func isSendable(now time.Time, margin time.Duration, hour time.Time) bool {
	return now.Sub(hour) < Window-margin
}

// maybeBilled reports whether some try of the hour may have reached the
// service. An inflight record is one whose send had no answer recorded (a
// crash, or a send still under way in another reporter), so it counts.
func maybeBilled(rec Record) bool { return rec.MaybeBilled || rec.State == StateInflight }

// sendQuantity is what an event for the hour carries. Once a try may have
// arrived, every resend carries that try's quantity, so that whatever the
// service holds for the hour is known exactly; usage counted since is
// carried as late once the hour settles.
func sendQuantity(rec Record) float64 {
	if maybeBilled(rec) && rec.Sent > 0 {
		return rec.Sent
	}
	return rec.Quantity()
}

// decide is the rule for one hour.
func decide(now time.Time, grace, margin time.Duration, rec Record) decision {
	if !isClosed(now, grace, rec.Hour) {
		return decision{}
	}
	if rec.State.Settled() {
		// Whatever is still due after the service's word (votes that came
		// late, a duplicate's shortfall, an expired hour) moves forward.
		if due := rec.Due(); due > 0 {
			reason := reasonLate
			switch rec.State {
			case StateExpired:
				reason = reasonExpired
			case StateDuplicate:
				if rec.Reported < rec.Sent {
					reason = reasonShortfall
				}
			}
			return decision{action: actCarry, Quantity: due, Reason: reason}
		}
		return decision{}
	}
	q := sendQuantity(rec)
	if q <= 0 {
		return decision{} // the API refuses quantity 0: an hour without usage sends nothing
	}
	switch {
	case rec.State == StateUnresolved:
		return decision{action: actResolve, Quantity: q}
	case isSendable(now, margin, rec.Hour):
		return decision{action: actSend, Quantity: q}
	case maybeBilled(rec):
		// Too late for a resend to settle it, and the service may hold it:
		// only its records can tell whether to carry.
		return decision{action: actResolve, Quantity: q}
	}
	return decision{action: actCarry, Quantity: q, Reason: reasonExpired}
}

// claimRecord is the record as it goes out in an event of quantity q: inflight,
// remembering whether an earlier try may have arrived.
func claimRecord(rec Record, q float64, now time.Time, correlationID string) Record {
	rec.MaybeBilled = maybeBilled(rec)
	rec.State = StateInflight
	rec.Sent = q
	rec.Attempts++
	rec.UpdatedAt = now
	rec.CorrelationID = correlationID
	return rec
}

// outcome is what came back for one sent hour: the service's result for
// its event (matched by echo), an error for the whole call, or why the
// answer could not be trusted for this hour.
type outcome struct {
	Event         UsageEvent // as sent
	Result        EventResult
	Err           error
	Bad           string
	CorrelationID string
}

// applyOutcome is the ledger record after an answer to rec's send (rec as
// claimed). It never settles an hour without the service's word, and never
// forgets that an hour may be billed.
func applyOutcome(rec Record, o outcome) Record {
	rec.CorrelationID = o.CorrelationID
	if o.Result.Unanswered > 0 {
		// An earlier try of this call went unanswered: whatever this answer
		// says of its own try, that one may have been recorded.
		rec.MaybeBilled = true
	}
	switch {
	case o.Err != nil:
		rec.LastError = errorText(o.Err)
		if !MayHaveArrived(o.Err) {
			// Refused outright (403, 400) or never sent (no token): this try
			// was not taken. An earlier one may have been: MaybeBilled stays.
			rec.State = StatePending
			return rec
		}
		if te := (*TransportError)(nil); errors.As(o.Err, &te) && te.StatusCode != 0 {
			// The service answered, and what it said cannot be read.
			return untrusted(rec, rec.LastError)
		}
		// Timeouts, resets, 5xx, 429 after retries: it may have arrived.
		rec.MaybeBilled = true
		rec.State = StateInflight
		return rec
	case o.Bad != "":
		return untrusted(rec, o.Bad)
	}
	res := o.Result
	switch res.Status {
	case StatusAccepted, StatusDuplicate:
		acc, ok := res.Accepted()
		if !ok {
			return untrusted(rec, "Duplicate answer without acceptedMessage")
		}
		if p := echoProblem(o.Event, res.Status, acc); p != "" {
			return untrusted(rec, p)
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
		return settledByService(rec)
	case StatusExpired:
		if rec.MaybeBilled {
			// Expired speaks for this try; an earlier one may be billed, and
			// no resend can tell any more.
			rec.State = StateUnresolved
			rec.LastError = "the service answered Expired"
			rec.Unresolved = "an earlier try may have been billed and the service now answers Expired; its records decide"
			return rec
		}
		rec.State = StateExpired
		rec.LastError = ""
		return rec
	case StatusError, StatusResourceNotFound, StatusResourceNotAuthorized, StatusResourceNotActive,
		StatusInvalidDimension, StatusInvalidQuantity, StatusBadArgument:
		// The event was refused: the hour waits for the configuration to be
		// fixed. MaybeBilled stays as it was: a refusal does not prove that
		// an earlier try was lost.
		rec.State = StatePending
		rec.LastError = string(res.Status)
		if res.Error != nil && res.Error.Message != "" {
			rec.LastError += ": " + res.Error.Message
		}
		return rec
	}
	return untrusted(rec, fmt.Sprintf("unknown status %q", res.Status))
}

// settledByService clears what only uncertainty needed, once the service's
// own answer settled the hour.
func settledByService(rec Record) Record {
	rec.MaybeBilled = false
	rec.BadAnswers = 0
	rec.Unresolved = ""
	rec.LastError = ""
	return rec
}

// untrusted records an answer that came back but cannot settle the hour:
// the request reached the service, so the hour may be billed. Resent a few
// times, then left unresolved rather than resent forever.
func untrusted(rec Record, why string) Record {
	rec.MaybeBilled = true
	rec.BadAnswers++
	rec.LastError = "answer not trusted: " + why
	rec.State = StateInflight
	if rec.BadAnswers >= MaxBadAnswers {
		rec.State = StateUnresolved
		rec.Unresolved = fmt.Sprintf("%d answers in a row could not be trusted (last: %s)", rec.BadAnswers, why)
	}
	return rec
}

// echoProblem says what is wrong with the event the service says it holds
// for the one sent, or "" if the hour can settle from it: the same
// hour, dimension and plan, and for Accepted the quantity sent. (Matching
// an answer to its event compared the answer's own echo, resource
// included; this checks the record it carries, a duplicate's
// acceptedMessage, which may name the resource by another id.)
func echoProblem(sent UsageEvent, st Status, acc EventResult) string {
	switch {
	case !acc.EffectiveStartTime.Equal(sent.EffectiveStartTime.Time):
		return fmt.Sprintf("%s for hour %s, sent %s", st, timeText(acc.EffectiveStartTime.Time), timeText(sent.EffectiveStartTime.Time))
	case acc.Dimension != sent.Dimension:
		return fmt.Sprintf("%s for dimension %q, sent %q", st, acc.Dimension, sent.Dimension)
	case acc.PlanID != sent.PlanID:
		return fmt.Sprintf("%s for plan %q, sent %q", st, acc.PlanID, sent.PlanID)
	case st == StatusAccepted && !sameQuantity(acc.Quantity, sent.Quantity):
		return fmt.Sprintf("Accepted quantity %v, sent %v", acc.Quantity, sent.Quantity)
	}
	return ""
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return "(none)"
	}
	return t.UTC().Format(time.RFC3339)
}

// sameQuantity compares quantities that went through JSON and decimal
// strings: equal to a part in a billion.
func sameQuantity(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// eventKey is what the service bills by: resource, dimension and hour.
type eventKey struct {
	resource, dimension string
	hour                int64
}

func keyOfEvent(resource, dimension string, hour time.Time) eventKey {
	return eventKey{strings.ToLower(resource), dimension, HourOf(hour).Unix()}
}

// matchResults pairs each sent event with the service's result for it, by
// the result's echo (resource, dimension, hour), never by position. An
// event that got no result, or two, gets a reason in bad instead; stray
// lists results that match no event sent.
func matchResults(events []UsageEvent, results []EventResult) (matched []EventResult, bad []string, stray []string) {
	index := make(map[eventKey]int, len(events))
	for i, e := range events {
		index[keyOfEvent(e.Resource(), e.Dimension, e.EffectiveStartTime.Time)] = i
	}
	matched = make([]EventResult, len(events))
	bad = make([]string, len(events))
	seen := make([]int, len(events))
	for _, r := range results {
		resource := r.ResourceURI
		if resource == "" {
			resource = r.ResourceID
		}
		i, ok := index[keyOfEvent(resource, r.Dimension, r.EffectiveStartTime.Time)]
		if !ok || r.EffectiveStartTime.IsZero() {
			stray = append(stray, fmt.Sprintf("%s for %q %q %s", r.Status, resource, r.Dimension, timeText(r.EffectiveStartTime.Time)))
			continue
		}
		seen[i]++
		matched[i] = r
	}
	for i, n := range seen {
		switch {
		case n == 0:
			bad[i] = "the answer holds no result for this event"
		case n > 1:
			bad[i] = fmt.Sprintf("the answer holds %d results for this event", n)
		}
	}
	return matched, bad, stray
}

// dayVerdict is what the service's records of a day say of its unresolved hours.
type dayVerdict int

const (
	dayUndecided dayVerdict = iota
	dayHeld                 // the service holds every one, each with its Sent
	dayAbsent               // the service holds none of them
)

// judgeDay decides the hours awaiting resolution in one UTC day from the
// service's records of that day: rows are GET usageEvents' rows for our
// resource and dimension on the day, recs every ledger hour of the day.
// The service counts per day, so an hour is proven held or absent only
// when the day's totals leave no other reading: the day's settled hours
// account for part of them, and what remains is all of the waiting hours
// (held) or nothing (absent). Anything else is undecided, with the reason.
func judgeDay(day time.Time, recs []Record, waiting map[time.Time]bool, rows []UsageRecord) (dayVerdict, string) {
	dayText := day.Format(time.DateOnly)
	var known, waitingSent float64
	var knownCount, waitingCount int
	for _, r := range recs {
		switch {
		case waiting[r.Hour]:
			waitingSent += r.Sent
			waitingCount++
		case r.State == StateAccepted || r.State == StateDuplicate || r.State == StateMismatch:
			known += r.Reported
			knownCount++
		case !r.State.Settled() && (r.Quantity() > 0 || r.MaybeBilled):
			return dayUndecided, "other hours of " + dayText + " are not settled yet"
		}
	}
	if waitingCount == 0 {
		return dayUndecided, "no hour of " + dayText + " is waiting"
	}
	if len(rows) == 0 {
		return dayUndecided, "the service's records show no usage for " + dayText + " yet (it may still be processing)"
	}
	var submitted float64
	var count int
	for _, row := range rows {
		if row.ReconStatus != ReconAccepted {
			return dayUndecided, fmt.Sprintf("the service's records of %s are %s, not final", dayText, row.ReconStatus)
		}
		if !sameQuantity(row.ProcessedQuantity, row.SubmittedQuantity) {
			return dayUndecided, fmt.Sprintf("the service is still processing %s (%v of %v units processed)", dayText, row.ProcessedQuantity, row.SubmittedQuantity)
		}
		submitted += row.SubmittedQuantity
		count += row.SubmittedCount
	}
	rest, restCount := submitted-known, count-knownCount
	switch {
	case restCount == 0 && sameQuantity(rest, 0):
		return dayAbsent, fmt.Sprintf("the service's records of %s (%v units in %d events) are all the day's settled hours: it holds none of the %d waiting", dayText, submitted, count, waitingCount)
	case restCount == waitingCount && sameQuantity(rest, waitingSent):
		return dayHeld, fmt.Sprintf("the service's records of %s (%v units in %d events) hold the %d waiting hours' %v units beside the day's settled hours", dayText, submitted, count, waitingCount, waitingSent)
	}
	return dayUndecided, fmt.Sprintf("the service's records of %s (%v units in %d events) leave %v units in %d events beyond the day's settled hours, which is neither all (%v in %d) nor none of the waiting hours",
		dayText, submitted, count, rest, restCount, waitingSent, waitingCount)
}

// resolve is the record of a waiting hour after a verdict on its day.
func resolve(rec Record, v dayVerdict, why, by string, now time.Time) Record {
	switch v {
	case dayHeld:
		rec.State = StateAccepted
		rec.Reported = rec.Sent
	case dayAbsent:
		rec.State = StateExpired // carried by the next decision
	default:
		rec.State = StateUnresolved
		rec.Unresolved = why
		return rec
	}
	rec.MaybeBilled = false
	rec.BadAnswers = 0
	rec.Unresolved = ""
	rec.LastError = ""
	rec.Resolution = why
	rec.ResolvedBy = by
	rec.ResolvedAt = now
	return rec
}

// Verdict is an operator's decision on an unresolved hour, after checking
// what the service holds (Partner Center, or the service's records).
type Verdict string

// Verdicts.
const (
	VerdictAccepted Verdict = "accepted" // the service holds the hour, with the quantity sent
	VerdictCarry    Verdict = "carry"    // the service does not hold it: carry its usage
)

// settleByOperator applies an operator's verdict to an unresolved hour.
func settleByOperator(rec Record, v Verdict, reason, by string, now time.Time) (Record, error) {
	if rec.State != StateUnresolved {
		if rec.State.Settled() {
			return rec, fmt.Errorf("metering: hour %s is already settled (%s)", rec.Hour.Format(time.RFC3339), rec.State)
		}
		return rec, fmt.Errorf("metering: hour %s is %s, not unresolved: the reporter is still settling it", rec.Hour.Format(time.RFC3339), stateText(rec.State))
	}
	if strings.TrimSpace(reason) == "" {
		return rec, errors.New("metering: a settlement needs a reason")
	}
	if strings.TrimSpace(by) == "" {
		return rec, errors.New("metering: a settlement needs the name of who decided")
	}
	switch v {
	case VerdictAccepted:
		return resolve(rec, dayHeld, reason, by, now), nil
	case VerdictCarry:
		return resolve(rec, dayAbsent, reason, by, now), nil
	}
	return rec, fmt.Errorf("metering: verdict %q: want %q or %q", v, VerdictAccepted, VerdictCarry)
}

func stateText(s State) string {
	if s == "" {
		return string(StatePending)
	}
	return string(s)
}

func errorText(err error) string {
	s := err.Error()
	if len(s) > 500 {
		s = s[:500] + "…"
	}
	return s
}
