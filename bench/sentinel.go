package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

const sentinelMaster = "mymaster"

// sentinelGroup is a master, its replicas and three Sentinels (quorum 2) on
// free ports of 127.0.0.1, as a small production install runs Redis.
type sentinelGroup struct {
	data      map[string]*proc // by address: the master and the replica
	sentinels []*proc
	addrs     []string // the Sentinels'
	clients   []*redis.SentinelClient
}

// startSentinelGroup starts the group with serverArgs given to every data
// server, e.g. --min-replicas-to-write 1.
func startSentinelGroup(ctx context.Context, bin, dir string, replicas int, serverArgs ...string) (_ *sentinelGroup, err error) {
	g := &sentinelGroup{data: map[string]*proc{}}
	defer func() {
		if err != nil {
			err = errors.Join(err, g.stop())
		}
	}()
	var master string
	for i := range 1 + replicas {
		name := "redis-master"
		extra := serverArgs
		if i > 0 {
			name = "redis-replica-" + strconv.Itoa(i)
			_, port, _ := net.SplitHostPort(master)
			extra = append(slices.Clip(serverArgs), "--replicaof", "127.0.0.1", port)
		}
		var addr string
		p, _, err := startOnFreePort(func(port int) (*proc, error) {
			addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			return startRedisOn(ctx, bin, name, dir, port, extra...)
		})
		if err != nil {
			return nil, err
		}
		g.data[addr] = p
		if i == 0 {
			master = addr
		}
	}
	_, masterPort, _ := net.SplitHostPort(master)
	for i := range 3 {
		name := "sentinel-" + strconv.Itoa(i+1)
		var addr string
		p, _, err := startOnFreePort(func(port int) (*proc, error) {
			addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			conf := filepath.Join(dir, name+".conf")
			text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\n"+
				"sentinel monitor %[4]s 127.0.0.1 %[3]s 2\n"+
				"sentinel down-after-milliseconds %[4]s 1000\n"+
				"sentinel failover-timeout %[4]s 5000\n", port, dir, masterPort, sentinelMaster)
			if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
				return nil, err
			}
			p, err := startProc(name, bin, []string{conf, "--sentinel"}, os.Environ(), filepath.Join(dir, name+".log"))
			if err != nil {
				return nil, err
			}
			if err := p.waitPing(ctx, addr); err != nil {
				_ = p.stop()
				return nil, err
			}
			return p, nil
		})
		if err != nil {
			return nil, err
		}
		g.sentinels = append(g.sentinels, p)
		g.addrs = append(g.addrs, addr)
		g.clients = append(g.clients, redis.NewSentinelClient(&redis.Options{Addr: addr, MaxRetries: -1}))
	}
	return g, g.waitMaster(ctx, master)
}

// url is the group's address as the app's REDIS takes it.
func (g *sentinelGroup) url() string {
	q := url.Values{"master_name": {sentinelMaster}, "addr": g.addrs[1:]}
	return "redis://" + g.addrs[0] + "?" + q.Encode()
}

// client is a client of whichever server is master, for counting.
func (g *sentinelGroup) client() *redis.Client {
	return redis.NewFailoverClient(&redis.FailoverOptions{MasterName: sentinelMaster, SentinelAddrs: g.addrs, MaxRetries: -1})
}

// master is the address the first Sentinel names.
func (g *sentinelGroup) master(ctx context.Context) (string, error) {
	hp, err := g.clients[0].GetMasterAddrByName(ctx, sentinelMaster).Result()
	if err != nil {
		return "", fmt.Errorf("sentinel: master: %w", err)
	}
	if len(hp) != 2 {
		return "", fmt.Errorf("sentinel: master address %q", hp)
	}
	return net.JoinHostPort(hp[0], hp[1]), nil
}

// waitMaster waits until every Sentinel names want and, when the other data
// server runs, knows it as a live replica, and knows the two other
// Sentinels: then the group can fail over again.
func (g *sentinelGroup) waitMaster(ctx context.Context, want string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := g.settled(ctx, want)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sentinel: %s not the settled master within 30s: %w", want, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (g *sentinelGroup) settled(ctx context.Context, want string) error {
	replicas := 0
	for addr, p := range g.data {
		if addr != want && p.running() {
			replicas++
		}
	}
	for i, c := range g.clients {
		hp, err := c.GetMasterAddrByName(ctx, sentinelMaster).Result()
		if err != nil {
			return err
		}
		if len(hp) != 2 || net.JoinHostPort(hp[0], hp[1]) != want {
			return fmt.Errorf("sentinel %s names %q", g.addrs[i], hp)
		}
		if others, err := c.Sentinels(ctx, sentinelMaster).Result(); err != nil || len(others) < 2 {
			return fmt.Errorf("sentinel %s knows %d others (%v)", g.addrs[i], len(others), err)
		}
		rs, err := c.Replicas(ctx, sentinelMaster).Result()
		if err != nil {
			return err
		}
		live := 0
		for _, r := range rs {
			if !strings.Contains(r["flags"], "down") && !strings.Contains(r["flags"], "disconnected") {
				live++
			}
		}
		if live < replicas {
			return fmt.Errorf("sentinel %s knows %d live replicas", g.addrs[i], live)
		}
	}
	return nil
}

// failover runs SENTINEL FAILOVER: a replica is promoted without a vote. It
// returns the one the Sentinels chose.
func (g *sentinelGroup) failover(ctx context.Context, old string) (string, error) {
	if err := g.clients[0].Failover(ctx, sentinelMaster).Err(); err != nil {
		return "", fmt.Errorf("SENTINEL FAILOVER: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		addr, err := g.master(ctx)
		if err == nil && addr != old {
			return addr, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("SENTINEL FAILOVER: %s still master after 30s (%v)", old, err)
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return "", err
		}
	}
}

// promoted waits until the first Sentinel names a master other than old,
// after old was killed.
func (g *sentinelGroup) promoted(ctx context.Context, old string) (string, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		addr, err := g.master(ctx)
		if err == nil && addr != old {
			return addr, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no replica promoted within 30s of the master's loss (%v)", err)
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return "", err
		}
	}
}

func (g *sentinelGroup) stop() error {
	var errs []error
	for _, c := range g.clients {
		_ = c.Close()
	}
	for _, p := range g.sentinels {
		errs = append(errs, p.stop())
	}
	for _, p := range g.data {
		if p.running() {
			errs = append(errs, p.stop())
		}
	}
	return errors.Join(errs...)
}
