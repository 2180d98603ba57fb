package config

import (
	"log/slog"
	"strings"
	"testing"
	"time"
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
		!c.Metering.Pricing.Set || c.Metering.Pricing.Price != 0.01 || c.Metering.Pricing.Included != 1000 {
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

func TestLoopbackEndpoints(t *testing.T) {
	for _, ep := range []string{"http://127.0.0.1:8090/api", "http://localhost:8090/api", "http://[::1]:8090/api", "https://marketplaceapi.microsoft.com/api"} {
		if _, err := FromEnv(env(map[string]string{"METERING_ENDPOINT": ep})); err != nil {
			t.Errorf("%s refused: %v", ep, err)
		}
	}
}
