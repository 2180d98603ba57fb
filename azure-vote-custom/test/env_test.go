package test

import (
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/azure-vote/azure-vote/internal/config"
	corev1 "k8s.io/api/core/v1"
)

// frontEnv resolves the front container's environment as the kubelet would:
// literal values, the ConfigMap it reads and the rendered password Secret.
func frontEnv(t *testing.T, r rendered) map[string]string {
	t.Helper()
	front := container(t, frontDeployment(t, r).Spec.Template.Spec, "front")
	env := map[string]string{}
	for _, from := range front.EnvFrom {
		if from.ConfigMapRef == nil || from.Prefix != "" {
			t.Fatalf("envFrom %+v: only a plain ConfigMap is expected", from)
		}
		for k, v := range named[corev1.ConfigMap](t, r, from.ConfigMapRef.Name).Data {
			env[k] = v
		}
	}
	for _, e := range front.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("%s is set twice", e.Name)
		}
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			env[e.Name] = string(named[corev1.Secret](t, r, ref.Name).Data[ref.Key])
		default:
			t.Fatalf("%s: unexpected source %+v", e.Name, e.ValueFrom)
		}
	}
	return env
}

// TestFrontEnvMatchesApp feeds the environment the chart gives the front
// container to the app's own configuration loader: the chart can set only
// variables the app reads, must set those it needs, and every value it
// produces must be one the app accepts. Chart and app cannot drift apart.
func TestFrontEnvMatchesApp(t *testing.T) {
	known := config.EnvNames()
	required := []string{
		"TITLE", "VOTE1VALUE", "VOTE2VALUE", "GETVALUE", "PORT", "REDIS", "REDIS_PWD",
		"CLIENT_ID", "EXTENSION_RESOURCE_ID", "PLAN_ID",
	}
	cases := []struct {
		name  string
		vals  map[string]any
		check func(t *testing.T, c config.Config)
	}{
		{
			name: "defaults",
			check: func(t *testing.T, c config.Config) {
				if c.Title != "Azure Vote Custom App" || c.Vote1 != "Cats" || c.Vote2 != "Dogs" || c.GetValue != "Get last one day usage" {
					t.Errorf("page settings %q %q %q %q", c.Title, c.Vote1, c.Vote2, c.GetValue)
				}
				if c.Port != frontPort || c.Redis != redisName+":6379" || len(c.RedisPwd) != generatedPw {
					t.Errorf("port %d, redis %q, password of %d characters", c.Port, c.Redis, len(c.RedisPwd))
				}
				if c.RedisPrefix != config.DefaultPrefix {
					t.Errorf("prefix %q, want the app default", c.RedisPrefix)
				}
				// Outside Marketplace the identity stays DONOTMODIFY, so the
				// app reports to its emulator rather than bill anyone.
				if !c.Metering.Local() {
					t.Error("a plain install would report to Azure")
				}
				if c.Metering.Dimension != "pervote" || c.Metering.Pricing != nil {
					t.Errorf("dimension %q, pricing %+v", c.Metering.Dimension, c.Metering.Pricing)
				}
			},
		},
		{
			name: "marketplace install",
			vals: overlay(
				"global.azure.identity.clientId", "11111111-2222-3333-4444-555555555555",
				"global.azure.marketplace.planId", "standard",
				"global.azure.extension.resourceId", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c/providers/Microsoft.KubernetesConfiguration/extensions/vote",
				"title", "Lunch poll",
				"value1", "Pizza",
				"value2", "Sushi",
				"showHost", true,
				"logLevel", "debug",
				"redis.keyPrefix", "{azure-vote}:",
			),
			check: func(t *testing.T, c config.Config) {
				m := c.Metering
				if m.Local() || m.PlanID != "standard" || m.ClientID != "11111111-2222-3333-4444-555555555555" ||
					m.ResourceID != "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c/providers/Microsoft.KubernetesConfiguration/extensions/vote" {
					t.Errorf("metering identity %+v", m)
				}
				if c.Title != "Lunch poll" || c.Vote1 != "Pizza" || c.Vote2 != "Sushi" || !c.ShowHost {
					t.Errorf("page settings %+v", c)
				}
				if c.LogLevel != slog.LevelDebug || c.RedisPrefix != "{azure-vote}:" {
					t.Errorf("log level %v, prefix %q", c.LogLevel, c.RedisPrefix)
				}
			},
		},
		{
			name: "metering settings",
			vals: overlay(
				"metering.endpoint", "https://metering.example.com/api",
				"metering.dimension", "votes",
				"metering.schedule", "*/10 * * * *",
				"metering.grace", "90s",
				"metering.price", 0.01,
				"metering.included", 1000,
				"metering.tiers", "5000:0.008",
			),
			check: func(t *testing.T, c config.Config) {
				m := c.Metering
				if m.Endpoint != "https://metering.example.com/api" || m.Dimension != "votes" || m.Schedule != "*/10 * * * *" || m.Grace != 90*time.Second {
					t.Errorf("metering %+v", m)
				}
				if m.Pricing == nil {
					t.Fatal("no rate card")
				}
				if m.Pricing.Price != 0.01 || m.Pricing.Included != 1000 ||
					len(m.Pricing.Tiers) != 1 || m.Pricing.Tiers[0].From != 5000 || m.Pricing.Tiers[0].Price != 0.008 {
					t.Errorf("pricing %+v, want 0.01 with 1000 included and 0.008 above 5000", m.Pricing)
				}
			},
		},
		{
			name: "extension manager settings",
			vals: setValues(t, extensionSettings...),
			check: func(t *testing.T, c config.Config) {
				if c.Title != "123" || c.Vote1 != "true" || c.Metering.PlanID != "standard" {
					t.Errorf("title %q, vote1 %q, plan %q: want 123, true and standard", c.Title, c.Vote1, c.Metering.PlanID)
				}
				if !c.UsagePrivate || c.MetricsPort == 0 || c.MetricsPort == c.Port || c.ShutdownDrain != 10*time.Second {
					t.Errorf("usage private %v, metrics port %d, drain %s", c.UsagePrivate, c.MetricsPort, c.ShutdownDrain)
				}
			},
		},
		{
			name: "price as a string",
			vals: overlay("metering.price", "0.25"),
			check: func(t *testing.T, c config.Config) {
				if c.Metering.Pricing == nil || c.Metering.Pricing.Price != 0.25 {
					t.Errorf("pricing %+v, want 0.25", c.Metering.Pricing)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := frontEnv(t, mustInstall(t, tc.vals))
			for name := range env {
				if !slices.Contains(known, name) {
					t.Errorf("the chart sets %s, which the app does not read", name)
				}
			}
			for _, name := range required {
				if _, ok := env[name]; !ok {
					t.Errorf("the chart does not set %s", name)
				}
			}
			cfg, err := config.FromEnv(func(k string) string { return env[k] })
			if err != nil {
				t.Fatalf("the app rejects the chart's environment: %v", err)
			}
			tc.check(t, cfg)
		})
	}
}
