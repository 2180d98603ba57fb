package config

import (
	"math"
	"net/url"
	"strings"
	"testing"
	"time"
)

// endpointMark is the password put in a fuzzed METERING_ENDPOINT's user
// information: it must never come out in an error.
const endpointMark = "Ep4sEcReT"

// FuzzFromEnv reads any values of the settings that are parsed. No panic;
// a refusal is one line that starts with the name of a variable and never
// shows the endpoint's user information; an accepted configuration holds
// only values in range. The corpus in testdata/fuzz runs with every go test.
func FuzzFromEnv(f *testing.F) {
	f.Add("8080", "1024", "info", "https://u@example.test/api", "5m", "0.02", "100", "1000:0.01,10000:0.008", "Cats", "Dogs", "5 * * * *")
	f.Add("eighty", "-1", "loud", "ftp://u@127.0.0.1/api", "2h", "-1", "10", "1000", "reset", "Dogs", "every hour")
	f.Add("0", "many", "", "http://u@10.0.0.1/api", "5", "cheap", "", "100:0.5,50:0.4", "Cats", "Cats", "")
	f.Add("", "", "DEBUG", "u@example.test/api", "", "1e999", "NaN", "100:NaN", "", "", "61 * * * *")
	f.Fuzz(func(t *testing.T, port, maxConns, level, endpoint, grace, price, included, tiers, vote1, vote2, schedule string) {
		endpoint = strings.Replace(endpoint, "@", ":"+endpointMark+"@", 1)
		values := map[string]string{
			"PORT": port, "MAX_CONNECTIONS": maxConns, "LOG_LEVEL": level, "METERING_ENDPOINT": endpoint,
			"METERING_GRACE": grace, "METERING_PRICE": price, "METERING_INCLUDED": included, "METERING_TIERS": tiers,
			"VOTE1VALUE": vote1, "VOTE2VALUE": vote2, "METERING_SCHEDULE": schedule,
		}
		for name, v := range values {
			if name != "METERING_ENDPOINT" && strings.Contains(v, endpointMark) {
				return // the mark must be only where we put it
			}
		}
		c, err := FromEnv(func(k string) string { return values[k] })
		if err != nil {
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error of more than one line: %q", msg)
			}
			if strings.Contains(msg, endpointMark) {
				t.Errorf("METERING_ENDPOINT=%q: the error shows its user information: %s", endpoint, msg)
			}
			named := false
			for _, name := range EnvNames() {
				named = named || strings.HasPrefix(msg, name)
			}
			if !named {
				t.Errorf("error names no variable: %s", msg)
			}
			return
		}
		m := c.Metering
		switch {
		case c.Port < 1 || c.Port > 65535, c.MaxConnections < 0:
			t.Errorf("accepted PORT %d, MAX_CONNECTIONS %d", c.Port, c.MaxConnections)
		case c.Vote1 == c.Vote2:
			t.Errorf("accepted the same choice twice: %q", c.Vote1)
		case m.Grace < 0 || m.Grace >= 55*time.Minute:
			t.Errorf("accepted METERING_GRACE %v", m.Grace)
		case hasUserInfo(m.Endpoint):
			t.Errorf("accepted an endpoint with user information: %q", m.Endpoint)
		}
		p := m.Pricing
		if p == nil {
			if strings.TrimSpace(price) != "" {
				t.Errorf("METERING_PRICE=%q accepted without a rate card", price)
			}
			return
		}
		prev := math.Inf(-1)
		for _, tier := range p.Tiers {
			if !(tier.From > prev) || !(tier.Price >= 0) || math.IsInf(tier.From, 0) || math.IsInf(tier.Price, 0) {
				t.Errorf("accepted tiers %+v", p.Tiers)
			}
			prev = tier.From
		}
		if !(p.Price >= 0) || !(p.Included >= 0) {
			t.Errorf("accepted price %v, included %v", p.Price, p.Included)
		}
		for _, q := range []float64{0, 1, 999.5, 1e6} {
			if cost := p.Cost(q); !(cost >= 0) || p.Cost(q+1) < cost {
				t.Errorf("Cost(%v) = %v, Cost(%v) = %v: not a growing amount", q, cost, q+1, p.Cost(q+1))
			}
		}
	})
}

func hasUserInfo(endpoint string) bool {
	u, err := url.Parse(endpoint)
	return err == nil && u.User != nil
}
