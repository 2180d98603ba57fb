package metering

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// Sender is the part of the API the reporter calls; *Client is one.
type Sender interface {
	SendUsageEvent(ctx context.Context, e UsageEvent) (EventResult, error)
	SendBatch(ctx context.Context, events []UsageEvent) (BatchResult, error)
}

// ReporterOptions configure a Reporter.
type ReporterOptions struct {
	Ledger    Ledger
	Sender    Sender
	Resource  string // resourceUri (ARM path) or resourceId (GUID)
	PlanID    string
	Dimension string
	// Grace is how long after an hour ends before it is reported, so votes
	// of replicas whose clocks run a little behind land before the send.
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

// Reporter sends each closed hour's usage once and keeps the books in the
// Ledger. Passes may run in several processes at once: the lock keeps that
// rare, and compare-and-set on every ledger record keeps it harmless.
type Reporter struct {
	o   ReporterOptions
	log *slog.Logger
}

// NewReporter fills in defaults.
func NewReporter(o ReporterOptions) *Reporter {
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
	if o.Dimension == "" {
		o.Dimension = "pervote"
	}
	return &Reporter{o: o, log: o.Logger.With("dimension", o.Dimension)}
}

// PassResult counts what one pass did.
type PassResult struct {
	Start     time.Time     `json:"start"`
	Locked    bool          `json:"locked"` // false: another reporter held the lock, nothing was done
	Sent      int           `json:"sent"`   // events sent, resends included
	Accepted  int           `json:"accepted"`
	Duplicate int           `json:"duplicate"`
	Mismatch  int           `json:"mismatch"`
	Expired   int           `json:"expired"`
	Failed    int           `json:"failed"`  // events left pending or inflight by an error
	Carried   float64       `json:"carried"` // quantity moved to the open hour
	Pending   int           `json:"pending"` // closed hours still unsettled after the pass
	Duration  time.Duration `json:"duration"`
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
	lock, err := r.o.Ledger.Lock(ctx, LockName, r.o.LockTTL)
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

	// Round one carries and sends; round two carries what the answers left
	// due (shortfalls of duplicates, hours the service called expired).
	for round := range 2 {
		recs, err := r.o.Ledger.Records(ctx, r.o.Dimension)
		if err != nil {
			return res, fmt.Errorf("metering: read ledger: %w", err)
		}
		now := r.o.Now()
		var sends []Record
		for _, rec := range recs {
			d := Decide(now, r.o.Grace, r.o.Margin, rec)
			switch d.Action {
			case ActionCarry:
				r.carry(ctx, now, rec, d, &res)
			case ActionSend:
				if round == 0 {
					sends = append(sends, rec)
				}
			}
		}
		r.send(ctx, now, sends, &res)
		if err := context.Cause(ctx); err != nil {
			return res, err
		}
	}
	recs, err := r.o.Ledger.Records(ctx, r.o.Dimension)
	if err != nil {
		return res, fmt.Errorf("metering: read ledger: %w", err)
	}
	now := r.o.Now()
	for _, rec := range recs {
		if Closed(now, r.o.Grace, rec.Hour) && !rec.State.Settled() && rec.Quantity() > 0 {
			res.Pending++
		}
	}
	r.log.Info("metering pass", "sent", res.Sent, "accepted", res.Accepted, "duplicate", res.Duplicate,
		"mismatch", res.Mismatch, "expired", res.Expired, "failed", res.Failed, "carried", res.Carried,
		"pending", res.Pending)
	return res, nil
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
func (r *Reporter) carry(ctx context.Context, now time.Time, rec Record, d Decision, res *PassResult) {
	to := HourOf(now)
	rec.CarriedOut += d.Quantity
	rec.CarriedTo = to
	if !rec.State.Settled() {
		rec.State = StateExpired
	}
	rec.UpdatedAt = now
	if _, err := r.o.Ledger.Carry(ctx, rec, to, d.Quantity); err != nil {
		if !errors.Is(err, ErrConflict) {
			r.log.Error("metering: carry failed; retried next pass", "hour", rec.Hour, "err", err)
		}
		return
	}
	res.Carried += d.Quantity
	r.log.Warn("metering: usage carried to the open hour", "hour", rec.Hour, "to", to,
		"quantity", d.Quantity, "reason", d.Reason)
}

// send claims each hour (pending -> inflight, a compare-and-set, so two
// reporters never both send it), sends them 1 by usageEvent or up to 25 by
// batchUsageEvent, and records each answer.
func (r *Reporter) send(ctx context.Context, now time.Time, recs []Record, res *PassResult) {
	for len(recs) > 0 && ctx.Err() == nil {
		n := min(len(recs), MaxBatch)
		chunk := recs[:n]
		recs = recs[n:]
		var claimed []Record
		for _, rec := range chunk {
			rec.State = StateInflight
			rec.Sent = rec.Quantity()
			rec.Attempts++
			rec.UpdatedAt = now
			rec.CorrelationID = uuid.NewString()
			got, err := r.o.Ledger.Update(ctx, rec)
			if err != nil {
				if !errors.Is(err, ErrConflict) {
					r.log.Error("metering: claim hour", "hour", rec.Hour, "err", err)
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

// sendClaimed sends claimed hours and records the answers. It reports stop
// when the API failed as a whole, so the pass does not hammer it further.
func (r *Reporter) sendClaimed(ctx context.Context, now time.Time, claimed []Record, res *PassResult) (stop bool) {
	events := make([]UsageEvent, len(claimed))
	for i, rec := range claimed {
		events[i] = NewUsageEvent(r.o.Resource, r.o.PlanID, r.o.Dimension, rec.Hour, rec.Sent)
	}
	res.Sent += len(events)
	// One correlation id per call, the first hour's, ties ledger and service logs together.
	cid := claimed[0].CorrelationID
	callCtx := WithCorrelationID(ctx, cid)
	var results []EventResult
	var err error
	if len(events) == 1 {
		var one EventResult
		one, err = r.o.Sender.SendUsageEvent(callCtx, events[0])
		results = []EventResult{one}
	} else {
		var batch BatchResult
		batch, err = r.o.Sender.SendBatch(callCtx, events)
		results = batch.Result
		if err == nil && len(results) != len(events) {
			err = fmt.Errorf("metering: batch answered %d results for %d events", len(results), len(events))
		}
	}
	if err != nil {
		outcome := Outcome{Err: err, CorrelationID: cid}
		for _, rec := range claimed {
			r.record(ctx, now, rec, outcome, res)
		}
		return true
	}
	for i, rec := range claimed {
		r.record(ctx, now, rec, Outcome{Result: results[i], CorrelationID: cid}, res)
	}
	return false
}

// record writes one answer into the hour's ledger record.
func (r *Reporter) record(ctx context.Context, now time.Time, rec Record, o Outcome, res *PassResult) {
	next := Apply(rec, o)
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
	case next.State == StateExpired:
		res.Expired++
	default:
		res.Failed++
	}
	log := r.log.With("hour", rec.Hour, "quantity", rec.Sent, "state", next.State,
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
