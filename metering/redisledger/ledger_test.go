package redisledger_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/meteringtest"
	"github.com/azure-vote/azure-vote/metering/redisledger"
	"github.com/azure-vote/azure-vote/metering/redisledger/redistest"
)

// base is the hour most tests count in: 2026-11-22T08 UTC.
var base = time.Date(2026, 11, 22, 8, 15, 0, 0, time.UTC)

const dim = "pervote"

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// client is a client of srv that never retries: a retried MULTI/EXEC whose
// answer was lost would count twice.
func client(t testing.TB, srv *redistest.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// countTx counts n at at in a transaction of its own.
func countTx(ctx context.Context, rdb redis.UniversalClient, l *redisledger.Ledger, at time.Time, n float64) error {
	var countErr error
	_, err := rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		countErr = l.Count(pipe, dim, at, n)
		return countErr
	})
	return errors.Join(countErr, err)
}

// countScript counts through CountLua: ARGV[1] is the quantity, the rest
// CountKeys' arguments.
var countScript = redis.NewScript(redisledger.CountLua + `
redisledger_count(1, 2, ARGV[1])
return 1
`)

func countLua(ctx context.Context, rdb redis.UniversalClient, l *redisledger.Ledger, at time.Time, n float64) error {
	keys, args := l.CountKeys(dim, at)
	return countScript.Run(ctx, rdb, keys, append([]any{n}, args...)...).Err()
}

// The kit's conformance suite, usage counted by Count in a transaction, and
// again through the Lua snippet.
func TestLedger(t *testing.T) {
	srv := redistest.Start(t)
	rdb := client(t, srv)
	for name, count := range map[string]func(context.Context, redis.UniversalClient, *redisledger.Ledger, time.Time, float64) error{
		"Count": countTx, "CountLua": countLua,
	} {
		t.Run(name, func(t *testing.T) {
			meteringtest.TestLedger(t, func(t *testing.T, now func() time.Time) meteringtest.Harness {
				// Each test its own keys on the shared server.
				l := redisledger.New(rdb, redisledger.Options{Prefix: "{" + t.Name() + "}:", Now: now})
				return meteringtest.Harness{Ledger: l, Locker: l, Dimension: dim, Count: func(ctx context.Context, at time.Time, n int) error {
					return count(ctx, rdb, l, at, float64(n))
				}}
			})
		})
	}
}

// On a Redis Cluster, with the prefix's hash tag, the ledger passes the
// suite, and Count joins a caller's transaction on the same slot.
func TestLedgerOnCluster(t *testing.T) {
	c := redistest.StartCluster(t)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	meteringtest.TestLedger(t, func(t *testing.T, now func() time.Time) meteringtest.Harness {
		l := redisledger.New(rdb, redisledger.Options{Prefix: "{" + t.Name() + "}:", Now: now})
		return meteringtest.Harness{Ledger: l, Locker: l, Dimension: dim, Count: func(ctx context.Context, at time.Time, n int) error {
			return countTx(ctx, rdb, l, at, float64(n))
		}}
	})
	t.Run("CountBesideOwnCommands", func(t *testing.T) {
		ctx := t.Context()
		l := redisledger.New(rdb, redisledger.Options{Prefix: "{tx}:", Now: fixedClock(base)})
		if _, err := rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.HIncrBy(ctx, "{tx}:orders", "widget", 1)
			return l.Count(pipe, dim, base, 2.5)
		}); err != nil {
			t.Fatal(err)
		}
		keys, args := l.CountKeys(dim, base.Add(time.Hour))
		if err := countScript.Run(ctx, rdb, keys, append([]any{"0.5"}, args...)...).Err(); err != nil {
			t.Fatalf("count through CountLua on a Cluster: %v", err)
		}
		if got := rdb.HGet(ctx, "{tx}:orders", "widget").Val(); got != "1" {
			t.Errorf("the caller's own command: widget = %q, want 1", got)
		}
		if got := countedByHour(t, l); !slices.Equal(got, []string{"2026-11-22T08 2.5", "2026-11-22T09 0.5"}) {
			t.Errorf("usage = %v", got)
		}
	})
	t.Run("CrossSlot", func(t *testing.T) {
		// Without a hash tag the ledger's keys fall in different slots.
		l := redisledger.New(rdb, redisledger.Options{Prefix: "metering:"})
		if err := countLua(t.Context(), rdb, l, base, 1); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
			t.Fatalf("count without a hash tag on a Cluster = %v, want CROSSSLOT", err)
		}
	})
}

// countedByHour renders the records as "hour counted".
func countedByHour(t *testing.T, l *redisledger.Ledger) []string {
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

// Count applies with the caller's own commands, in one MULTI/EXEC.
func TestCountInTransaction(t *testing.T) {
	srv := redistest.Start(t)
	rdb, ctx := client(t, srv), t.Context()
	l := redisledger.New(rdb, redisledger.Options{Prefix: "shop:", Now: fixedClock(base)})
	for range 3 {
		if _, err := rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.HIncrBy(ctx, "shop:orders", "widget", 1)
			return l.Count(pipe, dim, base, 1)
		}); err != nil {
			t.Fatal(err)
		}
	}
	if got := rdb.HGet(ctx, "shop:orders", "widget").Val(); got != "3" {
		t.Errorf("orders = %q, want 3", got)
	}
	// Integral totals read back as plain integers, as they always have.
	if got := rdb.Get(ctx, "shop:usage:pervote:2026-11-22T08").Val(); got != "3" {
		t.Errorf("usage counter = %q, want 3", got)
	}
	if got := countedByHour(t, l); !slices.Equal(got, []string{"2026-11-22T08 3"}) {
		t.Errorf("usage = %v", got)
	}
	// MULTI, the commands, EXEC: one round trip each time.
	if n := commandCalls(t, rdb, "exec"); n != 3 {
		t.Errorf("%d EXECs, want 3", n)
	}
}

// A transaction that does not apply counts nothing: neither a WATCH that
// aborts it, nor a command Redis refuses while queueing (EXECABORT), nor the
// caller giving up before sending it.
func TestCountAbortedTransactionCountsNothing(t *testing.T) {
	srv := redistest.Start(t)
	rdb, ctx := client(t, srv), t.Context()
	l := redisledger.New(rdb, redisledger.Options{Prefix: "shop:", Now: fixedClock(base)})
	rdb.Set(ctx, "shop:stock", 5, 0)

	// WATCH: the stock changes between the read and EXEC.
	err := rdb.Watch(ctx, func(tx *redis.Tx) error {
		stock, err := tx.Get(ctx, "shop:stock").Int()
		if err != nil {
			return err
		}
		srv.Client().Decr(ctx, "shop:stock") // another buyer, on another connection
		_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.Set(ctx, "shop:stock", stock-1, 0)
			return l.Count(pipe, dim, base, 1)
		})
		return err
	}, "shop:stock")
	if !errors.Is(err, redis.TxFailedErr) {
		t.Fatalf("transaction after the watched key changed: err = %v, want TxFailedErr", err)
	}

	// EXECABORT: a command with the wrong number of arguments.
	_, err = rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		if err := l.Count(pipe, dim, base, 1); err != nil {
			return err
		}
		pipe.Do(ctx, "set", "shop:stock")
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "EXECABORT") {
		t.Fatalf("transaction with a refused command: err = %v, want EXECABORT", err)
	}

	// The caller's own step fails before anything is sent.
	refused := errors.New("out of stock")
	_, err = rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		if err := l.Count(pipe, dim, base, 1); err != nil {
			return err
		}
		return refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("err = %v, want the caller's", err)
	}

	wantKeys(t, rdb, "shop:stock")
	if got := rdb.Get(ctx, "shop:stock").Val(); got != "4" {
		t.Errorf("stock = %q, want 4 (only the other buyer's change)", got)
	}
}

// Fractional quantities add up; integral totals stay integers; counters
// written as integers by earlier versions read and grow alike.
func TestCountFractions(t *testing.T) {
	srv := redistest.Start(t)
	rdb, ctx := client(t, srv), t.Context()
	l := redisledger.New(rdb, redisledger.Options{Prefix: "m:", Now: fixedClock(base)})
	key := "m:usage:pervote:2026-11-22T08"
	for _, q := range []float64{0.1, 0.2} {
		if err := countTx(ctx, rdb, l, base, q); err != nil {
			t.Fatal(err)
		}
	}
	if got := rdb.Get(ctx, key).Val(); got != "0.3" {
		t.Errorf("0.1 + 0.2 stored as %q, want 0.3", got)
	}
	if err := countLua(ctx, rdb, l, base, 0.7); err != nil {
		t.Fatal(err)
	}
	if got := rdb.Get(ctx, key).Val(); got != "1" {
		t.Errorf("0.3 + 0.7 stored as %q, want 1", got)
	}

	// An hour counted by an earlier version: INCRBY's plain integer.
	old := base.Add(-time.Hour)
	rdb.Set(ctx, "m:usage:pervote:2026-11-22T07", "41", 0)
	rdb.ZAdd(ctx, "m:usage-hours:pervote", redis.Z{Score: float64(metering.HourOf(old).Unix()), Member: "2026-11-22T07"})
	if got := countedByHour(t, l); !slices.Equal(got, []string{"2026-11-22T07 41", "2026-11-22T08 1"}) {
		t.Fatalf("usage = %v", got)
	}
	if err := countTx(ctx, rdb, l, old, 1); err != nil {
		t.Fatal(err)
	}
	if err := countTx(ctx, rdb, l, old, 0.25); err != nil {
		t.Fatal(err)
	}
	if got := rdb.Get(ctx, "m:usage:pervote:2026-11-22T07").Val(); got != "42.25" {
		t.Errorf("41 + 1 + 0.25 stored as %q", got)
	}
	if got := countedByHour(t, l); !slices.Equal(got, []string{"2026-11-22T07 42.25", "2026-11-22T08 1"}) {
		t.Errorf("usage = %v", got)
	}
}

// Count refuses what would corrupt a counter, queueing nothing; zero counts
// nothing.
func TestCountRefusesBadInput(t *testing.T) {
	srv := redistest.Start(t)
	rdb, ctx := client(t, srv), t.Context()
	l := redisledger.New(rdb, redisledger.Options{})
	pipe := rdb.TxPipeline()
	for _, c := range []struct {
		dim string
		at  time.Time
		q   float64
	}{
		{dim, base, -1}, {dim, base, math.NaN()}, {dim, base, math.Inf(1)}, {dim, base, math.Inf(-1)},
		{"", base, 1}, {dim, time.Time{}, 1},
	} {
		if err := l.Count(pipe, c.dim, c.at, c.q); err == nil {
			t.Errorf("Count(%q, %v, %v) succeeded", c.dim, c.at, c.q)
		}
	}
	if err := l.Count(pipe, dim, base, 0); err != nil {
		t.Errorf("Count of zero: %v", err)
	}
	if n := pipe.Len(); n != 0 {
		t.Errorf("%d commands queued, want none", n)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("Exec of nothing: %v", err)
	}
	wantKeys(t, rdb)
}

// The script API counts in several hours of one script, beside the
// script's own writes, with every key declared.
func TestCountLuaInOwnScript(t *testing.T) {
	srv := redistest.Start(t)
	rdb, ctx := client(t, srv), t.Context()
	l := redisledger.New(rdb, redisledger.Options{Prefix: "{app}:", Now: fixedClock(base)})
	// KEYS: 1 the app's hash, then each hour's CountKeys; ARGV: 1 the
	// widths of CountKeys' lists, then each hour's arguments and quantity.
	script := redis.NewScript(redisledger.CountLua + `
local nk, na = tonumber(ARGV[1]), tonumber(ARGV[2])
local hours = (#KEYS - 1) / nk
for h = 0, hours - 1 do
  local a = 3 + h * (na + 1)
  redisledger_count(2 + h * nk, a, ARGV[a + na])
  redis.call('HINCRBY', KEYS[1], 'events', 1)
end
return hours
`)
	keys, args := []string{"{app}:events"}, []any{0, 0}
	for i, q := range []string{"2", "0.5"} {
		k, a := l.CountKeys(dim, base.Add(time.Duration(i)*time.Hour))
		keys, args = append(keys, k...), append(append(args, a...), q)
		args[0], args[1] = len(k), len(a)
	}
	if n, err := script.Run(ctx, rdb, keys, args...).Int(); err != nil || n != 2 {
		t.Fatalf("script = %v, %v", n, err)
	}
	wantKeys(t, rdb, "{app}:events", "{app}:usage:pervote:2026-11-22T08", "{app}:usage:pervote:2026-11-22T09", "{app}:usage-hours:pervote")
	if got := rdb.HGet(ctx, "{app}:events", "events").Val(); got != "2" {
		t.Errorf("the script's own write: events = %q, want 2", got)
	}
	if got := countedByHour(t, l); !slices.Equal(got, []string{"2026-11-22T08 2", "2026-11-22T09 0.5"}) {
		t.Errorf("usage = %v", got)
	}
}

// TestDataContract reads, with a plain client, the keys and fields the
// package documentation describes.
func TestDataContract(t *testing.T) {
	srv := redistest.Start(t)
	raw, ctx := client(t, srv), t.Context()
	l := redisledger.New(raw, redisledger.Options{Prefix: "azure-vote:", Now: fixedClock(base)})
	for _, at := range []time.Time{base, base, base, base.Add(2 * time.Hour)} {
		if err := countTx(ctx, raw, l, at, 1); err != nil {
			t.Fatal(err)
		}
	}
	wantKeys(t, raw, "azure-vote:usage:pervote:2026-11-22T08", "azure-vote:usage:pervote:2026-11-22T10", "azure-vote:usage-hours:pervote")
	if got := raw.Get(ctx, "azure-vote:usage:pervote:2026-11-22T08").Val(); got != "3" {
		t.Errorf("usage of 08 = %q, want 3", got)
	}
	hours := raw.ZRangeWithScores(ctx, "azure-vote:usage-hours:pervote", 0, -1).Val()
	wantHours := []redis.Z{
		{Member: "2026-11-22T08", Score: float64(metering.HourOf(base).Unix())},
		{Member: "2026-11-22T10", Score: float64(metering.HourOf(base).Add(2 * time.Hour).Unix())},
	}
	if !slices.Equal(hours, wantHours) {
		t.Errorf("usage-hours = %v, want %v", hours, wantHours)
	}

	recs, err := l.Records(ctx, dim)
	if err != nil {
		t.Fatal(err)
	}
	rec := recs[0]
	rec.State = metering.StateExpired
	rec.Sent, rec.Reported, rec.CarriedOut = 3, 1, 2
	rec.UsageEventID = "evt-1"
	rec.MessageTime = time.Date(2026, 11, 22, 9, 0, 1, 123456700, time.UTC)
	rec.Attempts = 1
	rec.CorrelationID = "corr-1"
	rec.CarriedTo = metering.HourOf(base).Add(2 * time.Hour)
	rec.UpdatedAt = time.Date(2026, 11, 22, 9, 5, 0, 0, time.UTC)
	if _, err := l.Carry(ctx, rec, rec.CarriedTo, 2); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"state": "expired", "sent": "3", "reported": "1", "carried_out": "2",
		"usage_event_id": "evt-1", "message_time": "2026-11-22T09:00:01.1234567Z",
		"attempts": "1", "last_error": "", "correlation_id": "corr-1",
		"carried_to": "2026-11-22T10:00:00Z", "updated_at": "2026-11-22T09:05:00Z",
		"maybe_billed": "", "bad_answers": "0", "unresolved": "", "resolution": "",
		"resolved_by": "", "resolved_at": "", "version": "1",
	}
	if got := raw.HGetAll(ctx, "azure-vote:ledger:pervote:2026-11-22T08").Val(); !maps.Equal(got, want) {
		t.Errorf("ledger of 08 =\n%v\nwant\n%v", got, want)
	}
	want = map[string]string{"carried_in": "2", "carried_from": "2026-11-22T08:00:00Z"}
	if got := raw.HGetAll(ctx, "azure-vote:ledger:pervote:2026-11-22T10").Val(); !maps.Equal(got, want) {
		t.Errorf("ledger of 10 = %v, want %v", got, want)
	}

	lk, err := l.Lock(ctx, "reporter", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if tok := raw.Get(ctx, "azure-vote:lock:reporter").Val(); len(tok) < 16 {
		t.Errorf("lock token = %q, want a random token", tok)
	}
	if ttl := raw.PTTL(ctx, "azure-vote:lock:reporter").Val(); ttl <= 29*time.Second || ttl > 30*time.Second {
		t.Errorf("lock PTTL = %v, want about 30s", ttl)
	}
	if err := lk.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if n := raw.Exists(ctx, "azure-vote:lock:reporter").Val(); n != 0 {
		t.Error("Release left the lock key")
	}
}

func TestDefaultPrefix(t *testing.T) {
	srv := redistest.Start(t)
	rdb := client(t, srv)
	l := redisledger.New(rdb, redisledger.Options{})
	if err := countTx(t.Context(), rdb, l, base, 1); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, rdb, redisledger.DefaultPrefix+"usage:pervote:2026-11-22T08", redisledger.DefaultPrefix+"usage-hours:pervote")
}

// Records forgets hours settled, balanced and older than two days, and
// History still shows them; usage counted late brings such an hour back.
// Leaving the index loses no data: the hour's keys stay.
func TestForgetsOldSettledHours(t *testing.T) {
	srv := redistest.Start(t)
	rdb, ctx := client(t, srv), t.Context()
	now := base
	l := redisledger.New(rdb, redisledger.Options{Prefix: "m:", Now: fixedClock(now)})
	settle := func(at time.Time, n float64, st metering.State, reported float64) {
		t.Helper()
		if err := countTx(ctx, rdb, l, at, n); err != nil {
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
	if got := rdb.ZRange(ctx, "m:usage-hours:pervote", 0, -1).Val(); len(got) != 3 || slices.Contains(got, "2026-11-19T08") {
		t.Errorf("index = %v, want the forgotten hour gone", got)
	}
	if n := rdb.Exists(ctx, "m:usage:pervote:2026-11-19T08", "m:ledger:pervote:2026-11-19T08").Val(); n != 2 {
		t.Errorf("%d of the forgotten hour's 2 keys left, want both", n)
	}
	hist, err := l.History(ctx, dim, now.Add(-7*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 4 || hist[0].Counted != 2 || hist[0].State != metering.StateAccepted {
		t.Fatalf("History = %+v, want the forgotten hour first", hist)
	}
	// Usage arriving late brings the hour back: it is due again.
	if err := countLua(ctx, rdb, l, old, 1); err != nil {
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
	srv := redistest.Start(t)
	ctx := t.Context()
	l := redisledger.New(client(t, srv), redisledger.Options{})
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
	if err := l1.Renew(ctx); !errors.Is(err, redisledger.ErrLockLost) {
		t.Errorf("Renew of a released lock err = %v, want ErrLockLost", err)
	}
}

// wantKeys checks the complete set of keys on the server.
func wantKeys(t *testing.T, raw *redis.Client, want ...string) {
	t.Helper()
	got := raw.Keys(t.Context(), "*").Val()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("keys =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// commandCalls reads how often Redis ran a command, from INFO commandstats.
func commandCalls(t testing.TB, raw *redis.Client, cmd string) int {
	t.Helper()
	info := raw.Info(t.Context(), "commandstats").Val()
	_, rest, ok := strings.Cut(info, "cmdstat_"+cmd+":calls=")
	if !ok {
		return 0
	}
	var n int
	if _, err := fmt.Sscanf(rest, "%d", &n); err != nil {
		t.Fatal(err)
	}
	return n
}
