package store

import (
	"context"
	"maps"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/azure-vote/azure-vote/metering"
)

func TestBoltContract(t *testing.T) {
	runContract(t, func(t *testing.T, o Options) Store { return openBolt(t, t.TempDir(), o) })
}

func openBolt(t testing.TB, dir string, o Options) *Bolt {
	t.Helper()
	s, err := OpenBolt(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestBoltSurvivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested") // created by OpenBolt
	o := Options{Now: fixedClock(base)}
	s := openBolt(t, dir, o)
	ctx := t.Context()
	for _, c := range []string{"Cats", "Dogs", "Cats"} {
		mustVote(t, s, c, base.Add(-3*time.Hour))
	}
	rec := mustRecords(t, s, DefaultDimension)[0]
	rec.State, rec.CarriedOut, rec.UsageEventID = metering.StateExpired, 3, "evt-1"
	if _, err := s.Carry(ctx, rec, base, 3); err != nil {
		t.Fatal(err)
	}
	l, err := s.Lock(ctx, "reporter", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_ = l // a process's lock dies with it
	counts, recs := mustCounts(t, s), mustRecords(t, s, DefaultDimension)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openBolt(t, dir, o)
	if got := mustCounts(t, s); !maps.Equal(got, counts) {
		t.Errorf("counts after reopen = %v, want %v", got, counts)
	}
	if got := mustRecords(t, s, DefaultDimension); !sameRecords(got, recs) {
		t.Errorf("records after reopen =\n%+v\nwant\n%+v", got, recs)
	}
	if _, err := s.Lock(ctx, "reporter", time.Minute); err != nil {
		t.Errorf("Lock after reopen: %v", err)
	}
}

func TestBoltSecondProcessGetsClearError(t *testing.T) {
	dir := t.TempDir()
	s := openBolt(t, dir, Options{})
	_, err := OpenBolt(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "data directory "+dir+" is in use by another azure-vote process") {
		t.Fatalf("second OpenBolt err = %v, want the directory named as in use", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	openBolt(t, dir, Options{}) // free again
}

// TestBoltLayout reads the file with bbolt alone, as an operator's tool would.
func TestBoltLayout(t *testing.T) {
	dir := t.TempDir()
	s := openBolt(t, dir, Options{Now: fixedClock(base)})
	mustVote(t, s, "Cats", base)
	if _, err := s.Update(t.Context(), metering.Record{Hour: base, Dimension: DefaultDimension, State: metering.StateInflight}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(dir, BoltFile), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		if got := string(tx.Bucket([]byte("votes")).Get([]byte("Cats"))); got != "1" {
			t.Errorf("votes/Cats = %q, want 1", got)
		}
		if got := string(tx.Bucket([]byte("usage")).Bucket([]byte("pervote")).Get([]byte("2026-11-22T08"))); got != "1" {
			t.Errorf("usage/pervote/2026-11-22T08 = %q, want 1", got)
		}
		got := string(tx.Bucket([]byte("ledger")).Bucket([]byte("pervote")).Get([]byte("2026-11-22T08")))
		if !strings.Contains(got, `"state":"inflight"`) || !strings.Contains(got, `"version":1`) {
			t.Errorf("ledger/pervote/2026-11-22T08 = %s, want the JSON record", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Votes that arrive while others commit share the next commit; after Close
// none is taken, and Close waits for the commit under way.
func TestBoltGroupCommit(t *testing.T) {
	dir := t.TempDir()
	b, err := OpenBolt(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	var acked atomic.Int64
	for range 64 {
		wg.Go(func() {
			for range 25 {
				if _, err := b.Vote(context.Background(), "Cats", at); err == nil {
					acked.Add(1)
				}
			}
		})
	}
	time.Sleep(5 * time.Millisecond)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if _, err := b.Vote(context.Background(), "Cats", at); err == nil {
		t.Fatal("a vote after Close was acknowledged")
	}
	b2, err := OpenBolt(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	counts, err := b2.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	recs, err := b2.Records(context.Background(), DefaultDimension)
	if err != nil {
		t.Fatal(err)
	}
	if counts["Cats"] != acked.Load() || len(recs) != 1 || recs[0].Counted != float64(acked.Load()) {
		t.Fatalf("acknowledged %d votes, stored %d, usage %+v", acked.Load(), counts["Cats"], recs)
	}
}

// Expired vote tokens are forgotten as votes go on, so the token buckets
// hold about one lifetime of tokens, never the whole history.
func TestBoltForgetsExpiredTokens(t *testing.T) {
	var now atomic.Int64
	now.Store(base.UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()).UTC() }
	s := openBolt(t, t.TempDir(), Options{Now: clock, TokenTTL: time.Hour})
	for i := range 10 {
		if _, counted, err := s.VoteOnce(t.Context(), "Cats", "old-token-"+strconv.Itoa(i), base); err != nil || !counted {
			t.Fatalf("vote %d: %v, %v", i, counted, err)
		}
	}
	if n := tokenEntries(t, s); n != 20 {
		t.Fatalf("%d token entries after 10 tokened votes, want 20 (token and expiry index)", n)
	}
	now.Add(int64(time.Hour + time.Second))
	// Each commit forgets more expired tokens than it can add.
	for range 10 {
		mustVote(t, s, "Dogs", base)
	}
	if n := tokenEntries(t, s); n != 0 {
		t.Errorf("%d token entries left after every token expired", n)
	}
	// An expired token counts again, and is remembered again.
	if _, counted, err := s.VoteOnce(t.Context(), "Cats", "old-token-0", base); err != nil || !counted {
		t.Fatalf("expired token: %v, %v; want counted", counted, err)
	}
	if _, counted, err := s.VoteOnce(t.Context(), "Cats", "old-token-0", base); err != nil || counted {
		t.Fatalf("token marked again: %v, %v; want not counted", counted, err)
	}
	if n := tokenEntries(t, s); n != 2 {
		t.Errorf("%d token entries, want 2", n)
	}
}

func tokenEntries(t *testing.T, s *Bolt) int {
	t.Helper()
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketTokens).Stats().KeyN + tx.Bucket(bucketTokenExpiry).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
