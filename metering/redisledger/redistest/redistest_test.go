package redistest_test

import (
	"testing"
	"time"

	"github.com/azure-vote/azure-vote/metering/redisledger/redistest"
)

func TestStartStopRestart(t *testing.T) {
	srv := redistest.Start(t)
	c, ctx := srv.Client(), t.Context()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET on a started server: %v", err)
	}
	if srv.Port() == redistest.SharedPort {
		t.Error("server took Redis's default port, which may hold someone's data")
	}

	srv.Stop()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING answered after Stop")
	}
	srv.Stop() // stopping twice is harmless

	addr := srv.Addr()
	srv.Restart()
	if srv.Addr() != addr {
		t.Errorf("Restart moved the server from %s to %s", addr, srv.Addr())
	}
	// The client's pool may still hold a dead connection; the server itself
	// must answer at once.
	var err error
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err = c.Ping(ctx).Err(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
	if n := c.Exists(ctx, "k").Val(); n != 0 {
		t.Error("data survived a restart of a server that saves nothing")
	}
}

func TestServersAreIndependent(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("two servers on %s", a.Addr())
	}
	if err := a.Client().Set(t.Context(), "k", "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n := b.Client().Exists(t.Context(), "k").Val(); n != 0 {
		t.Error("a key written to one server appears on the other")
	}
}
