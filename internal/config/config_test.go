package config

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/azure-vote/azure-vote/metering/usage"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestDefaults(t *testing.T) {
	c, err := FromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Title != DefaultTitle || c.Vote1 != "Cats" || c.Vote2 != "Dogs" || c.GetValue != "Get last one day usage" ||
		c.Port != 8080 || c.RedisPrefix != "azure-vote:" || c.DataDir != "./data" || c.LogLevel != slog.LevelInfo ||
		c.Metering.Dimension != "pervote" || c.Metering.Schedule != "5 * * * *" || c.Metering.Grace != 5*time.Minute {
		t.Fatalf("defaults: %+v", c)
	}
	if !c.Metering.Local() {
		t.Fatal("a fresh machine is not in local mode")
	}
}

// The chart's placeholder is the absence of an identity: the kit's
// NewCredential knows nothing of the chart.
func TestPlaceholderClientIDIsUnset(t *testing.T) {
	for _, v := range []string{"DONOTMODIFY", " donotmodify ", ""} {
		c, err := FromEnv(env(map[string]string{"CLIENT_ID": v}))
		if err != nil || c.Metering.ClientID != "" {
			t.Errorf("CLIENT_ID=%q: ClientID %q, err %v", v, c.Metering.ClientID, err)
		}
	}
	c, err := FromEnv(env(map[string]string{"CLIENT_ID": " 0d6b1d5c-1c0e-4d7f-9a4e-3b2a1c0d9e8f "}))
	if err != nil || c.Metering.ClientID != "0d6b1d5c-1c0e-4d7f-9a4e-3b2a1c0d9e8f" {
		t.Errorf("a client id: %q, err %v", c.Metering.ClientID, err)
	}
}

func TestLocalMode(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{"EXTENSION_RESOURCE_ID": "DONOTMODIFY", "PLAN_ID": "DONOTMODIFY"}, true},
		{map[string]string{"EXTENSION_RESOURCE_ID": "/subscriptions/x", "PLAN_ID": ""}, true},
		{map[string]string{"EXTENSION_RESOURCE_ID": "/subscriptions/x", "PLAN_ID": "basic"}, false},
		{map[string]string{"METERING_ENDPOINT": "http://127.0.0.1:8090/api"}, false},
	} {
		c, err := FromEnv(env(tc.env))
		if err != nil {
			t.Fatal(err)
		}
		if c.Metering.Local() != tc.want {
			t.Errorf("%v: Local = %v", tc.env, !tc.want)
		}
	}
}

func TestValues(t *testing.T) {
	c, err := FromEnv(env(map[string]string{
		"TITLE": "Vote!", "VOTE1VALUE": "Tea", "VOTE2VALUE": "Coffee", "GETVALUE": "Usage", "SHOWHOST": "true",
		"PORT": "9000", "LOG_LEVEL": "debug", "REDIS": " redis:6379 ", "REDIS_PWD": "pw", "REDIS_PREFIX": "{v}:",
		"METERING_ENDPOINT": "https://example.test/api/", "METERING_GRACE": "10m", "METERING_PRICE": "0.01", "METERING_INCLUDED": "1000",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.ShowHost || c.Port != 9000 || c.LogLevel != slog.LevelDebug || c.Redis != "redis:6379" || c.RedisPrefix != "{v}:" ||
		c.Metering.Endpoint != "https://example.test/api" || c.Metering.Grace != 10*time.Minute ||
		c.Metering.Pricing == nil || c.Metering.Pricing.Price != 0.01 || c.Metering.Pricing.Included != 1000 {
		t.Fatalf("values: %+v", c)
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"PORT": "eighty"}, "PORT"},
		{map[string]string{"PORT": "70000"}, "PORT"},
		{map[string]string{"MAX_CONNECTIONS": "-1"}, "MAX_CONNECTIONS"},
		{map[string]string{"REDIS_WAIT_REPLICAS": "1"}, "REDIS_WAIT_REPLICAS"},
		{map[string]string{"REDIS": "127.0.0.1:7000", "REDIS_WAIT_REPLICAS": "-1"}, "REDIS_WAIT_REPLICAS"},
		{map[string]string{"REDIS": "127.0.0.1:7000", "REDIS_WAIT_REPLICAS": "two"}, "REDIS_WAIT_REPLICAS"},
		{map[string]string{"MAX_CONNECTIONS": "many"}, "MAX_CONNECTIONS"},
		{map[string]string{"SHOWHOST": "yes please"}, "SHOWHOST"},
		{map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{map[string]string{"VOTE1VALUE": "Dogs"}, "VOTE1VALUE"},
		{map[string]string{"VOTE2VALUE": "reset"}, "VOTE1VALUE/VOTE2VALUE"},
		{map[string]string{"GETVALUE": "Cats"}, "GETVALUE"},
		{map[string]string{"TITLE": strings.Repeat("x", 201)}, "TITLE"},
		{map[string]string{"METERING_SCHEDULE": "every hour"}, "METERING_SCHEDULE"},
		{map[string]string{"METERING_GRACE": "5"}, "METERING_GRACE"},
		{map[string]string{"METERING_GRACE": "2h"}, "METERING_GRACE"},
		{map[string]string{"METERING_DIMENSION": "per vote"}, "METERING_DIMENSION"},
		{map[string]string{"METERING_ENDPOINT": "http://metering.example/api"}, "METERING_ENDPOINT"},
		{map[string]string{"METERING_ENDPOINT": "https://metering.example/v1"}, "METERING_ENDPOINT"},
		{map[string]string{"METERING_ENDPOINT": "ftp://127.0.0.1/api"}, "METERING_ENDPOINT"},
		{map[string]string{"METERING_ENDPOINT": "not a url"}, "METERING_ENDPOINT"},
		{map[string]string{"METERING_PRICE": "-1"}, "METERING_PRICE"},
		{map[string]string{"METERING_PRICE": "cheap"}, "METERING_PRICE"},
		{map[string]string{"METERING_INCLUDED": "10"}, "METERING_INCLUDED"},
		{map[string]string{"METERING_TIERS": "1000:0.01"}, "METERING_TIERS is set without METERING_PRICE"},
		{map[string]string{"METERING_PRICE": "1", "METERING_TIERS": "1000"}, `METERING_TIERS="1000": tier 1 ("1000") is not threshold:price`},
		{map[string]string{"METERING_PRICE": "1", "METERING_TIERS": "1000:0.5,"}, `METERING_TIERS="1000:0.5,": tier 2 ("") is not threshold:price`},
		{map[string]string{"METERING_PRICE": "1", "METERING_TIERS": "0:0.5"}, `METERING_TIERS="0:0.5": tier 1: threshold "0" must be a number > 0`},
		{map[string]string{"METERING_PRICE": "1", "METERING_TIERS": "lots:0.5"}, "METERING_TIERS"},
		{map[string]string{"METERING_PRICE": "1", "METERING_TIERS": "1e999:0.5"}, "METERING_TIERS"},
		{map[string]string{"METERING_PRICE": "1", "METERING_TIERS": "100:-1"}, `METERING_TIERS="100:-1": tier 1: price "-1" must be a number >= 0`},
		{map[string]string{"METERING_PRICE": "1", "METERING_TIERS": "100:NaN"}, "METERING_TIERS"},
		{map[string]string{"METERING_PRICE": "1", "METERING_TIERS": "100:0.5,100:0.4"}, `METERING_TIERS="100:0.5,100:0.4": tier 2: thresholds must rise (100 after 100)`},
		{map[string]string{"METERING_PRICE": "1", "METERING_TIERS": "100:0.5,50:0.4"}, "METERING_TIERS"},
		{map[string]string{"DEMO_SPEED": "fast"}, `DEMO_SPEED="fast": must be a number`},
		{map[string]string{"DEMO_SPEED": "0.5"}, "DEMO_SPEED=0.5: must be between 1 and 3600"},
		{map[string]string{"DEMO_SPEED": "100000"}, "DEMO_SPEED=100000: must be between 1 and 3600"},
		{map[string]string{"DEMO_SPEED": "60", "EXTENSION_RESOURCE_ID": "/subscriptions/x", "PLAN_ID": "basic"}, "DEMO_SPEED=60: the demo clock runs only in local mode"},
		{map[string]string{"DEMO_SPEED": "60", "METERING_ENDPOINT": "http://127.0.0.1:8090/api"}, "DEMO_SPEED=60: the demo clock runs only in local mode"},
		{map[string]string{"METERING_CURRENCY": "US dollars"}, "METERING_CURRENCY"},
	} {
		_, err := FromEnv(env(tc.env))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one starting with %s", tc.env, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error is not one line: %q", tc.env, err)
		}
	}
}

// A METERING_ENDPOINT is refused without repeating its user information,
// whatever else is wrong with it.
func TestEndpointErrorsHideUserInfo(t *testing.T) {
	for _, ep := range []string{
		"ftp://user:s3cret@127.0.0.1/api", "ftp://s3cret@127.0.0.1/api", "https://user:s3cret@example.test/api",
		"http://user:s3cret@10.0.0.1/api", "https://user:s3cret@example.test/v1", "https://user:s3cret@host:port/api",
		"user:s3cret@example.test/api", "https://user:s3cret@exa mple.test/api", "%zz://user:s3cret@h/api",
	} {
		_, err := FromEnv(env(map[string]string{"METERING_ENDPOINT": ep}))
		if err == nil || !strings.HasPrefix(err.Error(), "METERING_ENDPOINT") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: err = %v, want METERING_ENDPOINT refused without the secret", ep, err)
		}
	}
}

func TestDemoClockInLocalMode(t *testing.T) {
	c, err := FromEnv(env(map[string]string{"DEMO_SPEED": "60", "METERING_CURRENCY": " USD "}))
	if err != nil {
		t.Fatal(err)
	}
	if c.DemoSpeed != 60 || c.Metering.Currency != "USD" {
		t.Fatalf("DemoSpeed %v, Currency %q", c.DemoSpeed, c.Metering.Currency)
	}
	for _, name := range []string{"DEMO_SPEED", "METERING_CURRENCY"} {
		if !slices.Contains(EnvNames(), name) {
			t.Errorf("EnvNames lacks %s", name)
		}
	}
}

func TestLoopbackEndpoints(t *testing.T) {
	for _, ep := range []string{"http://127.0.0.1:8090/api", "http://localhost:8090/api", "http://[::1]:8090/api", "https://marketplaceapi.microsoft.com/api"} {
		if _, err := FromEnv(env(map[string]string{"METERING_ENDPOINT": ep})); err != nil {
			t.Errorf("%s refused: %v", ep, err)
		}
	}
}

func TestTiers(t *testing.T) {
	c, err := FromEnv(env(map[string]string{"METERING_PRICE": "0.02", "METERING_TIERS": " 1000:0.01 , 10000 : 0.005 "}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Metering.Pricing == nil {
		t.Fatal("no rate card with METERING_PRICE set")
	}
	want := []usage.Tier{{From: 1000, Price: 0.01}, {From: 10000, Price: 0.005}}
	if got := c.Metering.Pricing.Tiers; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("tiers = %+v, want %+v", got, want)
	}
	if !slices.Contains(EnvNames(), "METERING_TIERS") {
		t.Error("EnvNames lacks METERING_TIERS")
	}
}
