package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/azure-vote/azure-vote/internal/config"
	"github.com/azure-vote/azure-vote/internal/store"
	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/emulator"
	"github.com/azure-vote/azure-vote/metering/redisledger/redistest"
	"github.com/azure-vote/azure-vote/web"
)

// TestClusterVotesAndReports: the app on a real Redis Cluster with no
// REDIS_PREFIX takes votes (the default prefix carries a hash tag) and
// reports the closed hours to the Metering API once.
func TestClusterVotesAndReports(t *testing.T) {
	c := redistest.StartCluster(t)
	votesAndReport(t, strings.Join(c.Addrs(), ","), config.DefaultClusterPrefix)
	if got := c.Client().HGet(t.Context(), config.DefaultClusterPrefix+"votes", "Cats").Val(); got != "4" {
		t.Errorf("%svotes Cats = %q, want 4", config.DefaultClusterPrefix, got)
	}
}

// TestSentinelVotesAndReports: the same through Sentinel, with the default
// prefix.
func TestSentinelVotesAndReports(t *testing.T) {
	g := redistest.StartSentinel(t)
	votesAndReport(t, g.URL(), config.DefaultPrefix)
	if got := g.Client().HGet(t.Context(), config.DefaultPrefix+"votes", "Cats").Val(); got != "4" {
		t.Errorf("%svotes Cats = %q, want 4", config.DefaultPrefix, got)
	}
}

// votesAndReport seeds three votes in two closed hours under prefix, starts
// the app on REDIS=addr reporting to an emulator, and checks the pass at
// start billed each hour its count, and that a vote over HTTP counts.
func votesAndReport(t *testing.T, addr, prefix string) {
	t.Helper()
	const resource = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg/providers/Microsoft.KubernetesConfiguration/extensions/vote"
	emu := emulator.New(emulator.Options{Plans: map[string][]string{"basic": {"pervote"}}, Resources: []string{resource}})
	api := httptest.NewServer(emu)
	defer api.Close()

	ro, err := store.ParseRedisAddr(addr, "")
	if err != nil {
		t.Fatal(err)
	}
	seed := store.NewRedis(ro, store.Options{Prefix: prefix})
	now := time.Now().UTC()
	want := map[time.Time]float64{}
	for _, ago := range []time.Duration{2 * time.Hour, 2 * time.Hour, 3 * time.Hour} {
		if _, err := seed.Vote(context.Background(), "Cats", now.Add(-ago)); err != nil {
			t.Fatalf("seed vote: %v", err)
		}
		want[metering.HourOf(now.Add(-ago))]++
	}
	seed.Close()

	m, _ := startMain(t, map[string]string{
		"REDIS": addr, "METERING_ENDPOINT": api.URL + "/api",
		"EXTENSION_RESOURCE_ID": resource, "PLAN_ID": "basic",
	})
	var u web.UsageReport
	waitFor(t, "the pass at start", func() bool {
		_, body := get(t, m.URL()+"/api/usage")
		return json.Unmarshal([]byte(body), &u) == nil && !u.LastReport.IsZero()
	})
	billed := map[time.Time]float64{}
	for _, e := range emu.Events() {
		billed[e.EffectiveStartTime.Time] += e.Quantity
	}
	for hour, q := range want {
		if billed[hour] != q {
			t.Errorf("hour %s billed %v, counted %v", hour, billed[hour], q)
		}
	}
	if len(billed) != len(want) {
		t.Errorf("billed hours %v, want %v", billed, want)
	}
	if code, body := postVote(t, m.URL(), "Cats"); code != 200 || !strings.Contains(body, "Cats - 4 | Dogs - 0") {
		t.Fatalf("vote = %d\n%s", code, body)
	}
	if code, _ := get(t, m.URL()+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d", code)
	}
}

// TestClusterPrefixWithoutHashTagStops: on a Cluster a prefix without a hash
// tag would fail every vote; the app refuses to start, in one line that
// names REDIS_PREFIX and the fix.
func TestClusterPrefixWithoutHashTagStops(t *testing.T) {
	env := map[string]string{"REDIS": "127.0.0.1:1,127.0.0.1:2", "REDIS_PREFIX": "azure-vote:", "PORT": strconv.Itoa(freePort(t))}
	// Were it to start anyway, it would serve until this deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := run(ctx, nil, func(k string) string { return env[k] }, &syncBuffer{})
	if err == nil || !strings.Contains(err.Error(), `REDIS_PREFIX="azure-vote:"`) || !strings.Contains(err.Error(), "{azure-vote}:") ||
		strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v; want one line naming REDIS_PREFIX and the fix", err)
	}
}
