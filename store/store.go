package store

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/azure-vote/azure-vote/metering"
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

// hourLayout names an hour in keys: the UTC hour's start, e.g. 2026-11-22T08.
const hourLayout = "2006-01-02T15"

// settledRetention is how long a settled, balanced hour stays in Records.
// The reporter never looks further back than the service's 24-hour window,
// so two days leaves it a day of margin.
const settledRetention = 48 * time.Hour

// ErrLockLost is returned by Renew when the reporter lock expired or was
// taken over by another holder.
var ErrLockLost = errors.New("store: reporter lock lost")

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

// hourLabel names the UTC hour holding t.
func hourLabel(t time.Time) string { return metering.HourOf(t).Format(hourLayout) }

func parseHour(label string) (time.Time, error) {
	h, err := time.ParseInLocation(hourLayout, label, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("store: %q is not an hour (want %s)", label, hourLayout)
	}
	return h, nil
}

// forgettable reports whether an hour may be left out of Records: settled by
// the service or a carry, nothing due, and older than the retention.
func forgettable(r metering.Record, now time.Time) bool {
	return r.State.Settled() && r.Due() == 0 && now.Sub(r.Hour) > settledRetention
}

// checkRecord validates what Update and Carry are asked to write.
func checkRecord(rec metering.Record) error {
	if rec.Hour.IsZero() {
		return errors.New("store: ledger record has no hour")
	}
	if rec.Dimension == "" {
		return errors.New("store: ledger record has no dimension")
	}
	if rec.Version < 0 {
		return fmt.Errorf("store: ledger record has negative version %d", rec.Version)
	}
	return nil
}

// checkCarry validates a carry's target and quantity: a carry into its own
// hour, or of a quantity that is not a positive number, would unbalance the
// books.
func checkCarry(from metering.Record, to time.Time, quantity float64) error {
	if err := checkRecord(from); err != nil {
		return err
	}
	if to.IsZero() {
		return errors.New("store: carry has no target hour")
	}
	if metering.HourOf(to).Equal(metering.HourOf(from.Hour)) {
		return fmt.Errorf("store: carry from %s into itself", hourLabel(to))
	}
	if !(quantity > 0) || math.IsInf(quantity, 0) {
		return fmt.Errorf("store: carry quantity %v is not a positive number", quantity)
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

// sortRecords orders records oldest first.
func sortRecords(recs []metering.Record) {
	slices.SortFunc(recs, func(a, b metering.Record) int { return a.Hour.Compare(b.Hour) })
}
