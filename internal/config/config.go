// Package config reads the application's settings from the environment:
// every variable typed, defaulted and validated in one place, so that a bad
// value stops the program at start with one line naming the variable.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/usage"
)

// Placeholder is what the chart's values hold until Azure fills them in at
// deployment; it means "not configured".
const Placeholder = "DONOTMODIFY"

// Config is every setting of the application.
type Config struct {
	Title    string // TITLE
	Vote1    string // VOTE1VALUE
	Vote2    string // VOTE2VALUE
	GetValue string // GETVALUE: label of the usage button
	ShowHost bool   // SHOWHOST: put the host name in the title

	Port        int        // PORT
	LogLevel    slog.Level // LOG_LEVEL
	Redis       string     // REDIS: empty selects the embedded store
	RedisPwd    string     // REDIS_PWD
	RedisPrefix string     // REDIS_PREFIX; see RedisKeyPrefix for Redis Cluster
	// RedisPrefixSet says REDIS_PREFIX was given: with Redis Cluster the
	// default is then DefaultClusterPrefix.
	RedisPrefixSet bool
	DataDir        string // DATA_DIR: the embedded store's directory
	// DemoSpeed (DEMO_SPEED) runs the app's clock this many times faster
	// than the wall clock, in local mode only: 60 makes a minute an hour.
	// Zero is the wall clock.
	DemoSpeed float64

	// RedisWaitReplicas (REDIS_WAIT_REPLICAS) is how many Redis replicas
	// must hold a vote before it is acknowledged; 0 acknowledges it once
	// the primary has it.
	RedisWaitReplicas int

	// MaxConnections (MAX_CONNECTIONS) bounds the HTTP connections open at
	// once, half of them idle at most; 0 sets no bound.
	MaxConnections int

	Metering Metering

	// MetricsPort (METRICS_PORT) serves /metrics, and the usage page when
	// UsagePrivate, on a port of its own that no public Service exposes;
	// 0 serves neither.
	MetricsPort int
	// UsagePrivate (USAGE_PAGE=private) keeps /usage and /api/usage off the
	// public port.
	UsagePrivate bool
	// ShutdownDrain (SHUTDOWN_DRAIN): on SIGTERM, how long /readyz answers
	// 503 while requests are still served, so that load balancers stop
	// sending before the listener closes.
	ShutdownDrain time.Duration
}

// Metering is the configuration of usage reporting.
type Metering struct {
	ClientID   string        // CLIENT_ID: managed identity client id
	ResourceID string        // EXTENSION_RESOURCE_ID: resourceUri (ARM path) or resourceId (GUID)
	PlanID     string        // PLAN_ID
	Endpoint   string        // METERING_ENDPOINT: base URL ending in /api; empty = local or production (see Local)
	Dimension  string        // METERING_DIMENSION
	Schedule   string        // METERING_SCHEDULE: cron spec, UTC
	Grace      time.Duration // METERING_GRACE: how long after an hour ends before it is reported
	Currency   string        // METERING_CURRENCY: shown before amounts; empty shows none
	// Pricing is the rate card of the estimated charges (METERING_PRICE,
	// METERING_INCLUDED, METERING_TIERS); nil without METERING_PRICE.
	Pricing *usage.RateCard
}

// Local reports whether the app runs its own metering emulator and reports to
// it: no Marketplace resource and plan were configured and no endpoint chosen.
// This is what a fresh machine gets from `go run .`.
func (m Metering) Local() bool {
	return m.Endpoint == "" && (unset(m.ResourceID) || unset(m.PlanID))
}

func unset(s string) bool { return s == "" || s == Placeholder }

// unlessPlaceholder reads key, trimmed, as "" while it holds the chart's
// Placeholder: outside Marketplace Azure fills in no identity.
func (p *parser) unlessPlaceholder(key string) string {
	v := strings.TrimSpace(p.getenv(key))
	if strings.EqualFold(v, Placeholder) {
		return ""
	}
	return v
}

// EnvNames lists every environment variable the application reads, so the
// Helm chart's tests can check that the chart and the app agree.
func EnvNames() []string {
	return []string{
		"TITLE", "VOTE1VALUE", "VOTE2VALUE", "GETVALUE", "SHOWHOST",
		"PORT", "MAX_CONNECTIONS", "LOG_LEVEL", "REDIS", "REDIS_PWD", "REDIS_PREFIX", "REDIS_WAIT_REPLICAS", "DATA_DIR", "DEMO_SPEED",
		"CLIENT_ID", "EXTENSION_RESOURCE_ID", "PLAN_ID",
		"METERING_ENDPOINT", "METERING_DIMENSION", "METERING_SCHEDULE", "METERING_GRACE",
		"METERING_PRICE", "METERING_INCLUDED", "METERING_TIERS", "METERING_CURRENCY",
		"METRICS_PORT", "USAGE_PAGE", "SHUTDOWN_DRAIN",
	}
}

// Defaults of the settings that have one.
const (
	DefaultTitle     = "Azure Voting Custom App"
	DefaultVote1     = "Cats"
	DefaultVote2     = "Dogs"
	DefaultGetValue  = "Get last one day usage"
	DefaultPort      = 8080
	DefaultPrefix    = "azure-vote:"
	DefaultDataDir   = "./data"
	DefaultDimension = "pervote"
	DefaultSchedule  = "5 * * * *"
	DefaultGrace     = 5 * time.Minute

	DefaultMetricsPort = 9090
	// MaxShutdownDrain bounds SHUTDOWN_DRAIN: a drain is seconds, and the
	// chart's termination grace period must cover it.
	MaxShutdownDrain = 2 * time.Minute
)

// DefaultMaxConnections keeps the memory of open connections near 22 MB,
// far inside the chart's 256 MiB limit (the README has the benchmark).
const DefaultMaxConnections = 1024

// FromEnv reads the configuration with getenv (os.Getenv in main, a map in
// tests) and validates it. The error names the first bad variable.
func FromEnv(getenv func(string) string) (Config, error) {
	p := parser{getenv: getenv}
	c := Config{
		Title:          p.str("TITLE", DefaultTitle),
		Vote1:          p.str("VOTE1VALUE", DefaultVote1),
		Vote2:          p.str("VOTE2VALUE", DefaultVote2),
		GetValue:       p.str("GETVALUE", DefaultGetValue),
		ShowHost:       p.boolean("SHOWHOST"),
		Port:           p.integer("PORT", DefaultPort),
		LogLevel:       p.level("LOG_LEVEL"),
		Redis:          strings.TrimSpace(getenv("REDIS")),
		RedisPwd:       getenv("REDIS_PWD"),
		RedisPrefix:    p.str("REDIS_PREFIX", DefaultPrefix),
		RedisPrefixSet: strings.TrimSpace(getenv("REDIS_PREFIX")) != "",
		DataDir:        p.str("DATA_DIR", DefaultDataDir),
		DemoSpeed:      p.quantity("DEMO_SPEED"),
		Metering: Metering{
			ClientID:   p.unlessPlaceholder("CLIENT_ID"),
			ResourceID: strings.TrimSpace(getenv("EXTENSION_RESOURCE_ID")),
			PlanID:     strings.TrimSpace(getenv("PLAN_ID")),
			Endpoint:   strings.TrimRight(strings.TrimSpace(getenv("METERING_ENDPOINT")), "/"),
			Dimension:  p.str("METERING_DIMENSION", DefaultDimension),
			Schedule:   p.str("METERING_SCHEDULE", DefaultSchedule),
			Grace:      p.duration("METERING_GRACE", DefaultGrace),
			Currency:   strings.TrimSpace(getenv("METERING_CURRENCY")),
			Pricing:    p.rateCard(),
		},
	}
	c.MetricsPort = p.integer("METRICS_PORT", DefaultMetricsPort)
	c.UsagePrivate = p.usagePage("USAGE_PAGE")
	c.ShutdownDrain = p.duration("SHUTDOWN_DRAIN", 0)
	c.MaxConnections = p.integer("MAX_CONNECTIONS", DefaultMaxConnections)
	c.RedisWaitReplicas = p.integer("REDIS_WAIT_REPLICAS", 0)
	if p.err != nil {
		return Config{}, p.err
	}
	return c, c.Validate()
}

// Validate checks the settings that depend on each other or on a format.
func (c Config) Validate() error {
	switch {
	case c.Vote1 == c.Vote2:
		return errors.New("VOTE1VALUE and VOTE2VALUE must differ")
	case strings.EqualFold(c.Vote1, "reset") || strings.EqualFold(c.Vote2, "reset"):
		return errors.New(`VOTE1VALUE/VOTE2VALUE: "reset" is the reset button's value`)
	case c.GetValue == c.Vote1 || c.GetValue == c.Vote2 || strings.EqualFold(c.GetValue, "reset"):
		return errors.New("GETVALUE must differ from the vote choices and from reset")
	case c.Port < 1 || c.Port > 65535:
		return fmt.Errorf("PORT=%d: must be 1-65535", c.Port)
	case c.MaxConnections < 0:
		return fmt.Errorf("MAX_CONNECTIONS=%d: must be 0 (no bound) or more", c.MaxConnections)
	case c.RedisWaitReplicas < 0 || c.RedisWaitReplicas > 16:
		return fmt.Errorf("REDIS_WAIT_REPLICAS=%d: must be 0 (do not wait) to 16", c.RedisWaitReplicas)
	case c.RedisWaitReplicas > 0 && c.Redis == "":
		return fmt.Errorf("REDIS_WAIT_REPLICAS=%d: needs REDIS; the embedded store has no replicas", c.RedisWaitReplicas)
	}
	for name, v := range map[string]string{"TITLE": c.Title, "VOTE1VALUE": c.Vote1, "VOTE2VALUE": c.Vote2, "GETVALUE": c.GetValue} {
		if len(v) > 200 {
			return fmt.Errorf("%s: at most 200 characters", name)
		}
	}
	if err := c.validateServing(); err != nil {
		return err
	}
	m := c.Metering
	if c.DemoSpeed != 0 {
		if err := validateDemoSpeed(c.DemoSpeed, m); err != nil {
			return fmt.Errorf("DEMO_SPEED=%s: %v", strconv.FormatFloat(c.DemoSpeed, 'f', -1, 64), err)
		}
	}
	if len(m.Currency) > 8 {
		return fmt.Errorf("METERING_CURRENCY=%q: at most 8 characters, e.g. USD or €", m.Currency)
	}
	if _, err := cron.ParseStandard(m.Schedule); err != nil {
		return fmt.Errorf("METERING_SCHEDULE=%q: %v", m.Schedule, err)
	}
	if m.Grace < 0 || m.Grace >= 55*time.Minute {
		return fmt.Errorf("METERING_GRACE=%s: must be between 0 and 55m", m.Grace)
	}
	if strings.ContainsAny(m.Dimension, " /\\:") {
		return fmt.Errorf("METERING_DIMENSION=%q: a dimension id has no spaces, slashes or colons", m.Dimension)
	}
	if m.Endpoint != "" {
		if err := metering.CheckEndpoint(m.Endpoint); err != nil {
			return fmt.Errorf("METERING_ENDPOINT=%q: %v", redactedURL(m.Endpoint), err)
		}
	}
	return nil
}

func (c Config) validateServing() error {
	switch {
	case c.MetricsPort < 0 || c.MetricsPort > 65535:
		return fmt.Errorf("METRICS_PORT=%d: must be 0 (off) or 1-65535", c.MetricsPort)
	case c.MetricsPort == c.Port:
		return fmt.Errorf("METRICS_PORT=%d: must differ from PORT, which the public Service exposes", c.MetricsPort)
	case c.UsagePrivate && c.MetricsPort == 0:
		return errors.New("USAGE_PAGE=private needs METRICS_PORT, the port it is served on")
	case c.ShutdownDrain < 0 || c.ShutdownDrain > MaxShutdownDrain:
		return fmt.Errorf("SHUTDOWN_DRAIN=%s: must be between 0 and %s", c.ShutdownDrain, MaxShutdownDrain)
	}
	return nil
}

// MaxDemoSpeed bounds DEMO_SPEED: at 3600 a second is an hour, about as
// fast as a pass and a page can follow.
const MaxDemoSpeed = 3600

// validateDemoSpeed allows a demo clock only where nothing real is billed:
// the built-in emulator of local mode.
func validateDemoSpeed(speed float64, m Metering) error {
	switch {
	case speed < 1 || speed > MaxDemoSpeed:
		return fmt.Errorf("must be between 1 and %d (60 makes a minute an hour)", MaxDemoSpeed)
	case !m.Local():
		return errors.New("the demo clock runs only in local mode, never against a real Metering API: " +
			"unset METERING_ENDPOINT, or EXTENSION_RESOURCE_ID and PLAN_ID")
	}
	return nil
}

// redactedURL is s for an error message, without its user information,
// also when s does not parse: a URL's userinfo is a password.
func redactedURL(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = url.User("xxxxx") // the user name too: it may be a token
		return u.String()
	}
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		return scheme + "://xxxxx" + rest[strings.LastIndex(rest, "@"):]
	}
	return "(not shown: it holds user information)"
}

// parser collects the first error while reading variables.
type parser struct {
	getenv func(string) string
	err    error
}

func (p *parser) fail(name, v, why string) {
	if p.err == nil {
		p.err = fmt.Errorf("%s=%q: %s", name, v, why)
	}
}

func (p *parser) str(name, def string) string {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	return v
}

func (p *parser) boolean(name string) bool {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, v, "must be true or false")
	}
	return b
}

func (p *parser) integer(name string, def int) int {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		p.fail(name, v, "must be a whole number")
	}
	return n
}

func (p *parser) duration(name string, def time.Duration) time.Duration {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.fail(name, v, "must be a duration such as 5m")
	}
	return d
}

// usagePage reads USAGE_PAGE: public (the default) or private.
func (p *parser) usagePage(name string) (private bool) {
	switch v := strings.TrimSpace(p.getenv(name)); strings.ToLower(v) {
	case "", "public":
		return false
	case "private":
		return true
	default:
		p.fail(name, v, "must be public or private")
		return false
	}
}

func (p *parser) quantity(name string) float64 {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		p.fail(name, v, "must be a number >= 0")
	}
	return f
}

// rateCard reads the rate card: nil without METERING_PRICE, the price
// below the first tier, which METERING_INCLUDED and METERING_TIERS need.
func (p *parser) rateCard() *usage.RateCard {
	card := &usage.RateCard{
		Price:    p.quantity("METERING_PRICE"),
		Included: p.quantity("METERING_INCLUDED"),
		Tiers:    p.tiers("METERING_TIERS"),
	}
	switch {
	case strings.TrimSpace(p.getenv("METERING_PRICE")) != "":
		return card
	case p.err != nil:
	case card.Included != 0:
		p.err = errors.New("METERING_INCLUDED is set without METERING_PRICE")
	case len(card.Tiers) > 0:
		p.err = errors.New("METERING_TIERS is set without METERING_PRICE, the price below the first tier")
	}
	return nil
}

// tiers reads "threshold:price,threshold:price,...", thresholds rising:
// the price of each unit of the month above the threshold.
func (p *parser) tiers(name string) []usage.Tier {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return nil
	}
	var tiers []usage.Tier
	for i, item := range strings.Split(v, ",") {
		from, price, ok := strings.Cut(strings.TrimSpace(item), ":")
		if !ok {
			p.fail(name, v, fmt.Sprintf("tier %d (%q) is not threshold:price, e.g. 1000:0.01", i+1, strings.TrimSpace(item)))
			return nil
		}
		t := usage.Tier{From: number(from), Price: number(price)}
		switch {
		case !(t.From > 0):
			p.fail(name, v, fmt.Sprintf("tier %d: threshold %q must be a number > 0", i+1, strings.TrimSpace(from)))
			return nil
		case !(t.Price >= 0):
			p.fail(name, v, fmt.Sprintf("tier %d: price %q must be a number >= 0", i+1, strings.TrimSpace(price)))
			return nil
		case len(tiers) > 0 && t.From <= tiers[len(tiers)-1].From:
			p.fail(name, v, fmt.Sprintf("tier %d: thresholds must rise (%v after %v)", i+1, t.From, tiers[len(tiers)-1].From))
			return nil
		}
		tiers = append(tiers, t)
	}
	return tiers
}

// number parses a finite decimal; anything else is NaN, which every
// range check refuses.
func number(s string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsInf(f, 0) {
		return math.NaN()
	}
	return f
}

func (p *parser) level(name string) slog.Level {
	v := strings.TrimSpace(p.getenv(name))
	var l slog.Level
	if v == "" {
		return slog.LevelInfo
	}
	if err := l.UnmarshalText([]byte(v)); err != nil {
		p.fail(name, v, "must be debug, info, warn or error")
	}
	return l
}
