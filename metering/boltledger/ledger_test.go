package boltledger_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/boltledger"
	"github.com/azure-vote/azure-vote/metering/meteringtest"
)

// base is the hour most tests count in: 2026-11-22T08 UTC.
var base = time.Date(2026, 11, 22, 8, 15, 0, 0, time.UTC)

const dim = "pervote"

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func openDB(t *testing.T) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "ledger.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func newLedger(t *testing.T, db *bolt.DB, now func() time.Time) *boltledger.Ledger {
	t.Helper()
	l, err := boltledger.New(db, boltledger.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func count(db *bolt.DB, l *boltledger.Ledger, at time.Time, q float64) error {
	return db.Update(func(tx *bolt.Tx) error { return l.Count(tx, dim, at, q) })
}

// The kit's conformance suite, usage counted by Count in an Update.
func TestLedger(t *testing.T) {
	meteringtest.TestLedger(t, func(t *testing.T, now func() time.Time) meteringtest.Harness {
		db := openDB(t)
		l := newLedger(t, db, now)
		return meteringtest.Harness{Ledger: l, Locker: l, Dimension: dim, Count: func(_ context.Context, at time.Time, n int) error {
			return count(db, l, at, float64(n))
		}}
	})
}

// countedByHour renders the records as "hour counted".
func countedByHour(t *testing.T, l *boltledger.Ledger) []string {
	t.Helper()
	recs, err := l.Records(t.Context(), dim)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, fmt.Sprintf("%s %v", r.Hour.Format("2006-01-02T15"), r.Counted))
	}
	return out
}

// raw reads bucket parent/child's key, as an operator's tool would.
func raw(t *testing.T, db *bolt.DB, parent, child, key string) string {
	t.Helper()
	var v string
	if err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(parent))
		if b != nil && child != "" {
			b = b.Bucket([]byte(child))
		}
		if b != nil {
			v = string(b.Get([]byte(key)))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// Count commits with the caller's own writes, or not at all when the
// caller's function fails.
func TestCountInUpdate(t *testing.T) {
	db := openDB(t)
	l := newLedger(t, db, fixedClock(base))
	order := func(fail error) error {
		return db.Update(func(tx *bolt.Tx) error {
			orders, err := tx.CreateBucketIfNotExists([]byte("orders"))
			if err != nil {
				return err
			}
			if err := orders.Put([]byte(fmt.Sprint("order-", orders.Stats().KeyN)), []byte("widget")); err != nil {
				return err
			}
			if err := l.Count(tx, dim, base, 1); err != nil {
				return err
			}
			return fail
		})
	}
	for range 2 {
		if err := order(nil); err != nil {
			t.Fatal(err)
		}
	}
	refused := errors.New("out of stock")
	if err := order(refused); !errors.Is(err, refused) {
		t.Fatalf("err = %v, want the caller's", err)
	}
	if got := raw(t, db, "usage", dim, "2026-11-22T08"); got != "2" {
		t.Errorf("usage counter = %q, want 2: the failed Update must count nothing", got)
	}
	if got := raw(t, db, "orders", "", "order-2"); got != "" {
		t.Errorf("the failed Update's own write was kept: %q", got)
	}
	if got := countedByHour(t, l); !slices.Equal(got, []string{"2026-11-22T08 2"}) {
		t.Errorf("usage = %v", got)
	}
}

// Quantities add up in exact decimal; integral totals stay integers;
// counters written as integers by earlier versions read and grow alike.
func TestCountFractions(t *testing.T) {
	db := openDB(t)
	l := newLedger(t, db, fixedClock(base))
	for _, q := range []float64{0.1, 0.2} {
		if err := count(db, l, base, q); err != nil {
			t.Fatal(err)
		}
	}
	if got := raw(t, db, "usage", dim, "2026-11-22T08"); got != "0.3" {
		t.Errorf("0.1 + 0.2 stored as %q, want 0.3", got)
	}
	for range 7 {
		if err := count(db, l, base, 0.1); err != nil {
			t.Fatal(err)
		}
	}
	if got := raw(t, db, "usage", dim, "2026-11-22T08"); got != "1" {
		t.Errorf("0.3 + 7 × 0.1 stored as %q, want 1", got)
	}

	// An hour counted by an earlier version: a decimal integer.
	old := base.Add(-time.Hour)
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("usage")).Bucket([]byte(dim)).Put([]byte("2026-11-22T07"), []byte("41"))
	}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []float64{1, 0.25, 1e-7} {
		if err := count(db, l, old, q); err != nil {
			t.Fatal(err)
		}
	}
	if got := raw(t, db, "usage", dim, "2026-11-22T07"); got != "42.2500001" {
		t.Errorf("41 + 1 + 0.25 + 1e-7 stored as %q", got)
	}
	if got := countedByHour(t, l); !slices.Equal(got, []string{"2026-11-22T07 42.2500001", "2026-11-22T08 1"}) {
		t.Errorf("usage = %v", got)
	}
}

// Count refuses what would corrupt a counter, writing nothing; zero counts
// nothing; a read-only transaction is refused.
func TestCountRefusesBadInput(t *testing.T) {
	db := openDB(t)
	l := newLedger(t, db, fixedClock(base))
	for _, c := range []struct {
		dim string
		at  time.Time
		q   float64
	}{
		{dim, base, -1}, {dim, base, math.NaN()}, {dim, base, math.Inf(1)}, {"", base, 1}, {dim, time.Time{}, 1},
	} {
		if err := countIn(db, l, c.dim, c.at, c.q); err == nil {
			t.Errorf("Count(%q, %v, %v) succeeded", c.dim, c.at, c.q)
		}
	}
	if err := count(db, l, base, 0); err != nil {
		t.Errorf("Count of zero: %v", err)
	}
	if err := db.View(func(tx *bolt.Tx) error { return l.Count(tx, dim, base, 1) }); err == nil {
		t.Error("Count in a read-only transaction succeeded")
	}
	if recs, err := l.History(t.Context(), dim, base.Add(-time.Hour)); err != nil || len(recs) != 0 {
		t.Errorf("History = %+v, %v; want nothing counted", recs, err)
	}
}

func countIn(db *bolt.DB, l *boltledger.Ledger, dimension string, at time.Time, q float64) error {
	return db.Update(func(tx *bolt.Tx) error { return l.Count(tx, dimension, at, q) })
}

// A file written by earlier versions (integer counts, JSON records) reads
// the same, and the ledger writes the layout the package documents.
func TestLayout(t *testing.T) {
	db := openDB(t)
	if err := db.Update(func(tx *bolt.Tx) error {
		u, err := tx.CreateBucketIfNotExists([]byte("usage"))
		if err != nil {
			return err
		}
		ub, err := u.CreateBucket([]byte(dim))
		if err != nil {
			return err
		}
		lg, err := tx.CreateBucketIfNotExists([]byte("ledger"))
		if err != nil {
			return err
		}
		lb, err := lg.CreateBucket([]byte(dim))
		if err != nil {
			return err
		}
		if err := ub.Put([]byte("2026-11-22T08"), []byte("3")); err != nil {
			return err
		}
		return lb.Put([]byte("2026-11-22T08"), []byte(`{"hour":"2026-11-22T08:00:00Z","dimension":"pervote","state":"inflight","counted":0,"carriedIn":0,"carriedOut":0,"sent":3,"reported":0,"usageEventId":"evt-1","attempts":1,"version":1}`))
	}); err != nil {
		t.Fatal(err)
	}
	l := newLedger(t, db, fixedClock(base))
	recs, err := l.Records(t.Context(), dim)
	if err != nil {
		t.Fatal(err)
	}
	want := metering.Record{Hour: metering.HourOf(base), Dimension: dim, State: metering.StateInflight, Counted: 3, Sent: 3, UsageEventID: "evt-1", Attempts: 1, Version: 1}
	if len(recs) != 1 || !meteringtest.SameRecord(recs[0], want) {
		t.Fatalf("Records of an existing file = %+v, want [%+v]", recs, want)
	}
	rec := recs[0]
	rec.State = metering.StateAccepted
	rec.Reported = 3
	if _, err := l.Update(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	if err := count(db, l, base, 1); err != nil {
		t.Fatal(err)
	}
	if got := raw(t, db, "usage", dim, "2026-11-22T08"); got != "4" {
		t.Errorf("usage/pervote/2026-11-22T08 = %q, want 4", got)
	}
	got := raw(t, db, "ledger", dim, "2026-11-22T08")
	want2 := `{"hour":"2026-11-22T08:00:00Z","dimension":"pervote","state":"accepted","counted":0,"carriedIn":0,"carriedOut":0,"sent":3,"reported":3,"usageEventId":"evt-1","attempts":1,"version":2}`
	if got != want2 {
		t.Errorf("ledger/pervote/2026-11-22T08 =\n%s\nwant\n%s", got, want2)
	}
}

// Records forgets hours settled, balanced and older than two days, and
// History still shows them; usage counted late brings such an hour back.
func TestForgetsOldSettledHours(t *testing.T) {
	db := openDB(t)
	ctx, now := t.Context(), base
	l := newLedger(t, db, fixedClock(now))
	settle := func(at time.Time, n float64, st metering.State, reported float64) {
		t.Helper()
		if err := count(db, l, at, n); err != nil {
			t.Fatal(err)
		}
		recs, err := l.Records(ctx, dim)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Hour.Equal(metering.HourOf(at)) {
				r.State, r.Reported = st, reported
				if _, err := l.Update(ctx, r); err != nil {
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
	want := []string{"2026-11-19T09 3", "2026-11-19T10 1", "2026-11-22T06 1"}
	for range 2 {
		if got := countedByHour(t, l); !slices.Equal(got, want) {
			t.Fatalf("hours = %v, want %v", got, want)
		}
	}
	hist, err := l.History(ctx, dim, now.Add(-7*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 4 || hist[0].Counted != 2 || hist[0].State != metering.StateAccepted {
		t.Fatalf("History = %+v, want the forgotten hour first", hist)
	}
	if err := count(db, l, old, 1); err != nil {
		t.Fatal(err)
	}
	recs, err := l.Records(ctx, dim)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 || !recs[0].Hour.Equal(metering.HourOf(old)) || recs[0].Due() != 1 || recs[0].Version != 1 {
		t.Errorf("Records after late usage = %+v, want the old hour back with 1 due", recs)
	}
}

func TestRenewOfALostLockIsErrLockLost(t *testing.T) {
	ctx := t.Context()
	l := newLedger(t, openDB(t), nil)
	l1, err := l.Lock(ctx, "reporter", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := l1.Release(ctx); err != nil {
		t.Fatal(err)
	}
	l2, err := l.Lock(ctx, "reporter", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Release(ctx)
	if err := l1.Renew(ctx); !errors.Is(err, boltledger.ErrLockLost) {
		t.Errorf("Renew of a released lock err = %v, want ErrLockLost", err)
	}
}

func TestNewOnAReadOnlyFileFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := boltledger.New(ro, boltledger.Options{}); err == nil {
		t.Error("New on a read-only file succeeded")
	}
}
