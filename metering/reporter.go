package metering

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Sender is the part of the API the reporter calls; *Client is one.
type Sender interface {
	SendUsageEvent(ctx context.Context, e UsageEvent) (EventResult, error)
	SendBatch(ctx context.Context, events []UsageEvent) (BatchResult, error)
}

// RecordReader reads what the service recorded (GET usageEvents); *Client
// is one. The reporter asks it about hours whose fate no resend can settle.
type RecordReader interface {
	UsageEvents(ctx context.Context, q UsageQuery) ([]UsageRecord, error)
}

// ReporterOptions configure a Reporter. Ledger, Sender, Resource, PlanID
// and at least one dimension are required.
type ReporterOptions struct {
	Ledger Ledger
	// Locker keeps passes of several processes apart. Default: Ledger, if
	// it is one (the kit's ledgers are).
	Locker Locker
	Sender Sender
	// Records reads the service's records, to resolve hours that may have
	// been billed once no resend can tell. Default: Sender, if it is one.
	// Without it such hours stay unresolved until an operator settles them.
	Records  RecordReader
	Resource string // resourceUri (ARM path) or resourceId (GUID)
	PlanID   string
	// Dimensions are the custom meters reported, each as its ledger counts
	// it: up to MaxDimensions, the most an offer may have. A pass reports
	// the closed hours of all of them, mixed in batches of MaxBatch.
	Dimensions []string
	// Grace is how long after an hour ends before it is reported, so usage
	// of replicas whose clocks run a little behind lands before the send.
	Grace time.Duration
	// Margin is kept from the 24-hour window: an hour older than
	// Window-Margin is carried rather than sent, so retries and clock
	// skew cannot push a send past the window. Default 10m.
	Margin  time.Duration
	LockTTL time.Duration // default 2m; renewed while a pass runs
	Now     func() time.Time
	Logger  *slog.Logger
	// Observe, when set, is told the outcome of every pass (for metrics).
	Observe func(PassResult)
}

// MaxDimensions is how many custom meters one Marketplace plan may have.
const MaxDimensions = 30

// Reporter sends each closed hour's usage once and keeps the books in the
// Ledger. Passes may run in several processes at once: the lock keeps that
// rare, and compare-and-set on every ledger record keeps it harmless.
type Reporter struct {
	o   ReporterOptions
	log *slog.Logger
}

// NewReporter checks the options and fills in defaults.
func NewReporter(o ReporterOptions) (*Reporter, error) {
	var missing []string
	if o.Ledger == nil {
		missing = append(missing, "Ledger")
	}
	if o.Locker == nil {
		o.Locker, _ = o.Ledger.(Locker)
		if o.Locker == nil {
			missing = append(missing, "Locker (the Ledger is not one)")
		}
	}
	if o.Sender == nil {
		missing = append(missing, "Sender")
	}
	if o.Resource == "" {
		missing = append(missing, "Resource")
	}
	if o.PlanID == "" {
		missing = append(missing, "PlanID")
	}
	if len(o.Dimensions) == 0 {
		missing = append(missing, "Dimensions")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("metering: reporter options lack %s", strings.Join(missing, ", "))
	}
	if len(o.Dimensions) > MaxDimensions {
		return nil, fmt.Errorf("metering: %d dimensions, over the %d a plan may have", len(o.Dimensions), MaxDimensions)
	}
	seen := map[string]bool{}
	for _, d := range o.Dimensions {
		if strings.TrimSpace(d) == "" || seen[d] {
			return nil, fmt.Errorf("metering: dimension %q is empty or repeated", d)
		}
		seen[d] = true
	}
	if o.Grace < 0 || o.Margin < 0 || o.LockTTL < 0 || o.Grace+o.Margin >= Window-time.Hour {
		return nil, fmt.Errorf("metering: grace %v, margin %v and lock ttl %v must be positive, and grace plus margin leave hours time to be sent",
			o.Grace, o.Margin, o.LockTTL)
	}
	o.Dimensions = slices.Clone(o.Dimensions)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Margin == 0 {
		o.Margin = 10 * time.Minute
	}
	if o.LockTTL == 0 {
		o.LockTTL = 2 * time.Minute
	}
	if o.Records == nil {
		o.Records, _ = o.Sender.(RecordReader)
	}
	return &Reporter{o: o, log: o.Logger}, nil
}

// PassResult counts what one pass did.
type PassResult struct {
	Start     time.Time `json:"start"`
	Locked    bool      `json:"locked"` // false: another reporter held the lock, nothing was done
	Sent      int       `json:"sent"`   // events sent, resends included
	Accepted  int       `json:"accepted"`
	Duplicate int       `json:"duplicate"`
	Mismatch  int       `json:"mismatch"`
	Expired   int       `json:"expired"`
	Failed    int       `json:"failed"`   // events left pending or inflight by an error
	Carried   float64   `json:"carried"`  // quantity moved to the open hour
	Resolved  int       `json:"resolved"` // maybe-billed hours settled from the service's records
	Pending   int       `json:"pending"`  // closed hours still unsettled after the pass, unresolved ones included
	// Unresolved counts hours that may be billed and that neither a resend
	// nor the service's records could settle: they wait for an operator.
	Unresolved int           `json:"unresolved"`
	Duration   time.Duration `json:"duration"`
}

// LockName is the ledger lock reporters share.
const LockName = "reporter"

// Pass reports every closed, unsettled hour and carries what can no longer
// be sent for its own hour. It returns an error only when it could not do
// its work (store unreachable, lock lost); answers of the API are recorded
// in the ledger and counted in the result.
func (r *Reporter) Pass(ctx context.Context) (res PassResult, err error) {
	res.Start = r.o.Now()
	defer func() {
		res.Duration = r.o.Now().Sub(res.Start)
		if r.o.Observe != nil {
			r.o.Observe(res)
		}
	}()
	lock, err := r.o.Locker.Lock(ctx, LockName, r.o.LockTTL)
	if errors.Is(err, ErrLocked) {
		r.log.Info("metering pass skipped: another reporter holds the lock")
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("metering: take lock: %w", err)
	}
	res.Locked = true
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopRenew := r.keepLock(ctx, lock, cancel)
	defer func() {
		stopRenew()
		if rerr := lock.Release(context.WithoutCancel(ctx)); rerr != nil {
			r.log.Warn("metering: release lock", "err", rerr)
		}
	}()

	// Round one carries, sends and resolves; round two carries what the
	// answers left due (shortfalls of duplicates, hours the service called
	// expired, hours its records proved absent, late usage).
	for round := range 2 {
		recs, err := r.records(ctx)
		if err != nil {
			return res, err
		}
		now := r.o.Now()
		var sends []claim
		var waiting []Record
		for _, rec := range recs {
			d := decide(now, r.o.Grace, r.o.Margin, rec)
			switch d.action {
			case actCarry:
				r.carry(ctx, now, rec, d, &res)
			case actSend:
				if round == 0 {
					sends = append(sends, claim{rec, d.Quantity})
				}
			case actResolve:
				if round == 0 {
					waiting = append(waiting, rec)
				}
			}
		}
		r.send(ctx, now, sends, &res)
		r.resolve(ctx, now, waiting, &res)
		if err := context.Cause(ctx); err != nil {
			return res, err
		}
	}
	recs, err := r.records(ctx)
	if err != nil {
		return res, err
	}
	now := r.o.Now()
	for _, rec := range recs {
		if isClosed(now, r.o.Grace, rec.Hour) && !rec.State.Settled() && sendQuantity(rec) > 0 {
			res.Pending++
			if rec.State == StateUnresolved {
				res.Unresolved++
				r.log.Error("metering: hour unresolved: it may be billed, and nothing the service said settles it; check Partner Center, then run azure-vote settle",
					"dimension", rec.Dimension, "hour", rec.Hour, "quantity", rec.Sent, "reason", rec.Unresolved)
			}
		}
	}
	r.log.Info("metering pass", "sent", res.Sent, "accepted", res.Accepted, "duplicate", res.Duplicate,
		"mismatch", res.Mismatch, "expired", res.Expired, "failed", res.Failed, "carried", res.Carried,
		"resolved", res.Resolved, "pending", res.Pending, "unresolved", res.Unresolved)
	return res, nil
}

// records reads the ledger's hours of every dimension.
func (r *Reporter) records(ctx context.Context) ([]Record, error) {
	var all []Record
	for _, dim := range r.o.Dimensions {
		recs, err := r.o.Ledger.Records(ctx, dim)
		if err != nil {
			return nil, fmt.Errorf("metering: read ledger of %s: %w", dim, err)
		}
		all = append(all, recs...)
	}
	return all, nil
}

// keepLock renews the lock at a third of its lifetime; if it is lost the
// pass is cancelled (compare-and-set would keep a second reporter harmless,
// but there is no reason to race one).
func (r *Reporter) keepLock(ctx context.Context, lock Lock, cancel context.CancelCauseFunc) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(r.o.LockTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := lock.Renew(ctx); err != nil {
					r.log.Error("metering: reporter lock lost; stopping the pass", "err", err)
					cancel(fmt.Errorf("metering: lock lost: %w", err))
					return
				}
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// carry moves d.Quantity of rec to the open hour in one ledger transaction.
func (r *Reporter) carry(ctx context.Context, now time.Time, rec Record, d decision, res *PassResult) {
	if _, err := r.carryRecord(ctx, now, rec, d, res); err != nil && !errors.Is(err, ErrConflict) {
		r.log.Error("metering: carry failed; retried next pass", "dimension", rec.Dimension, "hour", rec.Hour, "err", err)
	}
}

func (r *Reporter) carryRecord(ctx context.Context, now time.Time, rec Record, d decision, res *PassResult) (Record, error) {
	if maybeBilled(rec) && !rec.State.Settled() {
		// Decide never asks for this; the check keeps it so whatever changes.
		return rec, fmt.Errorf("metering: refusing to carry hour %s: it may be billed", rec.Hour)
	}
	to := HourOf(now)
	rec.CarriedOut += d.Quantity
	rec.CarriedTo = to
	if !rec.State.Settled() {
		rec.State = StateExpired
	}
	rec.UpdatedAt = now
	got, err := r.o.Ledger.Carry(ctx, rec, to, d.Quantity)
	if err != nil {
		return rec, err
	}
	res.Carried += d.Quantity
	r.log.Warn("metering: usage carried to the open hour", "dimension", rec.Dimension, "hour", rec.Hour, "to", to,
		"quantity", d.Quantity, "reason", d.Reason)
	return got, nil
}

// claim is an hour to send, with the quantity its event carries.
type claim struct {
	rec      Record
	quantity float64
}

// send claims each hour (-> inflight, a compare-and-set, so two reporters
// never both send it), sends them 1 by usageEvent or up to 25 by
// batchUsageEvent, and records each answer.
func (r *Reporter) send(ctx context.Context, now time.Time, todo []claim, res *PassResult) {
	for len(todo) > 0 && ctx.Err() == nil {
		n := min(len(todo), MaxBatch)
		chunk := todo[:n]
		todo = todo[n:]
		var claimed []Record
		for _, c := range chunk {
			got, err := r.o.Ledger.Update(ctx, claimRecord(c.rec, c.quantity, now, uuid.NewString()))
			if err != nil {
				if !errors.Is(err, ErrConflict) {
					r.log.Error("metering: claim hour", "dimension", c.rec.Dimension, "hour", c.rec.Hour, "err", err)
				}
				continue
			}
			claimed = append(claimed, got)
		}
		if len(claimed) == 0 {
			continue
		}
		if stop := r.sendClaimed(ctx, now, claimed, res); stop {
			return
		}
	}
}

// sendClaimed sends claimed hours and records the answers, each matched to
// its event by the echo. It reports stop when the API failed as a whole, so
// the pass does not hammer it further.
func (r *Reporter) sendClaimed(ctx context.Context, now time.Time, claimed []Record, res *PassResult) (stop bool) {
	events := make([]UsageEvent, len(claimed))
	for i, rec := range claimed {
		events[i] = NewUsageEvent(r.o.Resource, r.o.PlanID, rec.Dimension, rec.Hour, rec.Sent)
	}
	res.Sent += len(events)
	// One correlation id per call, the first hour's, ties ledger and service logs together.
	cid := claimed[0].CorrelationID
	callCtx := WithCorrelationID(ctx, cid)
	var results []EventResult
	var batchUnanswered int
	var err error
	if len(events) == 1 {
		var one EventResult
		one, err = r.o.Sender.SendUsageEvent(callCtx, events[0])
		results = []EventResult{one}
	} else {
		var batch BatchResult
		batch, err = r.o.Sender.SendBatch(callCtx, events)
		results, batchUnanswered = batch.Result, batch.Unanswered
	}
	if err != nil {
		for i, rec := range claimed {
			r.record(ctx, now, rec, outcome{Event: events[i], Err: err, CorrelationID: cid}, res)
		}
		return true
	}
	matched, bad, stray := matchResults(events, results)
	if len(events) > 1 {
		for i := range matched {
			matched[i].Unanswered = batchUnanswered
		}
	}
	if len(stray) > 0 {
		r.log.Warn("metering: the service answered for events not sent; nothing is settled from them",
			"correlation_id", cid, "answers", stray)
	}
	for i, rec := range claimed {
		r.record(ctx, now, rec, outcome{Event: events[i], Result: matched[i], Bad: bad[i], CorrelationID: cid}, res)
	}
	return false
}

// resolve asks the service's records about hours that may have been billed
// and that no resend can settle any more, a day at a time, and records what
// they prove: held (settled as accepted), absent (carried by round two) or
// undecided (unresolved, with the reason).
func (r *Reporter) resolve(ctx context.Context, now time.Time, waiting []Record, res *PassResult) {
	type dayOf struct {
		day       time.Time
		dimension string
	}
	byDay := map[dayOf][]Record{}
	var days []dayOf
	for _, rec := range waiting {
		k := dayOf{DayOf(rec.Hour), rec.Dimension}
		if byDay[k] == nil {
			days = append(days, k)
		}
		byDay[k] = append(byDay[k], rec)
	}
	for _, k := range days {
		if ctx.Err() != nil {
			return
		}
		verdict, why := r.judge(ctx, k.day, k.dimension, byDay[k])
		for _, rec := range byDay[k] {
			next := resolve(rec, verdict, why, ResolvedByRecords, now)
			if next.State == rec.State && next.Unresolved == rec.Unresolved {
				continue // still undecided for the same reason: no new version
			}
			next.UpdatedAt = now
			if _, err := r.o.Ledger.Update(ctx, next); err != nil {
				if !errors.Is(err, ErrConflict) {
					r.log.Error("metering: record resolution", "dimension", rec.Dimension, "hour", rec.Hour, "err", err)
				}
				continue
			}
			if verdict != dayUndecided {
				res.Resolved++
				r.log.Warn("metering: hour resolved from the service's records", "dimension", rec.Dimension, "hour", rec.Hour,
					"held", verdict == dayHeld, "quantity", rec.Sent, "why", why)
			}
		}
	}
}

// judge reads the service's records of one dimension's day and decides its
// waiting hours.
func (r *Reporter) judge(ctx context.Context, day time.Time, dimension string, waiting []Record) (dayVerdict, string) {
	if r.o.Records == nil {
		return dayUndecided, "the service's records cannot be read by this reporter"
	}
	recs, err := r.o.Ledger.History(ctx, dimension, day)
	if err != nil {
		return dayUndecided, "the ledger's hours of the day could not be read: " + errorText(err)
	}
	end := day.Add(24 * time.Hour)
	recs = slices.DeleteFunc(recs, func(rec Record) bool { return !rec.Hour.Before(end) })
	rows, err := r.o.Records.UsageEvents(ctx, UsageQuery{
		Start: day, End: day, Dimension: dimension, AzureSubscriptionID: SubscriptionOf(r.o.Resource),
	})
	if err != nil {
		return dayUndecided, "the service's records could not be read: " + errorText(err)
	}
	ours, why := ourRows(rows, day, dimension, r.o.Resource)
	if why != "" {
		return dayUndecided, why
	}
	set := make(map[time.Time]bool, len(waiting))
	for _, rec := range waiting {
		set[rec.Hour] = true
	}
	return judgeDay(day, recs, set, ours)
}

// ourRows keeps the rows of GET usageEvents that are the resource's for the
// day and dimension. Rows of other resources of the offer are left out; but
// when the day has rows and none names the resource, the service may name it
// by another id, and nothing can be proven from them (why says so).
func ourRows(rows []UsageRecord, day time.Time, dimension, resource string) (ours []UsageRecord, why string) {
	var others []string
	for _, row := range rows {
		if !DayOf(row.UsageDate.Time).Equal(day) || row.Dimension != dimension {
			continue
		}
		if strings.EqualFold(row.UsageResourceID, resource) {
			ours = append(ours, row)
		} else {
			others = append(others, row.UsageResourceID)
		}
	}
	if len(ours) == 0 && len(others) > 0 {
		return nil, fmt.Sprintf("the service's records of %s name resources (%s) none of which is %q: it may name ours by another id",
			day.Format(time.DateOnly), strings.Join(others, ", "), resource)
	}
	return ours, ""
}

// Settle records an operator's verdict on an unresolved hour, under the
// reporter lock, after the operator checked what the service holds
// (Partner Center). VerdictCarry moves the hour's usage into the open hour
// at once. A settled or still-reporting hour is refused.
func (r *Reporter) Settle(ctx context.Context, dimension string, hour time.Time, v Verdict, reason, by string) (Record, error) {
	if !slices.Contains(r.o.Dimensions, dimension) {
		return Record{}, fmt.Errorf("metering: %q is not a dimension of this reporter", dimension)
	}
	lock, err := r.o.Locker.Lock(ctx, LockName, r.o.LockTTL)
	if err != nil {
		return Record{}, fmt.Errorf("metering: take lock: %w", err)
	}
	defer func() {
		if err := lock.Release(context.WithoutCancel(ctx)); err != nil {
			r.log.Warn("metering: release lock", "err", err)
		}
	}()
	recs, err := r.o.Ledger.History(ctx, dimension, hour)
	if err != nil {
		return Record{}, fmt.Errorf("metering: read ledger: %w", err)
	}
	i := slices.IndexFunc(recs, func(rec Record) bool { return rec.Hour.Equal(HourOf(hour)) })
	if i < 0 {
		return Record{}, fmt.Errorf("metering: no ledger record for hour %s", HourOf(hour).Format(time.RFC3339))
	}
	now := r.o.Now()
	next, err := settleByOperator(recs[i], v, reason, by, now)
	if err != nil {
		return Record{}, err
	}
	next.UpdatedAt = now
	got, err := r.o.Ledger.Update(ctx, next)
	if err != nil {
		return Record{}, fmt.Errorf("metering: record settlement: %w", err)
	}
	r.log.Warn("metering: hour settled by an operator", "dimension", dimension, "hour", got.Hour, "verdict", v, "by", by, "reason", reason)
	if d := decide(now, r.o.Grace, r.o.Margin, got); d.action == actCarry {
		var res PassResult
		if got, err = r.carryRecord(ctx, now, got, d, &res); err != nil {
			return got, fmt.Errorf("metering: carry settled hour (the next pass retries): %w", err)
		}
	}
	return got, nil
}

// record writes one answer into the hour's ledger record.
func (r *Reporter) record(ctx context.Context, now time.Time, rec Record, o outcome, res *PassResult) {
	next := applyOutcome(rec, o)
	next.UpdatedAt = now
	switch {
	case o.Err != nil:
		res.Failed++
	case next.State == StateAccepted:
		res.Accepted++
	case next.State == StateDuplicate:
		res.Duplicate++
	case next.State == StateMismatch:
		res.Mismatch++
	case o.Result.Status == StatusExpired && o.Bad == "":
		res.Expired++
	default:
		res.Failed++
	}
	log := r.log.With("dimension", rec.Dimension, "hour", rec.Hour, "quantity", rec.Sent, "state", next.State,
		"usage_event_id", next.UsageEventID, "correlation_id", o.CorrelationID)
	switch {
	case IsForbidden(o.Err):
		log.Error("metering: the service refused our identity (403): check the managed identity and the offer's Azure AD app", "err", o.Err)
	case next.State == StateMismatch:
		log.Error("metering: the service billed more than was counted for this hour", "billed", next.Reported)
	case next.LastError != "":
		log.Warn("metering: usage not accepted yet", "err", next.LastError)
	default:
		log.Info("metering: usage settled", "billed", next.Reported)
	}
	if _, err := r.o.Ledger.Update(ctx, next); err != nil && !errors.Is(err, ErrConflict) {
		// The answer is lost to the ledger but not to the service: the
		// hour stays inflight and the next pass's resend meets a Duplicate.
		log.Error("metering: record answer", "err", err)
	}
}
