package config

import (
	"strings"
	"testing"
	"time"
)

func TestServingSettings(t *testing.T) {
	c, err := FromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.MetricsPort != DefaultMetricsPort || c.UsagePrivate || c.ShutdownDrain != 0 {
		t.Errorf("defaults: metrics port %d, usage private %v, drain %s", c.MetricsPort, c.UsagePrivate, c.ShutdownDrain)
	}
	c, err = FromEnv(env(map[string]string{"METRICS_PORT": "9464", "USAGE_PAGE": "Private", "SHUTDOWN_DRAIN": "10s"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.MetricsPort != 9464 || !c.UsagePrivate || c.ShutdownDrain != 10*time.Second {
		t.Errorf("values: metrics port %d, usage private %v, drain %s", c.MetricsPort, c.UsagePrivate, c.ShutdownDrain)
	}
	if c, err := FromEnv(env(map[string]string{"METRICS_PORT": "0"})); err != nil || c.MetricsPort != 0 {
		t.Errorf("METRICS_PORT=0: %d, %v; want metrics off", c.MetricsPort, err)
	}

	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"METRICS_PORT": "metrics"}, "METRICS_PORT"},
		{map[string]string{"METRICS_PORT": "70000"}, "METRICS_PORT"},
		{map[string]string{"METRICS_PORT": "8080"}, "METRICS_PORT=8080: must differ from PORT"},
		{map[string]string{"PORT": "9090"}, "METRICS_PORT=9090: must differ from PORT"},
		{map[string]string{"USAGE_PAGE": "hidden"}, `USAGE_PAGE="hidden": must be public or private`},
		{map[string]string{"USAGE_PAGE": "private", "METRICS_PORT": "0"}, "USAGE_PAGE=private needs METRICS_PORT"},
		{map[string]string{"SHUTDOWN_DRAIN": "5"}, "SHUTDOWN_DRAIN"},
		{map[string]string{"SHUTDOWN_DRAIN": "-1s"}, "SHUTDOWN_DRAIN"},
		{map[string]string{"SHUTDOWN_DRAIN": "1h"}, "SHUTDOWN_DRAIN"},
	} {
		_, err := FromEnv(env(tc.env))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one starting with %s", tc.env, err, tc.want)
		}
	}
}
