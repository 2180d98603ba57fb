package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/meteringtest"
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
	metering.Locker
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
		if len(recs) != 1 || !meteringtest.SameRecord(recs[0], want) {
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

	// The ledger's own behaviour (forgetting settled hours, the lock) is
	// tested with the kit's ledgers, metering/redisledger and
	// metering/boltledger, whose conformance suite this store's ledger is.
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

// hoursAndCounts renders records as "2006-01-02T15:counted".
func hoursAndCounts(recs []metering.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = fmt.Sprintf("%s:%v", r.Hour.Format("2006-01-02T15"), r.Counted)
	}
	return out
}

func sameRecords(a, b []metering.Record) bool { return slices.EqualFunc(a, b, meteringtest.SameRecord) }
