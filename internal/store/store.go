package store

import (
	"fmt"
	"strconv"
	"time"
)

// Defaults of [Options].
const (
	DefaultPrefix    = "azure-vote:"
	DefaultDimension = "pervote"
	DefaultTokenTTL  = 24 * time.Hour
)

// MaxTokenLen bounds a vote token: it becomes part of a key, and a client
// chooses it.
const MaxTokenLen = 64

// Options are the settings both stores share.
type Options struct {
	// Prefix starts every Redis key; default "azure-vote:". With Redis
	// Cluster it must hold a hash tag, e.g. "{azure-vote}:". Unused by bbolt.
	Prefix string
	// Dimension is the usage dimension a vote counts for; default "pervote".
	Dimension string
	// Now is the clock for ledger housekeeping, in-process lock expiry and
	// the embedded store's vote tokens; default time.Now.
	Now func() time.Time
	// WaitReplicas, when above zero, acknowledges a vote only once that many
	// Redis replicas hold it (Redis WAIT, up to WaitTimeout): replication is
	// asynchronous, so a failover can otherwise lose votes already answered.
	// A vote that is not replicated in time is answered "not confirmed",
	// which its token makes safe to resend. Costs a round trip per group.
	WaitReplicas int
	// WaitTimeout bounds the wait for replicas; default 500ms.
	WaitTimeout time.Duration
	// TokenTTL is how long a vote token is remembered, so that a vote sent
	// again with it is not counted again; default 24h.
	TokenTTL time.Duration
}

func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Dimension == "" {
		o.Dimension = DefaultDimension
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = 500 * time.Millisecond
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	// Redis keeps expiries in milliseconds.
	o.TokenTTL = max(o.TokenTTL, time.Millisecond)
	return o
}

// checkToken refuses a vote token longer than MaxTokenLen. "" is no token.
func checkToken(token string) error {
	if len(token) > MaxTokenLen {
		return fmt.Errorf("store: vote token of %d bytes, over the %d allowed", len(token), MaxTokenLen)
	}
	return nil
}

// parseCount reads a stored count.
func parseCount(choice, raw string) (int64, error) {
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("store: count of %q is %q, not an integer", choice, raw)
	}
	return n, nil
}
