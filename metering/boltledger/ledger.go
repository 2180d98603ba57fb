// Package boltledger is a [metering.Ledger] in an embedded bbolt file, for
// an application that runs without a database server, and the way to count
// usage into it in the same transaction as the work it bills.
//
// The application opens the file and hands it to [New]; it counts usage
// with [Ledger.Count] inside its own db.Update, beside its own writes: both
// are committed, and fsynced, together, or neither is. The reporter
// (package metering) reads and settles the hours through the Ledger
// methods.
//
// # Data layout
//
//	usage / <dimension>     hour "2006-01-02T15" -> usage counted in the UTC hour:
//	                        a decimal number, integral counts as plain integers ("3")
//	ledger / <dimension>    hour "2006-01-02T15" -> JSON of metering.Record
//	                        (Counted is not stored: the usage bucket owns it)
//
// bbolt lets one process at a time open a file, so the reporter lock
// ([Ledger.Lock]) is kept in memory.
package boltledger

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/internal/ledgerkit"
)

// Bucket names; the layout is described in the package documentation.
var (
	bucketUsage  = []byte("usage")
	bucketLedger = []byte("ledger")
)

// ErrLockLost is returned by a lock's Renew when the lock expired or was
// taken over by another holder.
var ErrLockLost = errors.New("boltledger: lock lost")

// Options configure a Ledger.
type Options struct {
	// Now is the clock of housekeeping (which settled hours Records leaves
	// out, where History starts) and of lock expiry; default time.Now.
	Now func() time.Time
}

// Ledger is a metering.Ledger in a bbolt file. It is safe for concurrent
// use. Make one per open file: its lock lives in the Ledger.
type Ledger struct {
	db  *bolt.DB
	now func() time.Time

	mu    sync.Mutex
	locks map[string]lockState
}

var _ metering.Ledger = (*Ledger)(nil)

type lockState struct {
	token   string
	expires time.Time
}

// New returns the ledger in db, creating its buckets if needed. The file
// stays the caller's to close.
func New(db *bolt.DB, o Options) (*Ledger, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	err := db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketUsage, bucketLedger} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("bucket %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltledger: prepare %s: %w", db.Path(), err)
	}
	return &Ledger{db: db, now: o.Now, locks: map[string]lockState{}}, nil
}

// Count adds quantity units of the dimension's usage to the UTC hour
// holding at, in tx, which must be writable: call it inside the db.Update
// that does the work being billed, so that both are committed together or
// neither is (an Update whose function returns an error counts nothing).
// Quantities add up in decimal, exactly: 0.1 + 0.2 is stored as 0.3, and
// integral totals as plain integers.
//
// Count writes nothing for a quantity of zero, and refuses a negative,
// infinite or NaN quantity, an empty dimension or a zero time.
func (l *Ledger) Count(tx *bolt.Tx, dimension string, at time.Time, quantity float64) error {
	if err := ledgerkit.CheckCount(dimension, at, quantity); err != nil {
		return fmt.Errorf("boltledger: %w", err)
	}
	if !tx.Writable() {
		return errors.New("boltledger: count in a read-only transaction")
	}
	if quantity == 0 {
		return nil
	}
	usage, err := nestedBucket(tx, bucketUsage, dimension)
	if err != nil {
		return fmt.Errorf("boltledger: %w", err)
	}
	key := []byte(ledgerkit.Label(at))
	sum, err := addQuantity(usage.Get(key), quantity)
	if err != nil {
		return fmt.Errorf("boltledger: usage of %s %s: %w", dimension, key, err)
	}
	return usage.Put(key, sum)
}

// addQuantity adds q to a stored decimal count (nil: none) and writes the
// sum in decimal. Both are finite decimals, so their sum is one: adding
// them as fractions keeps it exact where float64 would drift (0.1 ten
// times would bill 0.9999999999999999).
func addQuantity(stored []byte, q float64) ([]byte, error) {
	qs := ledgerkit.FormatQuantity(q)
	if stored == nil {
		return []byte(qs), nil
	}
	if _, err := strconv.ParseFloat(string(stored), 64); err != nil {
		return nil, fmt.Errorf("stored count %q is not a number", stored)
	}
	var sum, add big.Rat
	if _, ok := sum.SetString(string(stored)); !ok {
		return nil, fmt.Errorf("stored count %q is not a number", stored)
	}
	add.SetString(qs) // FormatQuantity's output always parses
	sum.Add(&sum, &add)
	// A denominator of 2^a 5^b needs max(a, b) decimals.
	var twos, fives int
	d, r := new(big.Int).Set(sum.Denom()), new(big.Int)
	for _, p := range []struct {
		n   int64
		cnt *int
	}{{2, &twos}, {5, &fives}} {
		div := big.NewInt(p.n)
		for d.Cmp(big.NewInt(1)) > 0 {
			q, m := new(big.Int).QuoRem(d, div, r)
			if m.Sign() != 0 {
				break
			}
			d = q
			*p.cnt++
		}
	}
	return []byte(sum.FloatString(max(twos, fives))), nil
}

// parseCount reads a stored count: decimal, integral or not.
func parseCount(dim string, key, raw []byte) (float64, error) {
	n, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return 0, fmt.Errorf("usage of %s %s is %q, not a number", dim, key, raw)
	}
	return n, nil
}

// Records returns every hour with usage or a ledger record, oldest first.
// Hours settled, balanced and older than two days are left out.
func (l *Ledger) Records(_ context.Context, dim string) ([]metering.Record, error) {
	now := l.now()
	return l.readHours(dim, func(r metering.Record) bool { return !ledgerkit.Forgettable(r, now) })
}

// History returns every hour from the hour of from that has usage or a
// record, oldest first, settled ones included: what a usage page shows. It
// reads at most the last 31 days.
func (l *Ledger) History(_ context.Context, dim string, from time.Time) ([]metering.Record, error) {
	first := ledgerkit.HistoryStart(from, l.now())
	return l.readHours(dim, func(r metering.Record) bool { return !r.Hour.Before(first) })
}

// readHours returns the hours of the dimension that keep selects, oldest first.
func (l *Ledger) readHours(dim string, keep func(metering.Record) bool) ([]metering.Record, error) {
	var recs []metering.Record
	err := l.db.View(func(tx *bolt.Tx) error {
		byHour := map[string]*metering.Record{}
		get := func(label []byte) (*metering.Record, error) {
			if r, ok := byHour[string(label)]; ok {
				return r, nil
			}
			hour, err := ledgerkit.ParseLabel(string(label))
			if err != nil {
				return nil, err
			}
			r := &metering.Record{Hour: hour, Dimension: dim}
			byHour[string(label)] = r
			return r, nil
		}
		if lb := subBucket(tx, bucketLedger, dim); lb != nil {
			if err := lb.ForEach(func(k, v []byte) error {
				r, err := get(k)
				if err != nil {
					return err
				}
				return decodeRecord(dim, k, v, r)
			}); err != nil {
				return err
			}
		}
		if u := subBucket(tx, bucketUsage, dim); u != nil {
			if err := u.ForEach(func(k, v []byte) error {
				r, err := get(k)
				if err != nil {
					return err
				}
				r.Counted, err = parseCount(dim, k, v)
				return err
			}); err != nil {
				return err
			}
		}
		for _, r := range byHour {
			if keep(*r) {
				recs = append(recs, *r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltledger: read %s ledger: %w", dim, err)
	}
	ledgerkit.SortRecords(recs)
	return recs, nil
}

// Update stores rec if the stored version is rec.Version, with Version+1,
// and returns the record as stored. Counted, CarriedIn and CarriedFrom are
// not written: the usage counter and Carry own them.
func (l *Ledger) Update(_ context.Context, rec metering.Record) (metering.Record, error) {
	if err := ledgerkit.CheckRecord(rec); err != nil {
		return metering.Record{}, fmt.Errorf("boltledger: %w", err)
	}
	var stored metering.Record
	err := l.db.Update(func(tx *bolt.Tx) (err error) {
		stored, err = casRecord(tx, rec)
		return err
	})
	if err != nil {
		return metering.Record{}, fmt.Errorf("boltledger: update %s %s: %w", rec.Dimension, ledgerkit.Label(rec.Hour), err)
	}
	return stored, nil
}

// Carry updates from as Update does and, in the same transaction, adds
// quantity to the CarriedIn of hour to and sets its CarriedFrom; the target's
// version does not change.
func (l *Ledger) Carry(_ context.Context, from metering.Record, to time.Time, quantity float64) (metering.Record, error) {
	if err := ledgerkit.CheckCarry(from, to, quantity); err != nil {
		return metering.Record{}, fmt.Errorf("boltledger: %w", err)
	}
	var stored metering.Record
	err := l.db.Update(func(tx *bolt.Tx) error {
		var err error
		if stored, err = casRecord(tx, from); err != nil {
			return err
		}
		ledger, err := nestedBucket(tx, bucketLedger, from.Dimension)
		if err != nil {
			return err
		}
		key := []byte(ledgerkit.Label(to))
		target := metering.Record{Hour: metering.HourOf(to), Dimension: from.Dimension}
		if err := decodeRecord(from.Dimension, key, ledger.Get(key), &target); err != nil {
			return err
		}
		target.CarriedIn += quantity
		target.CarriedFrom = metering.HourOf(from.Hour)
		return putRecord(ledger, key, target)
	})
	if err != nil {
		return metering.Record{}, fmt.Errorf("boltledger: carry %v from %s %s to %s: %w",
			quantity, from.Dimension, ledgerkit.Label(from.Hour), ledgerkit.Label(to), err)
	}
	return stored, nil
}

// casRecord is the compare-and-set of Update inside tx.
func casRecord(tx *bolt.Tx, rec metering.Record) (metering.Record, error) {
	ledger, err := nestedBucket(tx, bucketLedger, rec.Dimension)
	if err != nil {
		return metering.Record{}, err
	}
	key := []byte(ledgerkit.Label(rec.Hour))
	var cur metering.Record
	if err := decodeRecord(rec.Dimension, key, ledger.Get(key), &cur); err != nil {
		return metering.Record{}, err
	}
	if cur.Version != rec.Version {
		return metering.Record{}, fmt.Errorf("version %d, stored %d: %w", rec.Version, cur.Version, metering.ErrConflict)
	}
	next := rec
	next.Hour = metering.HourOf(rec.Hour)
	// UTC, as the Redis ledger keeps times, so both read back alike.
	for _, t := range []*time.Time{&next.MessageTime, &next.CarriedTo, &next.UpdatedAt, &next.ResolvedAt} {
		*t = t.UTC()
	}
	next.Version = rec.Version + 1
	next.CarriedIn, next.CarriedFrom = cur.CarriedIn, cur.CarriedFrom
	if err := putRecord(ledger, key, next); err != nil {
		return metering.Record{}, err
	}
	next.Counted = 0
	if usage := subBucket(tx, bucketUsage, rec.Dimension); usage != nil {
		if v := usage.Get(key); v != nil {
			if next.Counted, err = parseCount(rec.Dimension, key, v); err != nil {
				return metering.Record{}, err
			}
		}
	}
	return next, nil
}

// decodeRecord fills r from a stored record; nil data leaves r as is.
// Hour and Dimension come from where the record is stored, Counted from the
// usage bucket.
func decodeRecord(dim string, key, data []byte, r *metering.Record) error {
	if data == nil {
		return nil
	}
	hour, dimension, counted := r.Hour, r.Dimension, r.Counted
	if err := json.Unmarshal(data, r); err != nil {
		return fmt.Errorf("ledger record %s %s: %w", dim, key, err)
	}
	r.Hour, r.Dimension, r.Counted = hour, dimension, counted
	return nil
}

func putRecord(ledger *bolt.Bucket, key []byte, r metering.Record) error {
	r.Counted = 0 // the usage bucket owns it
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode ledger record %s: %w", key, err)
	}
	return ledger.Put(key, data)
}

// nestedBucket returns, creating them if needed, bucket parent/name.
func nestedBucket(tx *bolt.Tx, parent []byte, name string) (*bolt.Bucket, error) {
	p, err := tx.CreateBucketIfNotExists(parent)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", parent, err)
	}
	b, err := p.CreateBucketIfNotExists([]byte(name))
	if err != nil {
		return nil, fmt.Errorf("bucket %s/%s: %w", parent, name, err)
	}
	return b, nil
}

// subBucket returns bucket parent/name, or nil if it does not exist.
func subBucket(tx *bolt.Tx, parent []byte, name string) *bolt.Bucket {
	p := tx.Bucket(parent)
	if p == nil {
		return nil
	}
	return p.Bucket([]byte(name))
}

// Lock takes the named lock for ttl, or returns metering.ErrLocked while
// another holder has it. Only one process can open the file, so the lock is
// kept in memory, and dies with the process.
func (l *Ledger) Lock(_ context.Context, name string, ttl time.Duration) (metering.Lock, error) {
	if ttl < time.Millisecond {
		return nil, fmt.Errorf("boltledger: lock %q: ttl %v is under a millisecond", name, ttl)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if cur, ok := l.locks[name]; ok && now.Before(cur.expires) {
		return nil, fmt.Errorf("boltledger: lock %q: %w", name, metering.ErrLocked)
	}
	k := &lock{l: l, name: name, token: rand.Text(), ttl: ttl}
	l.locks[name] = lockState{token: k.token, expires: now.Add(ttl)}
	return k, nil
}

type lock struct {
	l     *Ledger
	name  string
	token string
	ttl   time.Duration
}

// Renew extends the lock by its ttl, or returns ErrLockLost if it expired or
// another holder took it.
func (k *lock) Renew(_ context.Context) error {
	k.l.mu.Lock()
	defer k.l.mu.Unlock()
	now := k.l.now()
	cur, ok := k.l.locks[k.name]
	if !ok || cur.token != k.token || !now.Before(cur.expires) {
		return fmt.Errorf("boltledger: renew lock %q: %w", k.name, ErrLockLost)
	}
	k.l.locks[k.name] = lockState{token: k.token, expires: now.Add(k.ttl)}
	return nil
}

// Release gives the lock up if it is still ours.
func (k *lock) Release(_ context.Context) error {
	k.l.mu.Lock()
	defer k.l.mu.Unlock()
	if cur, ok := k.l.locks[k.name]; ok && cur.token == k.token {
		delete(k.l.locks, k.name)
	}
	return nil
}
