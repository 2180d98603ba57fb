// Package meteringtest helps test code that meters with package metering:
// an in-memory Ledger, a Clock a test moves by hand, and TestLedger, the
// conformance suite any Ledger implementation must pass (as
// testing/fstest.TestFS is for file systems), which ends by running a
// Reporter over the ledger against the emulator.
package meteringtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/azure-vote/azure-vote/metering"
)

// Ledger is a metering.Ledger in memory, for tests and examples: safe for
// concurrent use, its lock expiring on the clock it is given. It never
// forgets an hour.
type Ledger struct {
	now func() time.Time

	mu      sync.Mutex
	counted map[key]float64
	recs    map[key]metering.Record
	locks   map[string]heldLock
}

type key struct {
	dim  string
	hour int64
}

type heldLock struct {
	token   string
	expires time.Time
}

// NewLedger returns an empty Ledger; now (default time.Now) expires locks.
func NewLedger(now func() time.Time) *Ledger {
	if now == nil {
		now = time.Now
	}
	return &Ledger{now: now, counted: map[key]float64{}, recs: map[key]metering.Record{}, locks: map[string]heldLock{}}
}

// Count adds q units of the dimension's usage to the hour holding at, as an
// application does in the same step as the work it bills.
func (l *Ledger) Count(dimension string, at time.Time, q float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counted[key{dimension, metering.HourOf(at).Unix()}] += q
}

func (l *Ledger) record(k key) metering.Record {
	r := l.recs[k]
	r.Hour, r.Dimension, r.Counted = time.Unix(k.hour, 0).UTC(), k.dim, l.counted[k]
	return r
}

// hours lists the dimension's hours with usage or a record, oldest first.
func (l *Ledger) hours(dim string) []key {
	var ks []key
	for k := range l.counted {
		if k.dim == dim {
			ks = append(ks, k)
		}
	}
	for k := range l.recs {
		if _, counted := l.counted[k]; k.dim == dim && !counted {
			ks = append(ks, k)
		}
	}
	slices.SortFunc(ks, func(a, b key) int { return int(a.hour - b.hour) })
	return ks
}

// Records returns every hour of the dimension, oldest first.
func (l *Ledger) Records(ctx context.Context, dimension string) ([]metering.Record, error) {
	return l.History(ctx, dimension, time.Time{})
}

// History returns the dimension's hours from the hour of from on.
func (l *Ledger) History(_ context.Context, dimension string, from time.Time) ([]metering.Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []metering.Record
	for _, k := range l.hours(dimension) {
		if !from.IsZero() && k.hour < metering.HourOf(from).Unix() {
			continue
		}
		out = append(out, l.record(k))
	}
	return out, nil
}

// Update stores rec if its version is the stored one, with Version+1.
func (l *Ledger) Update(_ context.Context, rec metering.Record) (metering.Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.update(rec)
}

func (l *Ledger) update(rec metering.Record) (metering.Record, error) {
	switch {
	case rec.Hour.IsZero():
		return metering.Record{}, errors.New("meteringtest: ledger record has no hour")
	case rec.Dimension == "":
		return metering.Record{}, errors.New("meteringtest: ledger record has no dimension")
	case rec.Version < 0:
		return metering.Record{}, fmt.Errorf("meteringtest: ledger record has negative version %d", rec.Version)
	}
	k := key{rec.Dimension, metering.HourOf(rec.Hour).Unix()}
	cur := l.recs[k]
	if cur.Version != rec.Version {
		return metering.Record{}, fmt.Errorf("meteringtest: version %d, stored %d: %w", rec.Version, cur.Version, metering.ErrConflict)
	}
	next := rec
	for _, t := range []*time.Time{&next.MessageTime, &next.CarriedTo, &next.UpdatedAt, &next.ResolvedAt} {
		*t = t.UTC()
	}
	next.Version = rec.Version + 1
	next.Counted, next.CarriedIn, next.CarriedFrom = 0, cur.CarriedIn, cur.CarriedFrom
	l.recs[k] = next
	return l.record(k), nil
}

// Carry updates from and adds quantity to the hour to, in one step.
func (l *Ledger) Carry(_ context.Context, from metering.Record, to time.Time, quantity float64) (metering.Record, error) {
	if to.IsZero() || metering.HourOf(to).Equal(metering.HourOf(from.Hour)) {
		return metering.Record{}, fmt.Errorf("meteringtest: carry from %s to %s", from.Hour, to)
	}
	if !(quantity > 0) || math.IsInf(quantity, 0) {
		return metering.Record{}, fmt.Errorf("meteringtest: carry quantity %v is not a positive number", quantity)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	got, err := l.update(from)
	if err != nil {
		return got, err
	}
	k := key{from.Dimension, metering.HourOf(to).Unix()}
	t := l.recs[k]
	t.CarriedIn += quantity
	t.CarriedFrom = metering.HourOf(from.Hour)
	l.recs[k] = t
	return got, nil
}

// ErrLockLost is returned by Renew when the lock expired or another holder
// took it.
var ErrLockLost = errors.New("meteringtest: lock lost")

// Lock takes the named lock for ttl, or returns metering.ErrLocked.
func (l *Ledger) Lock(_ context.Context, name string, ttl time.Duration) (metering.Lock, error) {
	if ttl < time.Millisecond {
		return nil, fmt.Errorf("meteringtest: lock %q: ttl %v is under a millisecond", name, ttl)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if h, ok := l.locks[name]; ok && l.now().Before(h.expires) {
		return nil, fmt.Errorf("meteringtest: lock %q: %w", name, metering.ErrLocked)
	}
	tok := rand.Text()
	l.locks[name] = heldLock{token: tok, expires: l.now().Add(ttl)}
	return &lock{l: l, name: name, token: tok, ttl: ttl}, nil
}

type lock struct {
	l     *Ledger
	name  string
	token string
	ttl   time.Duration
}

func (k *lock) Renew(context.Context) error {
	k.l.mu.Lock()
	defer k.l.mu.Unlock()
	h, ok := k.l.locks[k.name]
	if !ok || h.token != k.token || !k.l.now().Before(h.expires) {
		return fmt.Errorf("meteringtest: renew %q: %w", k.name, ErrLockLost)
	}
	k.l.locks[k.name] = heldLock{token: k.token, expires: k.l.now().Add(k.ttl)}
	return nil
}

func (k *lock) Release(context.Context) error {
	k.l.mu.Lock()
	defer k.l.mu.Unlock()
	if h, ok := k.l.locks[k.name]; ok && h.token == k.token {
		delete(k.l.locks, k.name)
	}
	return nil
}

var _ metering.Ledger = (*Ledger)(nil)
