package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azure-vote/azure-vote/metering"
)

// Store is what both implementations offer; the contract runs against it.
type Store interface {
	Vote(ctx context.Context, choice string, at time.Time) (map[string]int64, error)
	VoteOnce(ctx context.Context, choice, token string, at time.Time) (map[string]int64, bool, error)
	Counts(ctx context.Context) (map[string]int64, error)
	Reset(ctx context.Context) (map[string]int64, error)
	Ping(ctx context.Context) error
	Close() error
	metering.Ledger
	History(ctx context.Context, dim string, from time.Time) ([]metering.Record, error)
}

var (
	_ Store = (*Redis)(nil)
	_ Store = (*Bolt)(nil)
)

// base is the hour most contract tests vote in: 2026-11-22T08 UTC.
var base = time.Date(2026, 11, 22, 8, 15, 0, 0, time.UTC)

// fixedClock is a clock for Options.Now.
func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// runContract runs the behaviour both stores must share. open returns a new,
// empty store with the given options, closed when the test ends.
func runContract(t *testing.T, open func(t *testing.T, o Options) Store) {
	// Unless a test says otherwise, "now" is just after base, so no hour of
	// the tests is old enough to be left out of Records.
	openNow := func(t *testing.T) Store { return open(t, Options{Now: fixedClock(base.Add(time.Hour))}) }

	t.Run("VoteCountsAndUsage", func(t *testing.T) {
		ctx, s := t.Context(), openNow(t)
		counts, err := s.Counts(ctx)
		if err != nil || len(counts) != 0 {
			t.Fatalf("Counts of a new store = %v, %v; want empty", counts, err)
		}
		steps := []struct {
			choice string
			want   map[string]int64
		}{
			{"Cats", map[string]int64{"Cats": 1}},
			{"Dogs", map[string]int64{"Cats": 1, "Dogs": 1}},
			{"Cats", map[string]int64{"Cats": 2, "Dogs": 1}},
		}
		for _, st := range steps {
			if got := mustVote(t, s, st.choice, base); !maps.Equal(got, st.want) {
				t.Fatalf("Vote(%q) = %v, want %v", st.choice, got, st.want)
			}
		}
		if got := mustCounts(t, s); !maps.Equal(got, steps[2].want) {
			t.Errorf("Counts = %v, want %v", got, steps[2].want)
		}
		recs := mustRecords(t, s, DefaultDimension)
		want := metering.Record{Hour: hourOf(base), Dimension: DefaultDimension, Counted: 3}
		if len(recs) != 1 || !sameRecord(recs[0], want) {
			t.Errorf("Records = %+v, want [%+v]", recs, want)
		}
		if recs := mustRecords(t, s, "other"); len(recs) != 0 {
			t.Errorf("Records(other) = %+v, want none", recs)
		}
	})

	t.Run("ResetKeepsUsage", func(t *testing.T) {
		ctx, s := t.Context(), openNow(t)
		for _, c := range []string{"Cats", "Cats", "Dogs"} {
			mustVote(t, s, c, base)
		}
		got, err := s.Reset(ctx)
		zero := map[string]int64{"Cats": 0, "Dogs": 0}
		if err != nil || !maps.Equal(got, zero) {
			t.Fatalf("Reset = %v, %v; want %v", got, err, zero)
		}
		if got := mustCounts(t, s); !maps.Equal(got, zero) {
			t.Errorf("Counts after Reset = %v, want %v", got, zero)
		}
		if recs := mustRecords(t, s, DefaultDimension); len(recs) != 1 || recs[0].Counted != 3 {
			t.Fatalf("usage after Reset = %+v, want 3 votes still counted", recs)
		}
		if got, want := mustVote(t, s, "Cats", base), map[string]int64{"Cats": 1, "Dogs": 0}; !maps.Equal(got, want) {
			t.Errorf("Vote after Reset = %v, want %v", got, want)
		}
		if recs := mustRecords(t, s, DefaultDimension); recs[0].Counted != 4 {
			t.Errorf("usage = %v, want 4", recs[0].Counted)
		}
	})

	t.Run("UsageLandsOnItsUTCHour", func(t *testing.T) {
		s := openNow(t)
		ist := time.FixedZone("IST", 5*3600+1800)
		votes := []time.Time{
			time.Date(2026, 11, 22, 8, 59, 59, 999999999, time.UTC),
			time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC),
			time.Date(2026, 11, 22, 14, 29, 59, 0, ist), // 08:59:59 UTC
			time.Date(2026, 11, 22, 10, 30, 0, 0, ist),  // 05:00 UTC
		}
		for _, at := range votes {
			mustVote(t, s, "Cats", at)
		}
		got := hoursAndCounts(mustRecords(t, s, DefaultDimension))
		want := []string{"2026-11-22T05:1", "2026-11-22T08:2", "2026-11-22T09:1"}
		if !slices.Equal(got, want) {
			t.Errorf("hours = %v, want %v", got, want)
		}
	})

	t.Run("ConcurrentVotesAllCounted", func(t *testing.T) {
		s := openNow(t)
		const workers, each = 50, 20
		choices := []string{"Cats", "Dogs"}
		seen := make([][]int64, workers) // counts each worker's votes returned
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				for range each {
					c := choices[w%2]
					counts, err := s.Vote(t.Context(), c, base)
					if err != nil {
						errs <- err
						return
					}
					seen[w] = append(seen[w], counts[c])
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		half := int64(workers * each / 2)
		if got, want := mustCounts(t, s), map[string]int64{"Cats": half, "Dogs": half}; !maps.Equal(got, want) {
			t.Errorf("Counts = %v, want %v", got, want)
		}
		// Atomic votes each see a distinct count: together exactly 1..half per choice.
		for i, c := range choices {
			var got []int64
			for w := i; w < workers; w += 2 {
				got = append(got, seen[w]...)
			}
			slices.Sort(got)
			for j, n := range got {
				if n != int64(j+1) {
					t.Fatalf("%s: counts returned to voters, sorted, have %d at %d: votes not atomic", c, n, j)
				}
			}
		}
		if recs := mustRecords(t, s, DefaultDimension); len(recs) != 1 || recs[0].Counted != workers*each {
			t.Errorf("usage = %+v, want %d", recs, workers*each)
		}
	})

	t.Run("VoteTokenCountsOnce", func(t *testing.T) {
		s := openNow(t)
		steps := []struct {
			choice, token string
			counted       bool
			want          map[string]int64
		}{
			{"Cats", "token-a-0123456789", true, map[string]int64{"Cats": 1}},
			{"Cats", "token-a-0123456789", false, map[string]int64{"Cats": 1}},
			// The token, not the choice, names the vote: a resend that
			// changed its mind is still the same vote.
			{"Dogs", "token-a-0123456789", false, map[string]int64{"Cats": 1}},
			{"Dogs", "token-b-0123456789", true, map[string]int64{"Cats": 1, "Dogs": 1}},
			{"Dogs", "", true, map[string]int64{"Cats": 1, "Dogs": 2}},
			{"Dogs", "", true, map[string]int64{"Cats": 1, "Dogs": 3}},
			{"Cats", "token-b-0123456789", false, map[string]int64{"Cats": 1, "Dogs": 3}},
		}
		for i, st := range steps {
			counts, counted, err := s.VoteOnce(t.Context(), st.choice, st.token, base)
			if err != nil || counted != st.counted || !maps.Equal(counts, st.want) {
				t.Fatalf("step %d: VoteOnce(%q, %q) = %v, %v, %v; want %v, %v", i, st.choice, st.token, counts, counted, err, st.want, st.counted)
			}
		}
		if recs := mustRecords(t, s, DefaultDimension); len(recs) != 1 || recs[0].Counted != 4 {
			t.Errorf("usage = %+v, want 4: a repeated token must not be billed", recs)
		}
		// Reset forgets the counts, not the tokens.
		if _, err := s.Reset(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, counted, err := s.VoteOnce(t.Context(), "Cats", "token-a-0123456789", base); err != nil || counted {
			t.Errorf("a token counted before Reset counted again after it: %v, %v", counted, err)
		}
	})

	t.Run("ConcurrentRepeatsOfATokenCountOnce", func(t *testing.T) {
		s := openNow(t)
		// Every token is sent by several voters at once, as impatient
		// clients resending a vote would: each must count exactly once,
		// however the store groups concurrent votes.
		const tokens, repeats = 40, 8
		var wg sync.WaitGroup
		var mu sync.Mutex
		counted := map[string]int{}
		errs := make(chan error, tokens*repeats)
		for r := range repeats {
			for i := range tokens {
				wg.Go(func() {
					tok := fmt.Sprintf("concurrent-token-%03d", i)
					_, ok, err := s.VoteOnce(t.Context(), []string{"Cats", "Dogs"}[r%2], tok, base)
					if err != nil {
						errs <- err
						return
					}
					if ok {
						mu.Lock()
						counted[tok]++
						mu.Unlock()
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if len(counted) != tokens {
			t.Errorf("%d tokens counted, want %d", len(counted), tokens)
		}
		for tok, n := range counted {
			if n != 1 {
				t.Errorf("token %s counted %d times", tok, n)
			}
		}
		counts := mustCounts(t, s)
		if counts["Cats"]+counts["Dogs"] != tokens {
			t.Errorf("counts = %v, want %d votes in all", counts, tokens)
		}
		if recs := mustRecords(t, s, DefaultDimension); len(recs) != 1 || recs[0].Counted != tokens {
			t.Errorf("usage = %+v, want %d", recs, tokens)
		}
	})

	t.Run("VoteTokenExpires", func(t *testing.T) {
		// Real time: Redis expires the token on its own clock.
		s := open(t, Options{TokenTTL: 100 * time.Millisecond})
		const tok = "expiring-token-0123456789"
		if _, counted, err := s.VoteOnce(t.Context(), "Cats", tok, base); err != nil || !counted {
			t.Fatalf("first vote: %v, %v", counted, err)
		}
		if _, counted, err := s.VoteOnce(t.Context(), "Cats", tok, base); err != nil || counted {
			t.Fatalf("repeat within the lifetime counted: %v, %v", counted, err)
		}
		time.Sleep(250 * time.Millisecond)
		if counts, counted, err := s.VoteOnce(t.Context(), "Cats", tok, base); err != nil || !counted || counts["Cats"] != 2 {
			t.Fatalf("vote after the token expired = %v, %v, %v; want counted", counts, counted, err)
		}
	})

	t.Run("VoteTokenTooLong", func(t *testing.T) {
		s := openNow(t)
		long := strings.Repeat("t", MaxTokenLen+1)
		if _, _, err := s.VoteOnce(t.Context(), "Cats", long, base); err == nil {
			t.Error("a token over MaxTokenLen was taken")
		}
		if _, counted, err := s.VoteOnce(t.Context(), "Cats", long[:MaxTokenLen], base); err != nil || !counted {
			t.Errorf("a token of MaxTokenLen bytes: %v, %v", counted, err)
		}
		if got := mustCounts(t, s); !maps.Equal(got, map[string]int64{"Cats": 1}) {
			t.Errorf("Counts = %v, want only the accepted vote", got)
		}
	})

	t.Run("ChoiceIsOnlyData", func(t *testing.T) {
		s := openNow(t)
		weird := []string{"VOTES", "votes", "usage:pervote:x", "../x", "usage-hours:pervote", "{azure-vote}:votes", "*", "a b\nc", "Ünïcødé"}
		want := map[string]int64{}
		for _, c := range weird {
			mustVote(t, s, c, base)
			want[c] = 1
		}
		if got := mustCounts(t, s); !maps.Equal(got, want) {
			t.Errorf("Counts = %v, want %v", got, want)
		}
		if recs := mustRecords(t, s, DefaultDimension); len(recs) != 1 || recs[0].Counted != float64(len(weird)) {
			t.Errorf("usage = %+v, want %d", recs, len(weird))
		}
	})

	t.Run("RecordsOldestFirstWithDefaults", func(t *testing.T) {
		s := openNow(t)
		for _, d := range []time.Duration{2, 0, 1, 2} {
			mustVote(t, s, "Cats", base.Add(-d*time.Hour))
		}
		recs := mustRecords(t, s, DefaultDimension)
		want := []metering.Record{
			{Hour: hourOf(base.Add(-2 * time.Hour)), Dimension: DefaultDimension, Counted: 2},
			{Hour: hourOf(base.Add(-time.Hour)), Dimension: DefaultDimension, Counted: 1},
			{Hour: hourOf(base), Dimension: DefaultDimension, Counted: 1},
		}
		if !sameRecords(recs, want) {
			t.Errorf("Records =\n%+v\nwant\n%+v", recs, want)
		}
		if st := recs[0].State; st != "" || st.Settled() {
			t.Errorf("State of a new hour = %q, want \"\" (pending)", st)
		}
	})

	t.Run("UpdateIsCompareAndSet", func(t *testing.T) {
		ctx, s := t.Context(), openNow(t)
		for range 3 {
			mustVote(t, s, "Cats", base)
		}
		rec := mustRecords(t, s, DefaultDimension)[0]
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

		got, err := s.Update(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		want := rec
		want.Version, want.Counted, want.CarriedIn = 1, 3, 0
		if !sameRecord(got, want) {
			t.Fatalf("Update =\n%+v\nwant\n%+v", got, want)
		}
		if got.MessageTime.Location() != time.UTC {
			t.Errorf("MessageTime in %v, want UTC", got.MessageTime.Location())
		}
		if recs := mustRecords(t, s, DefaultDimension); len(recs) != 1 || !sameRecord(recs[0], want) {
			t.Fatalf("Records after Update =\n%+v\nwant\n%+v", recs, want)
		}

		stale := rec
		stale.State = metering.StateAccepted
		if _, err := s.Update(ctx, stale); !errors.Is(err, metering.ErrConflict) {
			t.Fatalf("Update with stale version: err = %v, want ErrConflict", err)
		}
		if recs := mustRecords(t, s, DefaultDimension); !sameRecord(recs[0], want) {
			t.Errorf("a lost compare-and-set changed the record: %+v", recs[0])
		}

		// A vote does not change the version; clearing a field clears it.
		mustVote(t, s, "Cats", base)
		next := got
		next.State, next.LastError, next.MessageTime = metering.StateAccepted, "", time.Time{}
		next.MaybeBilled, next.BadAnswers, next.Unresolved, next.ResolvedAt = false, 0, "", time.Time{}
		got, err = s.Update(ctx, next)
		if err != nil {
			t.Fatal(err)
		}
		want = next
		want.Version, want.Counted = 2, 4
		if !sameRecord(got, want) {
			t.Errorf("second Update =\n%+v\nwant\n%+v", got, want)
		}
	})

	t.Run("UpdateHourWithoutUsage", func(t *testing.T) {
		ctx, s := t.Context(), openNow(t)
		hour := hourOf(base.Add(-5 * time.Hour))
		got, err := s.Update(ctx, metering.Record{Hour: hour.Add(17 * time.Minute), Dimension: DefaultDimension, State: metering.StatePending, LastError: "403"})
		if err != nil {
			t.Fatal(err)
		}
		want := metering.Record{Hour: hour, Dimension: DefaultDimension, State: metering.StatePending, LastError: "403", Version: 1}
		if !sameRecord(got, want) {
			t.Errorf("Update = %+v, want %+v", got, want)
		}
		if recs := mustRecords(t, s, DefaultDimension); len(recs) != 1 || !sameRecord(recs[0], want) {
			t.Errorf("Records = %+v, want [%+v]", recs, want)
		}
	})

	t.Run("UpdateRejectsIncompleteRecords", func(t *testing.T) {
		ctx, s := t.Context(), openNow(t)
		for _, rec := range []metering.Record{
			{Dimension: DefaultDimension},
			{Hour: base},
			{Hour: base, Dimension: DefaultDimension, Version: -1},
		} {
			if _, err := s.Update(ctx, rec); err == nil || errors.Is(err, metering.ErrConflict) {
				t.Errorf("Update(%+v) err = %v, want a validation error", rec, err)
			}
		}
		if recs := mustRecords(t, s, DefaultDimension); len(recs) != 0 {
			t.Errorf("Records = %+v, want none", recs)
		}
	})

	t.Run("Carry", func(t *testing.T) {
		ctx, s := t.Context(), openNow(t)
		from, to := hourOf(base.Add(-30*time.Hour)), hourOf(base)
		for range 5 {
			mustVote(t, s, "Cats", from)
		}
		mustVote(t, s, "Cats", to)
		// The target has a record of its own, whose version a carry keeps.
		target, err := s.Update(ctx, metering.Record{Hour: to, Dimension: DefaultDimension, State: metering.StatePending})
		if err != nil {
			t.Fatal(err)
		}
		rec := mustRecords(t, s, DefaultDimension)[0]
		rec.State, rec.CarriedOut, rec.CarriedTo = metering.StateExpired, 5, to
		got, err := s.Carry(ctx, rec, to, 5)
		if err != nil {
			t.Fatal(err)
		}
		wantFrom := rec
		wantFrom.Version = 1
		if !sameRecord(got, wantFrom) || got.Due() != 0 {
			t.Fatalf("Carry = %+v, want %+v with nothing due", got, wantFrom)
		}
		wantTo := target
		wantTo.CarriedIn, wantTo.CarriedFrom = 5, from
		recs := mustRecords(t, s, DefaultDimension)
		if !sameRecords(recs, []metering.Record{wantFrom, wantTo}) {
			t.Fatalf("Records after Carry =\n%+v\nwant\n%+v", recs, []metering.Record{wantFrom, wantTo})
		}
		if recs[1].Due() != 6 || recs[1].Quantity() != 6 {
			t.Errorf("target due %v, quantity %v; want 6 and 6", recs[1].Due(), recs[1].Quantity())
		}

		// A stale carry moves nothing.
		if _, err := s.Carry(ctx, rec, to, 5); !errors.Is(err, metering.ErrConflict) {
			t.Fatalf("stale Carry err = %v, want ErrConflict", err)
		}
		// Update of the target keeps what was carried in.
		upd := recs[1]
		upd.CarriedIn, upd.State = 0, metering.StateInflight
		if got, err := s.Update(ctx, upd); err != nil || got.CarriedIn != 5 || !got.CarriedFrom.Equal(from) {
			t.Fatalf("Update of target = %+v, %v; want CarriedIn 5 from %v kept", got, err, from)
		}
		// Fractions add up; the carry target need not have any usage.
		other := hourOf(base.Add(-29 * time.Hour))
		mustVote(t, s, "Cats", other)
		r := mustRecords(t, s, DefaultDimension)[1]
		for i, q := range []float64{0.1, 0.2} {
			r.CarriedOut += q
			r.State = metering.StateExpired
			if r, err = s.Carry(ctx, r, to, q); err != nil {
				t.Fatalf("carry %d: %v", i, err)
			}
		}
		recs = mustRecords(t, s, DefaultDimension)
		last := recs[len(recs)-1]
		if math.Abs(last.CarriedIn-5.3) > 1e-9 || !last.CarriedFrom.Equal(other) || last.Version != 2 {
			t.Errorf("target = %+v, want CarriedIn 5.3 from %v at version 2", last, other)
		}
	})

	t.Run("CarryRejectsBadTargets", func(t *testing.T) {
		ctx, s := t.Context(), openNow(t)
		mustVote(t, s, "Cats", base)
		rec := mustRecords(t, s, DefaultDimension)[0]
		to := base.Add(time.Hour)
		for _, c := range []struct {
			to time.Time
			q  float64
		}{{base.Add(10 * time.Minute), 1}, {time.Time{}, 1}, {to, 0}, {to, -1}, {to, math.NaN()}, {to, math.Inf(1)}} {
			if _, err := s.Carry(ctx, rec, c.to, c.q); err == nil {
				t.Errorf("Carry(to %v, %v) succeeded", c.to, c.q)
			}
		}
		if recs := mustRecords(t, s, DefaultDimension); len(recs) != 1 || recs[0].Version != 0 {
			t.Errorf("Records = %+v, want the untouched hour only", recs)
		}
	})

	t.Run("RacingUpdatesOneWins", func(t *testing.T) {
		s := openNow(t)
		mustVote(t, s, "Cats", base)
		rec := mustRecords(t, s, DefaultDimension)[0]
		const racers = 8
		results := make([]error, racers)
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() {
				r := rec
				r.UsageEventID = fmt.Sprint("event-", i)
				_, results[i] = s.Update(t.Context(), r)
			})
		}
		wg.Wait()
		won := checkOneWinner(t, results)
		got := mustRecords(t, s, DefaultDimension)[0]
		if got.Version != 1 || got.UsageEventID != fmt.Sprint("event-", won) {
			t.Errorf("record = %+v, want version 1 written by racer %d", got, won)
		}
	})

	t.Run("RacingCarriesMoveOnce", func(t *testing.T) {
		s := openNow(t)
		from, to := hourOf(base.Add(-26*time.Hour)), hourOf(base)
		for range 4 {
			mustVote(t, s, "Cats", from)
		}
		rec := mustRecords(t, s, DefaultDimension)[0]
		rec.State, rec.CarriedOut = metering.StateExpired, 4
		results := make([]error, 2)
		var wg sync.WaitGroup
		for i := range results {
			wg.Go(func() { _, results[i] = s.Carry(t.Context(), rec, to, 4) })
		}
		wg.Wait()
		checkOneWinner(t, results)
		recs := mustRecords(t, s, DefaultDimension)
		if len(recs) != 2 || recs[1].CarriedIn != 4 || recs[0].Version != 1 {
			t.Errorf("Records = %+v, want 4 carried once", recs)
		}
	})

	t.Run("ForgetsOldSettledHours", func(t *testing.T) {
		ctx, now := t.Context(), base
		s := open(t, Options{Now: fixedClock(now)})
		settle := func(at time.Time, votes int, st metering.State, reported float64) {
			for range votes {
				mustVote(t, s, "Cats", at)
			}
			for _, r := range mustRecords(t, s, DefaultDimension) {
				if r.Hour.Equal(hourOf(at)) {
					r.State, r.Reported = st, reported
					if _, err := s.Update(ctx, r); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		old, oldDue, oldPending, recent := now.Add(-72*time.Hour), now.Add(-71*time.Hour), now.Add(-70*time.Hour), now.Add(-2*time.Hour)
		settle(old, 2, metering.StateAccepted, 2)
		settle(oldDue, 3, metering.StateDuplicate, 2)
		settle(oldPending, 1, metering.StatePending, 0)
		settle(recent, 1, metering.StateAccepted, 1)
		want := []time.Time{hourOf(oldDue), hourOf(oldPending), hourOf(recent)}
		for range 2 {
			if got := hoursOf(mustRecords(t, s, DefaultDimension)); !slices.EqualFunc(got, want, time.Time.Equal) {
				t.Fatalf("hours = %v, want %v", got, want)
			}
		}
		// History still shows every hour of the range, forgotten ones too.
		for _, tc := range []struct {
			from time.Time
			want []time.Time
		}{
			{now.Add(-7 * 24 * time.Hour), []time.Time{hourOf(old), hourOf(oldDue), hourOf(oldPending), hourOf(recent)}},
			{oldDue.Add(30 * time.Minute), []time.Time{hourOf(oldDue), hourOf(oldPending), hourOf(recent)}},
			{now.Add(-time.Hour), nil},
		} {
			hist, err := s.History(ctx, DefaultDimension, tc.from)
			if err != nil {
				t.Fatal(err)
			}
			if got := hoursOf(hist); !slices.EqualFunc(got, tc.want, time.Time.Equal) {
				t.Fatalf("History(from %s) = %v, want %v", tc.from, got, tc.want)
			}
			if len(hist) > 0 && hist[0].Hour.Equal(hourOf(old)) && (hist[0].Counted != 2 || hist[0].State != metering.StateAccepted) {
				t.Fatalf("a forgotten hour in History: %+v", hist[0])
			}
		}
		// Usage arriving late brings the hour back: it is due again.
		mustVote(t, s, "Cats", old)
		recs := mustRecords(t, s, DefaultDimension)
		if len(recs) != 4 || !recs[0].Hour.Equal(hourOf(old)) || recs[0].Due() != 1 || recs[0].Version != 1 {
			t.Errorf("Records after a late vote = %+v, want the old hour back with 1 due", recs)
		}
	})

	t.Run("LockIsExclusive", func(t *testing.T) {
		ctx, s := t.Context(), openNow(t)
		l1, err := s.Lock(ctx, "reporter", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Lock(ctx, "reporter", time.Minute); !errors.Is(err, metering.ErrLocked) {
			t.Fatalf("second Lock err = %v, want ErrLocked", err)
		}
		other, err := s.Lock(ctx, "other", time.Minute)
		if err != nil {
			t.Fatalf("Lock of another name: %v", err)
		}
		if err := l1.Renew(ctx); err != nil {
			t.Fatalf("Renew: %v", err)
		}
		if err := l1.Release(ctx); err != nil {
			t.Fatalf("Release: %v", err)
		}
		l2, err := s.Lock(ctx, "reporter", time.Minute)
		if err != nil {
			t.Fatalf("Lock after Release: %v", err)
		}
		// The old holder can neither renew nor release the new one's lock.
		if err := l1.Renew(ctx); !errors.Is(err, ErrLockLost) {
			t.Errorf("Renew of a released lock err = %v, want ErrLockLost", err)
		}
		if err := l1.Release(ctx); err != nil {
			t.Errorf("second Release: %v", err)
		}
		if _, err := s.Lock(ctx, "reporter", time.Minute); !errors.Is(err, metering.ErrLocked) {
			t.Errorf("a stale Release freed the new holder's lock: err = %v", err)
		}
		for _, l := range []metering.Lock{l2, other} {
			if err := l.Release(ctx); err != nil {
				t.Error(err)
			}
		}
		if _, err := s.Lock(ctx, "reporter", 0); err == nil {
			t.Error("Lock with ttl 0 succeeded")
		}
	})

	t.Run("LockExpires", func(t *testing.T) {
		ctx, s := t.Context(), open(t, Options{}) // real time: Redis expires keys itself
		const ttl = 50 * time.Millisecond
		l1, err := s.Lock(ctx, "reporter", ttl)
		if err != nil {
			t.Fatal(err)
		}
		if err := l1.Renew(ctx); err != nil {
			t.Fatalf("Renew within ttl: %v", err)
		}
		var l2 metering.Lock
		for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if l2, err = s.Lock(ctx, "reporter", time.Minute); err == nil {
				break
			}
			if !errors.Is(err, metering.ErrLocked) || time.Now().After(deadline) {
				t.Fatalf("lock never expired: %v", err)
			}
		}
		if err := l1.Renew(ctx); !errors.Is(err, ErrLockLost) {
			t.Errorf("Renew of an expired lock err = %v, want ErrLockLost", err)
		}
		if err := l1.Release(ctx); err != nil {
			t.Errorf("Release of an expired lock: %v", err)
		}
		if _, err := s.Lock(ctx, "reporter", time.Minute); !errors.Is(err, metering.ErrLocked) {
			t.Errorf("expired holder's Release freed the new lock: err = %v", err)
		}
		if err := l2.Release(ctx); err != nil {
			t.Error(err)
		}
	})

	t.Run("PingAndClose", func(t *testing.T) {
		ctx, s := t.Context(), openNow(t)
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := s.Ping(ctx); err == nil {
			t.Error("Ping after Close succeeded")
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

func checkOneWinner(t *testing.T, results []error) (winner int) {
	t.Helper()
	winner = -1
	for i, err := range results {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("racers %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, metering.ErrConflict):
			t.Fatalf("racer %d: %v, want ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no racer won")
	}
	return winner
}

func hourOf(t time.Time) time.Time { return metering.HourOf(t) }

func mustVote(t testing.TB, s Store, choice string, at time.Time) map[string]int64 {
	t.Helper()
	counts, err := s.Vote(t.Context(), choice, at)
	if err != nil {
		t.Fatalf("Vote(%q, %v): %v", choice, at, err)
	}
	return counts
}

func mustCounts(t *testing.T, s Store) map[string]int64 {
	t.Helper()
	counts, err := s.Counts(t.Context())
	if err != nil {
		t.Fatalf("Counts: %v", err)
	}
	return counts
}

func mustRecords(t *testing.T, s Store, dim string) []metering.Record {
	t.Helper()
	recs, err := s.Records(t.Context(), dim)
	if err != nil {
		t.Fatalf("Records(%s): %v", dim, err)
	}
	return recs
}

func hoursOf(recs []metering.Record) []time.Time {
	hours := make([]time.Time, len(recs))
	for i, r := range recs {
		hours[i] = r.Hour
	}
	return hours
}

// hoursAndCounts renders records as "2006-01-02T15:counted".
func hoursAndCounts(recs []metering.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = fmt.Sprintf("%s:%v", r.Hour.Format(hourLayout), r.Counted)
	}
	return out
}

// sameRecord compares records field by field, times by instant.
func sameRecord(a, b metering.Record) bool {
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

func sameRecords(a, b []metering.Record) bool { return slices.EqualFunc(a, b, sameRecord) }
