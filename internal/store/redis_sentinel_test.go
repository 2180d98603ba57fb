package store

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/azure-vote/azure-vote/metering/redisledger/redistest"
)

// openSentinel opens the store through g's Sentinels, as
// REDIS=redis://s1?master_name=mymaster&addr=s2&addr=s3 would.
func openSentinel(t *testing.T, g *redistest.Sentinel, o Options) *Redis {
	t.Helper()
	opts, err := ParseRedisAddr(g.URL(), "")
	if err != nil {
		t.Fatal(err)
	}
	if IsCluster(opts) {
		t.Fatal("Sentinel seeds selected Cluster")
	}
	s := NewRedis(opts, o)
	t.Cleanup(func() { _ = s.Close() })
	if _, ok := s.rdb.(*redis.Client); !ok || opts.MasterName != redistest.SentinelMasterName {
		t.Fatalf("client is %T for master %q, want a failover *redis.Client", s.rdb, opts.MasterName)
	}
	return s
}

func TestRedisSentinelContract(t *testing.T) {
	g := redistest.StartSentinel(t)
	runContract(t, func(t *testing.T, o Options) Store {
		o.Prefix = t.Name() + ":"
		return openSentinel(t, g, o)
	})
}

// TestRedisSentinelFailover votes without pause while the Sentinels fail the
// master over by hand (SENTINEL FAILOVER) and then after its SIGKILL. The
// same store follows the master each time; the acknowledged votes lost to
// asynchronous replication are reported after each.
func TestRedisSentinelFailover(t *testing.T) {
	g := redistest.StartSentinel(t)
	ctx := t.Context()
	s := openSentinel(t, g, Options{})
	old, err := g.Master(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var acked, failed int64
	load := startVoteLoad(s, 8)
	time.Sleep(time.Second)
	load.fault()
	promoted, err := g.Failover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("SENTINEL FAILOVER: no vote acknowledged for %v at most", load.recovered(t, time.Now()).Round(time.Millisecond))
	acked, failed = load.finish()
	checkAfterFailover(t, s, acked, failed)

	load = startVoteLoad(s, 8)
	time.Sleep(time.Second)
	load.fault()
	promoted.Stop()
	if err := g.WaitMaster(ctx, old); err != nil {
		t.Fatal(err)
	}
	t.Logf("master SIGKILL: no vote acknowledged for %v at most (down-after %v)",
		load.recovered(t, time.Now()).Round(time.Millisecond), redistest.SentinelDownAfter)
	time.Sleep(500 * time.Millisecond)
	a, f := load.finish()
	checkAfterFailover(t, s, acked+a, failed+f)
}

// TestRedisSentinelFailoverMinReplicas is the manual failover again, with
// the setting the README asks publishers for: a master that has lost its
// replica for more than a second refuses writes, so the old master stops
// acknowledging votes it can no longer pass on soon after the replica is
// promoted, instead of until the Sentinels reconfigure it.
func TestRedisSentinelFailoverMinReplicas(t *testing.T) {
	g := redistest.StartSentinel(t, "--min-replicas-to-write", "1", "--min-replicas-max-lag", "1")
	ctx := t.Context()
	s := openSentinel(t, g, Options{})
	load := startVoteLoad(s, 8)
	time.Sleep(time.Second)
	load.fault()
	if _, err := g.Failover(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("SENTINEL FAILOVER with min-replicas-to-write 1, min-replicas-max-lag 1: no vote acknowledged for %v at most",
		load.recovered(t, time.Now()).Round(time.Millisecond))
	acked, failed := load.finish()
	checkAfterFailover(t, s, acked, failed)
}

// With WaitReplicas a vote is acknowledged only once the replica holds it,
// so a failover loses no acknowledged vote; a vote the replica does not get
// in time is answered as not confirmed, and its token makes the resend safe.
func TestRedisWaitReplicas(t *testing.T) {
	g := redistest.StartSentinel(t)
	ctx := t.Context()
	s := openSentinel(t, g, Options{WaitReplicas: 1, WaitTimeout: 200 * time.Millisecond})
	if _, counted, err := s.VoteOnce(ctx, "Cats", "token-replicated-0001", base); err != nil || !counted {
		t.Fatalf("vote with a live replica: counted %v, %v", counted, err)
	}

	master, err := g.Master(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var replica *redistest.Server
	for _, srv := range g.Servers() {
		if srv != master {
			replica = srv
		}
	}
	replica.Pause()
	_, _, err = s.VoteOnce(ctx, "Cats", "token-unreplicated-01", base)
	replica.Resume()
	if err == nil || !strings.Contains(err.Error(), "replicas") {
		t.Fatalf("vote with the replica stopped: err = %v, want it unconfirmed", err)
	}
	// The primary applied it; the resend with its token is not counted twice.
	counts, counted, err := s.VoteOnce(ctx, "Cats", "token-unreplicated-01", base)
	if err != nil || counted || counts["Cats"] != 2 {
		t.Fatalf("resend: counts %v, counted %v, %v; want 2 Cats, not counted again", counts, counted, err)
	}
}

// The manual failover again, waiting for the replica: no acknowledged vote
// is lost, where without the wait thousands were.
func TestRedisSentinelFailoverWaitingForReplicas(t *testing.T) {
	g := redistest.StartSentinel(t)
	ctx := t.Context()
	s := openSentinel(t, g, Options{WaitReplicas: 1})
	load := startVoteLoad(s, 8)
	time.Sleep(time.Second)
	load.fault()
	if _, err := g.Failover(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("SENTINEL FAILOVER with WaitReplicas 1: no vote acknowledged for %v at most",
		load.recovered(t, time.Now()).Round(time.Millisecond))
	acked, failed := load.finish()
	checkAfterFailover(t, s, acked, failed)
	counts, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stored := counts["Cats"] + counts["Dogs"]; stored < acked {
		t.Errorf("%d acknowledged votes lost (acknowledged %d, stored %d)", acked-stored, acked, stored)
	}
}
