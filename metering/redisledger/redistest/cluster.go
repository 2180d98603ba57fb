package redistest

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClusterNodeTimeout is the cluster-node-timeout of a test Cluster: a master
// that does not answer for this long is failed over to its replica. Short,
// so that tests of a lost master stay short; long enough that a loaded
// machine does not fail masters over by itself.
const ClusterNodeTimeout = 2 * time.Second

// clusterReadyTimeout bounds how long a new cluster may take to agree on
// its slots, and a failover to complete.
const clusterReadyTimeout = 30 * time.Second

// Cluster is a real Redis Cluster of three masters, each with one replica,
// on free ports of 127.0.0.1, built with `redis-cli --cluster create`.
// Replicas make CLUSTER FAILOVER, and the loss of a master, survivable.
type Cluster struct {
	tb    testing.TB
	nodes []*Server

	mu     sync.Mutex
	client *redis.ClusterClient
}

// StartCluster starts six cluster-mode servers, joins them into a cluster of
// three masters and three replicas, and waits until every node sees every
// slot served and every replica in sync. Everything is stopped in Cleanup.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		tb.Fatalf("redistest: redis-cli is not on PATH (%v); install it with: %s", err, InstallHint)
	}
	c := &Cluster{tb: tb}
	tb.Cleanup(c.cleanup)
	for range 6 {
		c.nodes = append(c.nodes, start(tb, func(s *Server, port int, base []string) ([]string, error) {
			return append(base,
				"--cluster-enabled", "yes",
				"--cluster-config-file", filepath.Join(s.dir, "nodes.conf"),
				"--cluster-node-timeout", strconv.Itoa(int(ClusterNodeTimeout/time.Millisecond)),
			), nil
		}))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), clusterReadyTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		tb.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	if err := c.WaitHealthy(ctx); err != nil {
		tb.Fatalf("redistest: new cluster: %v", err)
	}
	return c
}

// Addrs are the host:port of every node, masters and replicas: the seeds a
// client is given.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// Nodes are the cluster's servers, to stop, pause or restart one.
func (c *Cluster) Nodes() []*Server { return c.nodes }

// Client is a cluster client for the test's own reads and writes, created
// once and closed in Cleanup.
func (c *Cluster) Client() *redis.ClusterClient {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == nil {
		c.client = redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), MaxRetries: 1, DialerRetries: 1})
	}
	return c.client
}

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	id, addr, master string // master: the id of a replica's master, "-" for a master
	flags            []string
	slots            [][2]int // inclusive ranges
}

func (n clusterNode) is(flag string) bool { return slices.Contains(n.flags, flag) }

func (n clusterNode) serves(slot int) bool {
	for _, r := range n.slots {
		if slot >= r[0] && slot <= r[1] {
			return true
		}
	}
	return false
}

// parseClusterNodes reads the answer of CLUSTER NODES:
//
//	<id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slot> ...
func parseClusterNodes(text string) ([]clusterNode, error) {
	var nodes []clusterNode
	for line := range strings.SplitSeq(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			return nil, fmt.Errorf("CLUSTER NODES line %q: too few fields", line)
		}
		addr, _, _ := strings.Cut(f[1], "@")
		n := clusterNode{id: f[0], addr: addr, flags: strings.Split(f[2], ","), master: f[3]}
		for _, sl := range f[8:] {
			if strings.HasPrefix(sl, "[") { // a slot being migrated
				continue
			}
			lo, hi, isRange := strings.Cut(sl, "-")
			if !isRange {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("CLUSTER NODES line %q: slot %q", line, sl)
			}
			n.slots = append(n.slots, [2]int{a, b})
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// view asks live nodes, in turn, how the cluster looks to them.
func (c *Cluster) view(ctx context.Context) ([]clusterNode, error) {
	var errs []error
	for _, s := range c.nodes {
		if !s.running() {
			continue
		}
		text, err := s.Client().ClusterNodes(ctx).Result()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Addr(), err))
			continue
		}
		return parseClusterNodes(text)
	}
	return nil, fmt.Errorf("no node answered CLUSTER NODES: %w", errors.Join(errs...))
}

func (c *Cluster) server(addr string) *Server {
	for _, s := range c.nodes {
		if s.Addr() == addr {
			return s
		}
	}
	return nil
}

// MasterOf is the node that serves key's slot now, and its replica that is
// not marked failed (nil when it has none).
func (c *Cluster) MasterOf(ctx context.Context, key string) (master, replica *Server, err error) {
	slot, err := c.slot(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	nodes, err := c.view(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, m := range nodes {
		if !m.is("master") || m.is("fail") || !m.serves(slot) {
			continue
		}
		master = c.server(m.addr)
		for _, r := range nodes {
			if r.master == m.id && !r.is("fail") && !r.is("fail?") {
				replica = c.server(r.addr)
			}
		}
	}
	if master == nil {
		return nil, nil, fmt.Errorf("no live master serves slot %d of %q", slot, key)
	}
	return master, replica, nil
}

func (c *Cluster) slot(ctx context.Context, key string) (int, error) {
	for _, s := range c.nodes {
		if s.running() {
			n, err := s.Client().ClusterKeySlot(ctx, key).Result()
			return int(n), err
		}
	}
	return 0, errors.New("no node runs")
}

// Failover runs CLUSTER FAILOVER on the replica of the master serving key,
// the safe, manual failover: the replica catches up with its master before
// it takes over. It waits until the replica serves the slot, and returns
// the new master.
func (c *Cluster) Failover(ctx context.Context, key string) (*Server, error) {
	_, replica, err := c.MasterOf(ctx, key)
	if err != nil {
		return nil, err
	}
	if replica == nil {
		return nil, fmt.Errorf("the master of %q has no live replica", key)
	}
	if err := replica.Client().ClusterFailover(ctx).Err(); err != nil {
		return nil, fmt.Errorf("CLUSTER FAILOVER on %s: %w", replica.Addr(), err)
	}
	return c.WaitMaster(ctx, key, replica)
}

// WaitMaster waits until want serves key's slot, in the eyes of every live
// node, and the cluster is healthy again.
func (c *Cluster) WaitMaster(ctx context.Context, key string, want *Server) (*Server, error) {
	ctx, cancel := context.WithTimeout(ctx, clusterReadyTimeout)
	defer cancel()
	for {
		m, _, err := c.MasterOf(ctx, key)
		if err == nil && m == want {
			if err := c.WaitHealthy(ctx); err != nil {
				return nil, err
			}
			return m, nil
		}
		if serr := sleep(ctx, 50*time.Millisecond); serr != nil {
			if err == nil {
				err = fmt.Errorf("%s serves it", m.Addr())
			}
			return nil, fmt.Errorf("%s did not take over %q: %w (last: %v)", want.Addr(), key, serr, err)
		}
	}
}

// WaitHealthy waits until every running node says cluster_state:ok and
// every running replica's link to its master is up.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, clusterReadyTimeout)
	defer cancel()
	for {
		err := c.healthy(ctx)
		if err == nil {
			return nil
		}
		if serr := sleep(ctx, 50*time.Millisecond); serr != nil {
			return fmt.Errorf("cluster not healthy: %w", err)
		}
	}
}

func (c *Cluster) healthy(ctx context.Context) error {
	for _, s := range c.nodes {
		if !s.running() {
			continue
		}
		info, err := s.Client().ClusterInfo(ctx).Result()
		if err != nil {
			return fmt.Errorf("%s: %w", s.Addr(), err)
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("%s: cluster_state is not ok", s.Addr())
		}
		repl, err := s.Client().Info(ctx, "replication").Result()
		if err != nil {
			return fmt.Errorf("%s: %w", s.Addr(), err)
		}
		if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
			return fmt.Errorf("%s: replica not in sync with its master", s.Addr())
		}
	}
	nodes, err := c.view(ctx)
	if err != nil {
		return err
	}
	// Every node that runs must be known to the others, not failed.
	for _, n := range nodes {
		if s := c.server(n.addr); s != nil && s.running() && (n.is("fail") || n.is("fail?")) {
			return fmt.Errorf("%s is still marked failed", n.addr)
		}
	}
	return nil
}

func (c *Cluster) cleanup() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		_ = c.client.Close()
		c.client = nil
	}
}

// sleep waits d, or less if ctx ends first.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
