package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMasterName is the name the Sentinels of a test group watch.
const SentinelMasterName = "mymaster"

// SentinelDownAfter is the Sentinels' down-after-milliseconds: how long a
// master may not answer before they fail it over.
const SentinelDownAfter = time.Second

// Sentinel is a real Sentinel group: a master, one replica of it and three
// Sentinels (quorum 2), on free ports of 127.0.0.1.
type Sentinel struct {
	tb        testing.TB
	data      []*Server // the master and the replica it started with
	sentinels []*Server

	mu        sync.Mutex
	client    *redis.Client
	sentinelC map[*Server]*redis.SentinelClient
}

// StartSentinel starts the group and waits until every Sentinel knows the
// replica and the two other Sentinels, and the replica is in sync.
// serverArgs go to both data servers, e.g. "--min-replicas-to-write", "1".
// Everything is stopped in Cleanup.
func StartSentinel(tb testing.TB, serverArgs ...string) *Sentinel {
	tb.Helper()
	g := &Sentinel{tb: tb}
	tb.Cleanup(g.cleanup)
	master := start(tb, func(_ *Server, _ int, base []string) ([]string, error) {
		return append(base, serverArgs...), nil
	})
	replica := start(tb, func(_ *Server, _ int, base []string) ([]string, error) {
		return append(append(base, serverArgs...), "--replicaof", "127.0.0.1", strconv.Itoa(master.Port())), nil
	})
	g.data = []*Server{master, replica}
	for range 3 {
		g.sentinels = append(g.sentinels, start(tb, func(s *Server, port int, base []string) ([]string, error) {
			// A Sentinel rewrites its file with what it learns; a restart on
			// the same port keeps it.
			conf := filepath.Join(s.dir, "sentinel-"+strconv.Itoa(port)+".conf")
			if _, err := os.Stat(conf); errors.Is(err, os.ErrNotExist) {
				text := fmt.Sprintf("sentinel monitor %[1]s 127.0.0.1 %[2]d 2\n"+
					"sentinel down-after-milliseconds %[1]s %[3]d\n"+
					"sentinel failover-timeout %[1]s 5000\n"+
					"sentinel parallel-syncs %[1]s 1\n",
					SentinelMasterName, master.Port(), SentinelDownAfter.Milliseconds())
				if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
					return nil, err
				}
			}
			return append([]string{conf, "--sentinel"}, base...), nil
		}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterReadyTimeout)
	defer cancel()
	if err := g.WaitMaster(ctx, master); err != nil {
		tb.Fatalf("redistest: new Sentinel group: %v", err)
	}
	return g
}

// Addrs are the Sentinels' host:port.
func (g *Sentinel) Addrs() []string {
	addrs := make([]string, len(g.sentinels))
	for i, s := range g.sentinels {
		addrs[i] = s.Addr()
	}
	return addrs
}

// URL is the address of the group as the app's REDIS takes it:
// redis://s1?master_name=mymaster&addr=s2&addr=s3.
func (g *Sentinel) URL() string {
	q := url.Values{"master_name": {SentinelMasterName}, "addr": g.Addrs()[1:]}
	return "redis://" + g.Addrs()[0] + "?" + q.Encode()
}

// Sentinels are the Sentinel processes.
func (g *Sentinel) Sentinels() []*Server { return g.sentinels }

// Servers are the two data servers: the master and the replica it started
// with. Which is master now, Master tells.
func (g *Sentinel) Servers() []*Server { return g.data }

// Client is a Sentinel-aware client of the current master for the test's own
// reads and writes, created once and closed in Cleanup.
func (g *Sentinel) Client() *redis.Client {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.client == nil {
		g.client = redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: SentinelMasterName, SentinelAddrs: g.Addrs(), MaxRetries: 1, DialerRetries: 1,
		})
	}
	return g.client
}

// Master is the data server the first Sentinel that answers names as master.
func (g *Sentinel) Master(ctx context.Context) (*Server, error) {
	var errs []error
	for _, s := range g.sentinels {
		if !s.running() {
			continue
		}
		addr, err := g.masterAddr(ctx, s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return g.server(addr)
	}
	return nil, fmt.Errorf("no Sentinel named the master: %w", errors.Join(errs...))
}

// Failover runs SENTINEL FAILOVER on the first Sentinel, which promotes the
// replica without asking the others, and waits until every Sentinel names
// it and the old master replicates from it. It returns the new master.
func (g *Sentinel) Failover(ctx context.Context) (*Server, error) {
	old, err := g.Master(ctx)
	if err != nil {
		return nil, err
	}
	next := g.other(old)
	if err := g.sentinelClient(g.sentinels[0]).Failover(ctx, SentinelMasterName).Err(); err != nil {
		return nil, fmt.Errorf("SENTINEL FAILOVER: %w", err)
	}
	return next, g.WaitMaster(ctx, next)
}

// WaitMaster waits until every running Sentinel names want as master, want
// says it is one, and every running data server but want replicates from it
// in sync, and the Sentinels know it and each other.
func (g *Sentinel) WaitMaster(ctx context.Context, want *Server) error {
	ctx, cancel := context.WithTimeout(ctx, clusterReadyTimeout)
	defer cancel()
	for {
		err := g.settled(ctx, want)
		if err == nil {
			return nil
		}
		if serr := sleep(ctx, 50*time.Millisecond); serr != nil {
			return fmt.Errorf("%s is not the settled master: %w", want.Addr(), err)
		}
	}
}

func (g *Sentinel) settled(ctx context.Context, want *Server) error {
	for _, s := range g.sentinels {
		if !s.running() {
			continue
		}
		addr, err := g.masterAddr(ctx, s)
		if err != nil {
			return err
		}
		if addr != want.Addr() {
			return fmt.Errorf("sentinel %s names %s", s.Addr(), addr)
		}
		sc := g.sentinelClient(s)
		others, err := sc.Sentinels(ctx, SentinelMasterName).Result()
		if err != nil {
			return fmt.Errorf("sentinel %s: %w", s.Addr(), err)
		}
		if len(others) < g.running(g.sentinels)-1 {
			return fmt.Errorf("sentinel %s knows %d other Sentinels", s.Addr(), len(others))
		}
		replicas, err := sc.Replicas(ctx, SentinelMasterName).Result()
		if err != nil {
			return fmt.Errorf("sentinel %s: %w", s.Addr(), err)
		}
		if live := countLive(replicas); live < g.running(g.data)-1 {
			return fmt.Errorf("sentinel %s knows %d live replicas", s.Addr(), live)
		}
	}
	role, err := want.Client().Info(ctx, "replication").Result()
	if err != nil {
		return err
	}
	if !strings.Contains(role, "role:master") {
		return fmt.Errorf("%s is not a master yet", want.Addr())
	}
	for _, d := range g.data {
		if d == want || !d.running() {
			continue
		}
		info, err := d.Client().Info(ctx, "replication").Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "master_port:"+strconv.Itoa(want.Port())) || !strings.Contains(info, "master_link_status:up") {
			return fmt.Errorf("%s does not replicate from %s yet", d.Addr(), want.Addr())
		}
	}
	return nil
}

// countLive counts the replicas of SENTINEL REPLICAS not flagged down.
func countLive(replicas []map[string]string) int {
	n := 0
	for _, r := range replicas {
		if !strings.Contains(r["flags"], "down") && !strings.Contains(r["flags"], "disconnected") {
			n++
		}
	}
	return n
}

func (g *Sentinel) running(servers []*Server) int {
	n := 0
	for _, s := range servers {
		if s.running() {
			n++
		}
	}
	return n
}

func (g *Sentinel) masterAddr(ctx context.Context, s *Server) (string, error) {
	hp, err := g.sentinelClient(s).GetMasterAddrByName(ctx, SentinelMasterName).Result()
	if err != nil {
		return "", fmt.Errorf("sentinel %s: %w", s.Addr(), err)
	}
	if len(hp) != 2 {
		return "", fmt.Errorf("sentinel %s: master address %q", s.Addr(), hp)
	}
	return net.JoinHostPort(hp[0], hp[1]), nil
}

func (g *Sentinel) server(addr string) (*Server, error) {
	for _, d := range g.data {
		if d.Addr() == addr {
			return d, nil
		}
	}
	return nil, fmt.Errorf("master %s is none of the group's servers", addr)
}

func (g *Sentinel) other(s *Server) *Server {
	if g.data[0] == s {
		return g.data[1]
	}
	return g.data[0]
}

// sentinelClient speaks the SENTINEL commands to s; one client per
// Sentinel, closed in Cleanup.
func (g *Sentinel) sentinelClient(s *Server) *redis.SentinelClient {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sentinelC == nil {
		g.sentinelC = map[*Server]*redis.SentinelClient{}
	}
	c := g.sentinelC[s]
	if c == nil {
		c = redis.NewSentinelClient(&redis.Options{Addr: s.Addr(), MaxRetries: 1, DialerRetries: 1})
		g.sentinelC[s] = c
	}
	return c
}

func (g *Sentinel) cleanup() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.client != nil {
		_ = g.client.Close()
		g.client = nil
	}
	for _, c := range g.sentinelC {
		_ = c.Close()
	}
	g.sentinelC = nil
}
