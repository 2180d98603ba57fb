package redistest_test

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/azure-vote/azure-vote/metering/redisledger/redistest"
)

func TestClusterFailsOver(t *testing.T) {
	c := redistest.StartCluster(t)
	ctx := t.Context()
	const key = "{k}:x"
	if err := c.Client().Set(ctx, key, "v", 0).Err(); err != nil {
		t.Fatalf("SET on a new cluster: %v", err)
	}
	for _, addr := range c.Addrs() {
		if _, port, err := net.SplitHostPort(addr); err != nil || port == strconv.Itoa(redistest.SharedPort) {
			t.Fatalf("node %s: %v, or Redis's default port, which may hold someone's data", addr, err)
		}
	}
	old, replica, err := c.MasterOf(ctx, key)
	if err != nil || replica == nil {
		t.Fatalf("MasterOf = %v, %v, %v", old, replica, err)
	}
	next, err := c.Failover(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if next != replica {
		t.Fatalf("Failover made %s master, want the replica %s", next.Addr(), replica.Addr())
	}
	if got := c.Client().Get(ctx, key).Val(); got != "v" {
		t.Errorf("after a manual failover the key holds %q, want v", got)
	}

	// The old master now replicates the new one; losing the new one puts it
	// back in charge, by the cluster's own vote.
	next.Stop()
	if _, err := c.WaitMaster(ctx, key, old); err != nil {
		t.Fatal(err)
	}
}

func TestSentinelFailsOver(t *testing.T) {
	g := redistest.StartSentinel(t)
	ctx := t.Context()
	if err := g.Client().Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET through Sentinel: %v", err)
	}
	old, err := g.Master(ctx)
	if err != nil || old != g.Servers()[0] {
		t.Fatalf("Master = %v, %v; want the first server", old, err)
	}
	next, err := g.Failover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if next != g.Servers()[1] {
		t.Fatalf("Failover promoted %s", next.Addr())
	}
	killed := time.Now()
	next.Stop()
	if err := g.WaitMaster(ctx, old); err != nil {
		t.Fatal(err)
	}
	t.Logf("Sentinels promoted %s %v after its master was killed", old.Addr(), time.Since(killed).Round(time.Millisecond))
}
