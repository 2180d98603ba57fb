package store

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/redisledger/redistest"
)

func TestRedisContract(t *testing.T) {
	srv := redistest.Start(t)
	runContract(t, func(t *testing.T, o Options) Store {
		// Each test gets its own keys on the shared server; the hash tag is
		// what a Cluster install would use.
		o.Prefix = "{" + t.Name() + "}:"
		return openRedis(t, srv, o)
	})
}

func openRedis(t testing.TB, srv *redistest.Server, o Options) *Redis {
	t.Helper()
	opts, err := ParseRedisAddr(srv.Addr(), "")
	if err != nil {
		t.Fatal(err)
	}
	s := NewRedis(opts, o)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestRedisDataContract reads, with a plain client, the keys votes write
// that operators and other tools rely on.
func TestRedisDataContract(t *testing.T) {
	srv := redistest.Start(t)
	s := openRedis(t, srv, Options{Now: fixedClock(base)})
	raw := srv.Client()
	ctx := t.Context()

	for _, c := range []string{"Cats", "Cats", "Dogs"} {
		mustVote(t, s, c, base)
	}
	mustVote(t, s, "Cats", base.Add(2*time.Hour))
	wantKeys(t, raw,
		"azure-vote:votes",
		"azure-vote:usage:pervote:2026-11-22T08",
		"azure-vote:usage:pervote:2026-11-22T10",
		"azure-vote:usage-hours:pervote",
	)
	if got := raw.HGetAll(ctx, "azure-vote:votes").Val(); !maps.Equal(got, map[string]string{"Cats": "3", "Dogs": "1"}) {
		t.Errorf("votes hash = %v", got)
	}
	if got := raw.Get(ctx, "azure-vote:usage:pervote:2026-11-22T08").Val(); got != "3" {
		t.Errorf("usage of 08 = %q, want 3", got)
	}
	hours := raw.ZRangeWithScores(ctx, "azure-vote:usage-hours:pervote", 0, -1).Val()
	wantHours := []redis.Z{
		{Member: "2026-11-22T08", Score: float64(hourOf(base).Unix())},
		{Member: "2026-11-22T10", Score: float64(hourOf(base).Add(2 * time.Hour).Unix())},
	}
	if !slices.Equal(hours, wantHours) {
		t.Errorf("usage-hours = %v, want %v", hours, wantHours)
	}

	// The ledger's hashes and the lock are metering/redisledger's layout,
	// tested there; the store only hands it its prefix.
}

func TestRedisChoiceNeverNamesAKey(t *testing.T) {
	srv := redistest.Start(t)
	s := openRedis(t, srv, Options{})
	for _, c := range []string{"VOTES", "usage:pervote:x", "../x", "azure-vote:votes", "azure-vote:lock:reporter", "*", "{x}", "\x00"} {
		mustVote(t, s, c, base)
	}
	wantKeys(t, srv.Client(),
		"azure-vote:votes",
		"azure-vote:usage:pervote:2026-11-22T08",
		"azure-vote:usage-hours:pervote",
	)
}

func TestRedisPrefixAndDimension(t *testing.T) {
	srv := redistest.Start(t)
	s := openRedis(t, srv, Options{Prefix: "{azure-vote}:", Dimension: "votes1000"})
	mustVote(t, s, "Cats", base)
	wantKeys(t, srv.Client(),
		"{azure-vote}:votes",
		"{azure-vote}:usage:votes1000:2026-11-22T08",
		"{azure-vote}:usage-hours:votes1000",
	)
	if recs := mustRecords(t, s, "votes1000"); len(recs) != 1 || recs[0].Counted != 1 {
		t.Errorf("Records(votes1000) = %+v", recs)
	}
}

// TestRedisForgottenHoursKeepTheirKeys: leaving the index loses no data, and
// a late vote's ZADD puts the hour back.
func TestRedisForgottenHoursKeepTheirKeys(t *testing.T) {
	srv := redistest.Start(t)
	s := openRedis(t, srv, Options{Now: fixedClock(base)})
	raw, ctx := srv.Client(), t.Context()
	old := base.Add(-72 * time.Hour)
	mustVote(t, s, "Cats", old)
	rec := mustRecords(t, s, DefaultDimension)[0]
	rec.State, rec.Reported = metering.StateAccepted, 1
	if _, err := s.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if recs := mustRecords(t, s, DefaultDimension); len(recs) != 0 {
		t.Fatalf("Records = %+v, want the old settled hour left out", recs)
	}
	if n := raw.ZCard(ctx, "azure-vote:usage-hours:pervote").Val(); n != 0 {
		t.Errorf("index holds %d hours, want 0", n)
	}
	if n := raw.Exists(ctx, "azure-vote:usage:pervote:2026-11-19T08", "azure-vote:ledger:pervote:2026-11-19T08").Val(); n != 2 {
		t.Errorf("%d of the forgotten hour's 2 keys left, want both", n)
	}
	mustVote(t, s, "Cats", old)
	if got := raw.ZRange(ctx, "azure-vote:usage-hours:pervote", 0, -1).Val(); !slices.Equal(got, []string{"2026-11-19T08"}) {
		t.Errorf("index after a late vote = %v", got)
	}
}

// TestRedisOutage: with Redis gone calls fail fast, and the same store works
// again once Redis is back.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	s := openRedis(t, srv, Options{})
	ctx := t.Context()
	mustVote(t, s, "Cats", base)

	srv.Stop()
	for name, call := range map[string]func() error{
		"Vote":    func() error { _, err := s.Vote(ctx, "Cats", base); return err },
		"Counts":  func() error { _, err := s.Counts(ctx); return err },
		"Ping":    func() error { return s.Ping(ctx) },
		"Records": func() error { _, err := s.Records(ctx, DefaultDimension); return err },
	} {
		if err := call(); err == nil {
			t.Errorf("%s with Redis down succeeded", name)
		}
	}

	srv.Restart() // saves nothing: the new server starts empty
	deadline := time.Now().Add(5 * time.Second)
	for {
		counts, err := s.Vote(ctx, "Cats", base)
		if err == nil {
			if want := map[string]int64{"Cats": 1}; !maps.Equal(counts, want) {
				t.Errorf("Vote after restart = %v, want %v", counts, want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover after Redis came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping after recovery: %v", err)
	}
}

// TestNewRedisNeverRetries: a retried MULTI/EXEC could count a vote twice,
// so no caller setting turns retries back on.
func TestNewRedisNeverRetries(t *testing.T) {
	s := NewRedis(&redis.UniversalOptions{Addrs: []string{"127.0.0.1:1"}, MaxRetries: 5}, Options{})
	defer s.Close()
	c, ok := s.rdb.(*redis.Client)
	if !ok {
		t.Fatalf("client is %T, want *redis.Client for one address", s.rdb)
	}
	o := c.Options()
	if o.MaxRetries != 0 || o.DialerRetries != 1 {
		t.Errorf("MaxRetries %d, DialerRetries %d; want 0 (from -1) and 1", o.MaxRetries, o.DialerRetries)
	}
	for name, d := range map[string]time.Duration{"dial": o.DialTimeout, "read": o.ReadTimeout, "write": o.WriteTimeout, "pool": o.PoolTimeout} {
		if d != time.Second {
			t.Errorf("%s timeout = %v, want 1s", name, d)
		}
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

// A vote token is one key beside the others, under the same prefix (so the
// same Cluster slot), that expires after the token's lifetime.
func TestRedisVoteTokenKey(t *testing.T) {
	srv := redistest.Start(t)
	s := openRedis(t, srv, Options{Prefix: "{azure-vote}:"})
	if _, counted, err := s.VoteOnce(t.Context(), "Cats", "AB3DE7GHIJKLMNOPQRSTUVWXYZ", base); err != nil || !counted {
		t.Fatalf("VoteOnce = %v, %v", counted, err)
	}
	raw := srv.Client()
	wantKeys(t, raw,
		"{azure-vote}:votes",
		"{azure-vote}:usage:pervote:2026-11-22T08",
		"{azure-vote}:usage-hours:pervote",
		"{azure-vote}:vote-token:AB3DE7GHIJKLMNOPQRSTUVWXYZ",
	)
	if ttl := raw.PTTL(t.Context(), "{azure-vote}:vote-token:AB3DE7GHIJKLMNOPQRSTUVWXYZ").Val(); ttl <= 23*time.Hour || ttl > 24*time.Hour {
		t.Errorf("token PTTL = %v, want about 24h", ttl)
	}
}

// Concurrent votes share round trips, and every caller still reads its own
// vote: a read never joins a round trip that started before it.
func TestRedisGroupsConcurrentVotes(t *testing.T) {
	srv := redistest.Start(t)
	s := openRedis(t, srv, Options{})
	raw := srv.Client()
	const voters, each = 32, 40
	var wg sync.WaitGroup
	errs := make(chan error, voters)
	for v := range voters {
		wg.Go(func() {
			for i := range each {
				tok := fmt.Sprintf("voter-%02d-vote-%03d", v, i)
				counts, counted, err := s.VoteOnce(t.Context(), "Cats", tok, base)
				if err == nil && !counted {
					err = fmt.Errorf("fresh token %s not counted", tok)
				}
				if err != nil {
					errs <- err
					return
				}
				read, err := s.Counts(t.Context())
				if err == nil && read["Cats"] < counts["Cats"] {
					err = fmt.Errorf("read %d Cats after a vote answered %d", read["Cats"], counts["Cats"])
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := mustCounts(t, s)["Cats"]; got != voters*each {
		t.Fatalf("Cats = %d, want %d", got, voters*each)
	}
	calls := commandCalls(t, raw, "evalsha") + commandCalls(t, raw, "eval")
	if calls == 0 || calls >= voters*each {
		t.Errorf("%d votes took %d script calls: concurrent votes should share them", voters*each, calls)
	}
	t.Logf("%d votes in %d round trips", voters*each, calls)
}

// A group the script cannot apply fails every vote in it and keeps none of
// its tokens, so each can be sent again.
func TestRedisFailedGroupKeepsNoToken(t *testing.T) {
	srv := redistest.Start(t)
	s := openRedis(t, srv, Options{})
	raw := srv.Client()
	ctx := t.Context()
	raw.HSet(ctx, "azure-vote:votes", "Cats", "not a number")
	const tok = "failing-group-token-01"
	if _, _, err := s.VoteOnce(ctx, "Cats", tok, base); err == nil {
		t.Fatal("a vote onto a corrupt count succeeded")
	}
	if n := raw.Exists(ctx, "azure-vote:vote-token:"+tok, "azure-vote:usage:pervote:2026-11-22T08").Val(); n != 0 {
		t.Fatalf("the failed vote left %d of its token and usage keys", n)
	}
	raw.HSet(ctx, "azure-vote:votes", "Cats", "5")
	counts, counted, err := s.VoteOnce(ctx, "Cats", tok, base)
	if err != nil || !counted || counts["Cats"] != 6 {
		t.Fatalf("the same vote sent again = %v, %v, %v; want counted, Cats 6", counts, counted, err)
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
	n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Close while votes are in flight: each vote is either acknowledged and
// stored, or refused; none is acknowledged and lost, none waits forever,
// and calls after Close fail at once.
func TestRedisCloseAnswersVotesInFlight(t *testing.T) {
	srv := redistest.Start(t)
	opts, err := ParseRedisAddr(srv.Addr(), "")
	if err != nil {
		t.Fatal(err)
	}
	s := NewRedis(opts, Options{})
	const voters = 32
	var wg sync.WaitGroup
	var mu sync.Mutex
	acknowledged := 0
	started := make(chan struct{}, voters)
	for range voters {
		wg.Go(func() {
			started <- struct{}{}
			for {
				if _, err := s.Vote(t.Context(), "Cats", base); err != nil {
					return // refused, or the client closed under it: not acknowledged
				}
				mu.Lock()
				acknowledged++
				mu.Unlock()
			}
		})
	}
	for range voters {
		<-started
	}
	time.Sleep(50 * time.Millisecond) // votes flowing
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if _, err := s.Vote(t.Context(), "Cats", base); !errors.Is(err, errStoreClosed) {
		t.Errorf("vote after Close: %v, want %v", err, errStoreClosed)
	}
	stored, err := srv.Client().HGet(t.Context(), DefaultPrefix+"votes", "Cats").Int()
	if err != nil {
		t.Fatal(err)
	}
	if acknowledged == 0 || stored < acknowledged {
		t.Fatalf("%d votes acknowledged, %d stored", acknowledged, stored)
	}
	t.Logf("%d acknowledged, %d stored (a vote whose answer Close cut off may be stored)", acknowledged, stored)
}
