package meteringtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/azure-vote/azure-vote/metering"
)

// Harness is a ledger under test and the way to count usage into it.
type Harness struct {
	Ledger metering.Ledger
	// Dimension is the dimension Count counts for.
	Dimension string
	// Count adds n units of usage at time at, as the application does.
	Count func(ctx context.Context, at time.Time, n int) error
	// Locker is the ledger's lock, if it has one; without it the lock's
	// checks are skipped.
	Locker metering.Locker
}

// base is the hour most checks count in: 2026-11-22T08 UTC.
var base = time.Date(2026, 11, 22, 8, 15, 0, 0, time.UTC)

// TestLedger checks that a metering.Ledger implementation keeps the
// contract the reporter relies on: records read with the usage counted,
// compare-and-set updates, carries in one step, a range read that forgets
// nothing, and an exclusive lock; then it runs a Reporter over the ledger
// against the emulator, through a lost answer and an hour past the
// window, and checks that every hour is billed once. open returns a new,
// empty ledger whose housekeeping reads the time from now (lock expiry may
// use real time).
// Run it from the implementation's tests:
//
//	func TestLedger(t *testing.T) { meteringtest.TestLedger(t, openMine) }
func TestLedger(t *testing.T, open func(t *testing.T, now func() time.Time) Harness) {
	// Unless a check says otherwise, "now" is just after base, so no hour
	// is old enough to be left out of Records.
	openNow := func(t *testing.T) *suite {
		return &suite{t: t, h: open(t, func() time.Time { return base.Add(time.Hour) })}
	}

	t.Run("RecordsOldestFirstWithDefaults", func(t *testing.T) {
		s := openNow(t)
		for _, d := range []time.Duration{2, 0, 1, 2} {
			s.count(base.Add(-d*time.Hour), 1)
		}
		want := []metering.Record{
			{Hour: hourOf(base.Add(-2 * time.Hour)), Dimension: s.h.Dimension, Counted: 2},
			{Hour: hourOf(base.Add(-time.Hour)), Dimension: s.h.Dimension, Counted: 1},
			{Hour: hourOf(base), Dimension: s.h.Dimension, Counted: 1},
		}
		recs := s.records()
		if !sameRecords(recs, want) {
			t.Errorf("Records =\n%+v\nwant\n%+v", recs, want)
		}
		if st := recs[0].State; st != "" || st.Settled() {
			t.Errorf("State of a new hour = %q, want \"\" (pending)", st)
		}
		if recs, err := s.h.Ledger.Records(t.Context(), "another-dimension"); err != nil || len(recs) != 0 {
			t.Errorf("Records of another dimension = %+v, %v; want none", recs, err)
		}
	})

	t.Run("UpdateIsCompareAndSet", func(t *testing.T) {
		ctx, s := t.Context(), openNow(t)
		s.count(base, 3)
		rec := s.records()[0]
		cet := time.FixedZone("CET", 3600)
		rec.State = metering.StateInflight
		rec.Sent = 3
		rec.Reported = 0.25
		rec.CarriedOut = 0.5
		rec.UsageEventID = "5b7a7d5e-0000-4000-8000-000000000001"
		rec.MessageTime = time.Date(2026, 11, 22, 10, 0, 1, 123456700, cet)
		rec.Attempts = 2
		rec.LastError = "timeout after 10s"
		rec.CorrelationID = "corr-1"
		rec.CarriedTo = hourOf(base.Add(3 * time.Hour))
		rec.UpdatedAt = base.Add(time.Hour + time.Second)
		rec.MaybeBilled = true
		rec.BadAnswers = 1
		rec.Unresolved = "the service's records of 2026-11-22 are still processing"
		rec.Resolution = "checked in Partner Center"
		rec.ResolvedBy = "operator@example.com"
		rec.ResolvedAt = time.Date(2026, 11, 24, 9, 0, 0, 0, cet)
		rec.Counted, rec.CarriedIn = 999, 999 // not the caller's to write

		got, err := s.h.Ledger.Update(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		want := rec
		want.Version, want.Counted, want.CarriedIn = 1, 3, 0
		if !SameRecord(got, want) {
			t.Fatalf("Update =\n%+v\nwant\n%+v", got, want)
		}
		if got.MessageTime.Location() != time.UTC {
			t.Errorf("MessageTime in %v, want UTC", got.MessageTime.Location())
		}
		if recs := s.records(); len(recs) != 1 || !SameRecord(recs[0], want) {
			t.Fatalf("Records after Update =\n%+v\nwant\n%+v", recs, want)
		}

		stale := rec
		stale.State = metering.StateAccepted
		if _, err := s.h.Ledger.Update(ctx, stale); !errors.Is(err, metering.ErrConflict) {
			t.Fatalf("Update with stale version: err = %v, want ErrConflict", err)
		}
		if recs := s.records(); !SameRecord(recs[0], want) {
			t.Errorf("a lost compare-and-set changed the record: %+v", recs[0])
		}

		// Counting does not change the version; clearing a field clears it.
		s.count(base, 1)
		next := got
		next.State, next.LastError, next.MessageTime = metering.StateAccepted, "", time.Time{}
		next.MaybeBilled, next.BadAnswers, next.Unresolved, next.ResolvedAt = false, 0, "", time.Time{}
		got, err = s.h.Ledger.Update(ctx, next)
		if err != nil {
			t.Fatal(err)
		}
		want = next
		want.Version, want.Counted = 2, 4
		if !SameRecord(got, want) {
			t.Errorf("second Update =\n%+v\nwant\n%+v", got, want)
		}
	})

	t.Run("UpdateHourWithoutUsage", func(t *testing.T) {
		s := openNow(t)
		hour := hourOf(base.Add(-5 * time.Hour))
		got, err := s.h.Ledger.Update(t.Context(), metering.Record{Hour: hour.Add(17 * time.Minute), Dimension: s.h.Dimension, State: metering.StatePending, LastError: "403"})
		if err != nil {
			t.Fatal(err)
		}
		want := metering.Record{Hour: hour, Dimension: s.h.Dimension, State: metering.StatePending, LastError: "403", Version: 1}
		if !SameRecord(got, want) {
			t.Errorf("Update = %+v, want %+v", got, want)
		}
		if recs := s.records(); len(recs) != 1 || !SameRecord(recs[0], want) {
			t.Errorf("Records = %+v, want [%+v]", recs, want)
		}
	})

	t.Run("UpdateRejectsIncompleteRecords", func(t *testing.T) {
		s := openNow(t)
		for _, rec := range []metering.Record{
			{Dimension: s.h.Dimension},
			{Hour: base},
			{Hour: base, Dimension: s.h.Dimension, Version: -1},
		} {
			if _, err := s.h.Ledger.Update(t.Context(), rec); err == nil || errors.Is(err, metering.ErrConflict) {
				t.Errorf("Update(%+v) err = %v, want a validation error", rec, err)
			}
		}
		if recs := s.records(); len(recs) != 0 {
			t.Errorf("Records = %+v, want none", recs)
		}
	})

	t.Run("Carry", func(t *testing.T) {
		ctx, s := t.Context(), openNow(t)
		from, to := hourOf(base.Add(-30*time.Hour)), hourOf(base)
		s.count(from, 5)
		s.count(to, 1)
		// The target has a record of its own, whose version a carry keeps.
		target, err := s.h.Ledger.Update(ctx, metering.Record{Hour: to, Dimension: s.h.Dimension, State: metering.StatePending})
		if err != nil {
			t.Fatal(err)
		}
		rec := s.records()[0]
		rec.State, rec.CarriedOut, rec.CarriedTo = metering.StateExpired, 5, to
		got, err := s.h.Ledger.Carry(ctx, rec, to, 5)
		if err != nil {
			t.Fatal(err)
		}
		wantFrom := rec
		wantFrom.Version = 1
		if !SameRecord(got, wantFrom) || got.Due() != 0 {
			t.Fatalf("Carry = %+v, want %+v with nothing due", got, wantFrom)
		}
		wantTo := target
		wantTo.CarriedIn, wantTo.CarriedFrom = 5, from
		recs := s.records()
		if !sameRecords(recs, []metering.Record{wantFrom, wantTo}) {
			t.Fatalf("Records after Carry =\n%+v\nwant\n%+v", recs, []metering.Record{wantFrom, wantTo})
		}
		if recs[1].Due() != 6 || recs[1].Quantity() != 6 {
			t.Errorf("target due %v, quantity %v; want 6 and 6", recs[1].Due(), recs[1].Quantity())
		}
		// A stale carry moves nothing.
		if _, err := s.h.Ledger.Carry(ctx, rec, to, 5); !errors.Is(err, metering.ErrConflict) {
			t.Fatalf("stale Carry err = %v, want ErrConflict", err)
		}
		// Update of the target keeps what was carried in.
		upd := recs[1]
		upd.CarriedIn, upd.State = 0, metering.StateInflight
		if got, err := s.h.Ledger.Update(ctx, upd); err != nil || got.CarriedIn != 5 || !got.CarriedFrom.Equal(from) {
			t.Fatalf("Update of target = %+v, %v; want CarriedIn 5 from %v kept", got, err, from)
		}
		// Fractions add up; the carry target need not have any usage.
		other := hourOf(base.Add(-29 * time.Hour))
		s.count(other, 1)
		r := s.records()[1]
		for i, q := range []float64{0.1, 0.2} {
			r.CarriedOut += q
			r.State = metering.StateExpired
			if r, err = s.h.Ledger.Carry(ctx, r, to, q); err != nil {
				t.Fatalf("carry %d: %v", i, err)
			}
		}
		recs = s.records()
		last := recs[len(recs)-1]
		if math.Abs(last.CarriedIn-5.3) > 1e-9 || !last.CarriedFrom.Equal(other) || last.Version != 2 {
			t.Errorf("target = %+v, want CarriedIn 5.3 from %v at version 2", last, other)
		}
	})

	t.Run("CarryRejectsBadTargets", func(t *testing.T) {
		s := openNow(t)
		s.count(base, 1)
		rec := s.records()[0]
		to := base.Add(time.Hour)
		for _, c := range []struct {
			to time.Time
			q  float64
		}{{base.Add(10 * time.Minute), 1}, {time.Time{}, 1}, {to, 0}, {to, -1}, {to, math.NaN()}, {to, math.Inf(1)}} {
			if _, err := s.h.Ledger.Carry(t.Context(), rec, c.to, c.q); err == nil {
				t.Errorf("Carry(to %v, %v) succeeded", c.to, c.q)
			}
		}
		if recs := s.records(); len(recs) != 1 || recs[0].Version != 0 {
			t.Errorf("Records = %+v, want the untouched hour only", recs)
		}
	})

	t.Run("RacingUpdatesOneWins", func(t *testing.T) {
		s := openNow(t)
		s.count(base, 1)
		rec := s.records()[0]
		const racers = 8
		results := make([]error, racers)
		var wg sync.WaitGroup
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rec
				r.UsageEventID = fmt.Sprint("event-", i)
				_, results[i] = s.h.Ledger.Update(t.Context(), r)
			}()
		}
		wg.Wait()
		won := oneWinner(t, results)
		if got := s.records()[0]; got.Version != 1 || got.UsageEventID != fmt.Sprint("event-", won) {
			t.Errorf("record = %+v, want version 1 written by racer %d", got, won)
		}
	})

	t.Run("RacingCarriesMoveOnce", func(t *testing.T) {
		s := openNow(t)
		from, to := hourOf(base.Add(-26*time.Hour)), hourOf(base)
		s.count(from, 4)
		rec := s.records()[0]
		rec.State, rec.CarriedOut = metering.StateExpired, 4
		results := make([]error, 2)
		var wg sync.WaitGroup
		for i := range results {
			wg.Add(1)
			go func() { defer wg.Done(); _, results[i] = s.h.Ledger.Carry(t.Context(), rec, to, 4) }()
		}
		wg.Wait()
		oneWinner(t, results)
		if recs := s.records(); len(recs) != 2 || recs[1].CarriedIn != 4 || recs[0].Version != 1 {
			t.Errorf("Records = %+v, want 4 carried once", recs)
		}
	})

	t.Run("RecordsKeepWhatIsDueHistoryKeepsAll", func(t *testing.T) {
		ctx := t.Context()
		s := &suite{t: t, h: open(t, func() time.Time { return base })}
		settle := func(at time.Time, n int, st metering.State, reported float64) {
			s.count(at, n)
			for _, r := range s.records() {
				if r.Hour.Equal(hourOf(at)) {
					r.State, r.Reported = st, reported
					if _, err := s.h.Ledger.Update(ctx, r); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		old, oldDue, oldPending, recent := base.Add(-72*time.Hour), base.Add(-71*time.Hour), base.Add(-70*time.Hour), base.Add(-2*time.Hour)
		settle(old, 2, metering.StateAccepted, 2)
		settle(oldDue, 3, metering.StateDuplicate, 2)
		settle(oldPending, 1, metering.StatePending, 0)
		settle(recent, 1, metering.StateAccepted, 1)
		// Records may leave out an old hour settled and balanced, never one
		// with work left, nor a recent one.
		for range 2 {
			got := hoursOf(s.records())
			for _, h := range []time.Time{oldDue, oldPending, recent} {
				if !slices.ContainsFunc(got, hourOf(h).Equal) {
					t.Fatalf("Records = %v: hour %s, which still needs the reporter, is missing", got, hourOf(h))
				}
			}
		}
		for _, tc := range []struct {
			from time.Time
			want []time.Time
		}{
			{base.Add(-7 * 24 * time.Hour), []time.Time{hourOf(old), hourOf(oldDue), hourOf(oldPending), hourOf(recent)}},
			{oldDue.Add(30 * time.Minute), []time.Time{hourOf(oldDue), hourOf(oldPending), hourOf(recent)}},
			{base.Add(-time.Hour), nil},
		} {
			hist, err := s.h.Ledger.History(ctx, s.h.Dimension, tc.from)
			if err != nil {
				t.Fatal(err)
			}
			if got := hoursOf(hist); !slices.EqualFunc(got, tc.want, time.Time.Equal) {
				t.Fatalf("History(from %s) = %v, want %v", tc.from, got, tc.want)
			}
			if len(hist) > 0 && hist[0].Hour.Equal(hourOf(old)) && (hist[0].Counted != 2 || hist[0].State != metering.StateAccepted) {
				t.Fatalf("History's oldest hour: %+v", hist[0])
			}
		}
		// Usage arriving late in an old hour makes it due again.
		s.count(old, 1)
		recs := s.records()
		if !recs[0].Hour.Equal(hourOf(old)) || recs[0].Due() != 1 || recs[0].Version != 1 {
			t.Errorf("Records after late usage = %+v, want the old hour first with 1 due", recs)
		}
	})

	t.Run("LockIsExclusive", func(t *testing.T) {
		ctx, s := t.Context(), openNow(t)
		l := s.locker()
		l1, err := l.Lock(ctx, "reporter", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Lock(ctx, "reporter", time.Minute); !errors.Is(err, metering.ErrLocked) {
			t.Fatalf("second Lock err = %v, want ErrLocked", err)
		}
		other, err := l.Lock(ctx, "other", time.Minute)
		if err != nil {
			t.Fatalf("Lock of another name: %v", err)
		}
		if err := l1.Renew(ctx); err != nil {
			t.Fatalf("Renew: %v", err)
		}
		if err := l1.Release(ctx); err != nil {
			t.Fatalf("Release: %v", err)
		}
		l2, err := l.Lock(ctx, "reporter", time.Minute)
		if err != nil {
			t.Fatalf("Lock after Release: %v", err)
		}
		// The old holder can neither renew nor release the new one's lock.
		if err := l1.Renew(ctx); err == nil {
			t.Error("Renew of a released lock succeeded")
		}
		if err := l1.Release(ctx); err != nil {
			t.Errorf("second Release: %v", err)
		}
		if _, err := l.Lock(ctx, "reporter", time.Minute); !errors.Is(err, metering.ErrLocked) {
			t.Errorf("a stale Release freed the new holder's lock: err = %v", err)
		}
		for _, k := range []metering.Lock{l2, other} {
			if err := k.Release(ctx); err != nil {
				t.Error(err)
			}
		}
		if _, err := l.Lock(ctx, "reporter", 0); err == nil {
			t.Error("Lock with ttl 0 succeeded")
		}
	})

	t.Run("LockExpires", func(t *testing.T) {
		ctx := t.Context()
		l := open(t, time.Now).Locker // real time: a server may expire keys itself
		if l == nil {
			t.Skip("the ledger has no Locker")
		}
		const ttl = 50 * time.Millisecond
		l1, err := l.Lock(ctx, "reporter", ttl)
		if err != nil {
			t.Fatal(err)
		}
		if err := l1.Renew(ctx); err != nil {
			t.Fatalf("Renew within ttl: %v", err)
		}
		var l2 metering.Lock
		for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if l2, err = l.Lock(ctx, "reporter", time.Minute); err == nil {
				break
			}
			if !errors.Is(err, metering.ErrLocked) || time.Now().After(deadline) {
				t.Fatalf("lock never expired: %v", err)
			}
		}
		if err := l1.Renew(ctx); err == nil {
			t.Error("Renew of an expired lock succeeded")
		}
		if err := l1.Release(ctx); err != nil {
			t.Errorf("Release of an expired lock: %v", err)
		}
		if _, err := l.Lock(ctx, "reporter", time.Minute); !errors.Is(err, metering.ErrLocked) {
			t.Errorf("expired holder's Release freed the new lock: err = %v", err)
		}
		if err := l2.Release(ctx); err != nil {
			t.Error(err)
		}
	})

	testReporting(t, open)
}

// suite is one ledger under test.
type suite struct {
	t *testing.T
	h Harness
}

// locker is the harness's Locker; a ledger without one skips the lock checks.
func (s *suite) locker() metering.Locker {
	s.t.Helper()
	if s.h.Locker == nil {
		s.t.Skip("the ledger has no Locker")
	}
	return s.h.Locker
}

func (s *suite) count(at time.Time, n int) {
	s.t.Helper()
	if err := s.h.Count(s.t.Context(), at, n); err != nil {
		s.t.Fatalf("count %d at %s: %v", n, at, err)
	}
}

func (s *suite) records() []metering.Record {
	s.t.Helper()
	recs, err := s.h.Ledger.Records(s.t.Context(), s.h.Dimension)
	if err != nil {
		s.t.Fatalf("Records: %v", err)
	}
	return recs
}

func hourOf(t time.Time) time.Time { return metering.HourOf(t) }

func hoursOf(recs []metering.Record) []time.Time {
	var hs []time.Time
	for _, r := range recs {
		hs = append(hs, r.Hour)
	}
	return hs
}

// oneWinner checks that exactly one racer succeeded and the others lost
// with ErrConflict, and returns the winner.
func oneWinner(t *testing.T, results []error) int {
	t.Helper()
	won := -1
	for i, err := range results {
		switch {
		case err == nil && won < 0:
			won = i
		case err == nil:
			t.Fatalf("racers %d and %d both won", won, i)
		case !errors.Is(err, metering.ErrConflict):
			t.Fatalf("racer %d: %v, want ErrConflict", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no racer won")
	}
	return won
}

// SameRecord reports whether two ledger records are equal, their times
// compared by instant (a store may keep them in another location).
func SameRecord(a, b metering.Record) bool {
	times := func(r metering.Record) []time.Time {
		return []time.Time{r.Hour, r.MessageTime, r.CarriedTo, r.CarriedFrom, r.UpdatedAt, r.ResolvedAt}
	}
	if !slices.EqualFunc(times(a), times(b), time.Time.Equal) {
		return false
	}
	for _, r := range []*metering.Record{&a, &b} {
		r.Hour, r.MessageTime, r.CarriedTo, r.CarriedFrom, r.UpdatedAt, r.ResolvedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	}
	return a == b
}

func sameRecords(a, b []metering.Record) bool { return slices.EqualFunc(a, b, SameRecord) }
