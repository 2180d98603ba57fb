package store

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/azure-vote/azure-vote/metering/redisledger/redistest"
)

// openCluster opens the store on every node of c, as REDIS=h1:p1,h2:p2,...
// would.
func openCluster(t *testing.T, c *redistest.Cluster, o Options) *Redis {
	t.Helper()
	opts, err := ParseRedisAddr(strings.Join(c.Addrs(), ","), "")
	if err != nil {
		t.Fatal(err)
	}
	if !IsCluster(opts) {
		t.Fatalf("%d seeds did not select Cluster", len(c.Addrs()))
	}
	s := NewRedis(opts, o)
	t.Cleanup(func() { _ = s.Close() })
	if _, ok := s.rdb.(*redis.ClusterClient); !ok {
		t.Fatalf("client is %T, want *redis.ClusterClient", s.rdb)
	}
	return s
}

func TestRedisClusterContract(t *testing.T) {
	c := redistest.StartCluster(t)
	runContract(t, func(t *testing.T, o Options) Store {
		// Each test its own hash tag, so its own slot, spread over the masters.
		o.Prefix = "{" + t.Name() + "}:"
		return openCluster(t, c, o)
	})
	// WAIT goes to the master that holds the vote's slot, on the vote's
	// own connection: a keyless WAIT sent to any node would count nothing.
	t.Run("WaitReplicas", func(t *testing.T) {
		s := openCluster(t, c, Options{Prefix: "{wait}:", WaitReplicas: 1})
		for i := range 3 {
			counts, counted, err := s.VoteOnce(t.Context(), "Cats", fmt.Sprintf("token-cluster-wait-%02d", i), base)
			if err != nil || !counted || counts["Cats"] != int64(i+1) {
				t.Fatalf("vote %d waiting for a replica: %v %v %v", i, counts, counted, err)
			}
		}
	})
}

// TestRedisClusterCrossSlot: without a hash tag a vote's keys fall in
// different slots and Redis Cluster refuses the transaction. The app never
// runs so (see config.RedisKeyPrefix); this is why.
func TestRedisClusterCrossSlot(t *testing.T) {
	c := redistest.StartCluster(t)
	s := openCluster(t, c, Options{Prefix: "azure-vote:"})
	if _, err := s.Vote(t.Context(), "Cats", base); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("a vote without a hash tag on a Cluster = %v, want CROSSSLOT", err)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v (the store looks healthy while every vote fails)", err)
	}
}

// TestRedisClusterFailover votes without pause while the master of the
// store's slot is failed over by hand (CLUSTER FAILOVER) and then killed
// (SIGKILL), which the cluster answers by promoting the old master back.
// The same store recovers by itself each time; the acknowledged votes lost
// to asynchronous replication are reported.
func TestRedisClusterFailover(t *testing.T) {
	c := redistest.StartCluster(t)
	ctx := t.Context()
	s := openCluster(t, c, Options{Prefix: "{azure-vote}:"})
	old, _, err := c.MasterOf(ctx, s.votesKey())
	if err != nil {
		t.Fatal(err)
	}
	load := startVoteLoad(s, 8)
	time.Sleep(time.Second)

	load.fault()
	promoted, err := c.Failover(ctx, s.votesKey())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("CLUSTER FAILOVER: no vote acknowledged for %v at most", load.recovered(t, time.Now()).Round(time.Millisecond))
	acked, failed := load.finish()
	checkAfterFailover(t, s, acked, failed)

	load = startVoteLoad(s, 8)
	time.Sleep(time.Second)

	load.fault()
	promoted.Stop()
	if _, err := c.WaitMaster(ctx, s.votesKey(), old); err != nil {
		t.Fatal(err)
	}
	t.Logf("master SIGKILL: no vote acknowledged for %v at most (cluster-node-timeout %v)",
		load.recovered(t, time.Now()).Round(time.Millisecond), redistest.ClusterNodeTimeout)
	time.Sleep(500 * time.Millisecond)
	a, f := load.finish()
	checkAfterFailover(t, s, acked+a, failed+f)
}
