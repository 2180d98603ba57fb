package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/azure-vote/azure-vote/metering"
)

// BoltFile is the name of the database file in the data directory.
const BoltFile = "azure-vote.db"

// Bucket names; the layout is described in the package documentation.
var (
	bucketVotes  = []byte("votes")
	bucketUsage  = []byte("usage")
	bucketLedger = []byte("ledger")
	// Vote tokens: token -> expiry, and expiry+token -> nothing, the
	// index that housekeeping walks oldest first.
	bucketTokens      = []byte("vote-tokens")
	bucketTokenExpiry = []byte("vote-token-expiry")
)

const (
	// boltOpenTimeout bounds the wait for the file lock: a second process
	// fails fast with a clear error instead of hanging.
	boltOpenTimeout = time.Second
	// maxVoteBatch bounds how many votes share one commit.
	maxVoteBatch = 1024
)

// errBoltClosed answers votes that arrive after Close.
var errBoltClosed = errors.New("store: the embedded store is closed")

// Bolt is the store in an embedded bbolt file, for running without Redis.
// Every vote is durable (fsynced) when Vote returns.
type Bolt struct {
	db       *bolt.DB
	path     string
	dim      string
	now      func() time.Time
	tokenTTL time.Duration

	// Only one process can open the file, so the reporter lock lives here.
	mu    sync.Mutex
	locks map[string]boltLockState

	// Votes go to one committer goroutine: every vote that arrives while a
	// commit is under way goes into the next one, so concurrent votes
	// share an fsync without any of them waiting on a timer.
	votes     chan voteRequest
	quit      chan struct{}
	committed chan struct{} // closed when the committer has stopped
	closeOnce sync.Once
}

type voteRequest struct {
	choice, hour, token []byte          // token nil: none
	done                chan voteResult // buffered: the committer never waits on a voter
}

type voteResult struct {
	counts  map[string]int64
	counted bool
	err     error
}

type boltLockState struct {
	token   string
	expires time.Time
}

// OpenBolt opens (creating them if needed) dir and its database file. If
// another process has the file open it fails after about a second.
func OpenBolt(dir string, o Options) (*Bolt, error) {
	o = o.withDefaults()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("store: create data directory: %w", err)
	}
	path := filepath.Join(dir, BoltFile)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: boltOpenTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("store: data directory %s is in use by another azure-vote process", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketVotes, bucketTokens, bucketTokenExpiry} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		if _, err := nestedBucket(tx, bucketUsage, o.Dimension); err != nil {
			return err
		}
		_, err := nestedBucket(tx, bucketLedger, o.Dimension)
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: prepare %s: %w", path, err)
	}
	b := &Bolt{
		db: db, path: path, dim: o.Dimension, now: o.Now, tokenTTL: o.TokenTTL, locks: map[string]boltLockState{},
		votes: make(chan voteRequest), quit: make(chan struct{}), committed: make(chan struct{}),
	}
	go b.commitVotes()
	return b, nil
}

// Path is the database file.
func (b *Bolt) Path() string { return b.path }

// Vote adds 1 to choice's count and to the usage of the UTC hour of at, and
// returns the counts after the vote: VoteOnce without a token.
func (b *Bolt) Vote(ctx context.Context, choice string, at time.Time) (map[string]int64, error) {
	counts, _, err := b.VoteOnce(ctx, choice, "", at)
	return counts, err
}

// VoteOnce adds 1 to choice's count and to the usage of the UTC hour of at,
// unless a vote with the same token was counted in the last TokenTTL, and
// returns the counts after it and whether this vote counted. The token and
// the vote are written in one transaction. The vote is on disk (fsynced)
// when VoteOnce returns without error; concurrent votes share a transaction.
// A vote with no token ("") always counts.
func (b *Bolt) VoteOnce(ctx context.Context, choice, token string, at time.Time) (map[string]int64, bool, error) {
	if err := checkToken(token); err != nil {
		return nil, false, err
	}
	req := voteRequest{choice: []byte(choice), hour: []byte(hourLabel(at)), done: make(chan voteResult, 1)}
	if token != "" {
		req.token = []byte(token)
	}
	select {
	case b.votes <- req:
	case <-b.quit:
		return nil, false, errBoltClosed
	case <-ctx.Done():
		return nil, false, fmt.Errorf("store: vote: %w", ctx.Err())
	}
	select {
	case res := <-req.done:
		if res.err != nil {
			return nil, false, fmt.Errorf("store: vote: %w", res.err)
		}
		return res.counts, res.counted, nil
	case <-ctx.Done():
		// It may still be committed, but it is not acknowledged.
		return nil, false, fmt.Errorf("store: vote: %w", ctx.Err())
	}
}

// commitVotes commits the votes waiting to be sent, as one transaction,
// until Close.
func (b *Bolt) commitVotes() {
	defer close(b.committed)
	batch := make([]voteRequest, 0, maxVoteBatch)
	for {
		batch = batch[:0]
		select {
		case req := <-b.votes:
			batch = append(batch, req)
		case <-b.quit:
			return
		}
	more:
		for len(batch) < maxVoteBatch {
			select {
			case req := <-b.votes:
				batch = append(batch, req)
			default:
				break more
			}
		}
		results := make([]voteResult, len(batch))
		err := b.db.Update(func(tx *bolt.Tx) error {
			votes := tx.Bucket(bucketVotes)
			usage, err := nestedBucket(tx, bucketUsage, b.dim)
			if err != nil {
				return err
			}
			tokens := newBoltTokens(tx, b.now(), b.tokenTTL)
			// Forget at least as many expired tokens as the batch can add.
			if err := tokens.expire(len(batch) + 1); err != nil {
				return err
			}
			for i, req := range batch {
				fresh, err := tokens.mark(req.token)
				if err != nil {
					return err
				}
				if fresh {
					if err := increment(votes, req.choice); err != nil {
						return err
					}
					if err := increment(usage, req.hour); err != nil {
						return err
					}
				}
				results[i].counted = fresh
				if results[i].counts, err = readCounts(votes); err != nil {
					return err
				}
			}
			return nil
		})
		// All or none: a failed commit acknowledges no vote of the batch.
		for i, req := range batch {
			if err != nil {
				req.done <- voteResult{err: err}
			} else {
				req.done <- results[i]
			}
		}
	}
}

// Counts returns the count of every choice voted for since the start.
func (b *Bolt) Counts(_ context.Context) (map[string]int64, error) {
	var counts map[string]int64
	err := b.db.View(func(tx *bolt.Tx) (err error) {
		counts, err = readCounts(tx.Bucket(bucketVotes))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: read counts: %w", err)
	}
	return counts, nil
}

// Reset sets every count to zero and returns the counts. Usage counters, which
// are billed, are not touched.
func (b *Bolt) Reset(_ context.Context) (map[string]int64, error) {
	var counts map[string]int64
	err := b.db.Update(func(tx *bolt.Tx) error {
		votes := tx.Bucket(bucketVotes)
		var choices [][]byte
		if err := votes.ForEach(func(k, _ []byte) error {
			choices = append(choices, bytes.Clone(k))
			return nil
		}); err != nil {
			return err
		}
		counts = make(map[string]int64, len(choices))
		for _, c := range choices {
			if err := votes.Put(c, []byte("0")); err != nil {
				return err
			}
			counts[string(c)] = 0
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: reset counts: %w", err)
	}
	return counts, nil
}

// Ping checks that the database is open.
func (b *Bolt) Ping(_ context.Context) error {
	if err := b.db.View(func(*bolt.Tx) error { return nil }); err != nil {
		return fmt.Errorf("store: %s: %w", b.path, err)
	}
	return nil
}

// Close stops taking votes, lets the commit under way finish, and closes
// the database file, releasing it for another process.
func (b *Bolt) Close() error {
	b.closeOnce.Do(func() { close(b.quit) })
	<-b.committed
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", b.path, err)
	}
	return nil
}

// Records returns every hour with usage or a ledger record, oldest first.
// Hours settled, balanced and older than two days are left out.
func (b *Bolt) Records(_ context.Context, dim string) ([]metering.Record, error) {
	now := b.now()
	return b.readHours(dim, func(r metering.Record) bool { return !forgettable(r, now) })
}

// History returns every hour from the hour of from that has usage or a
// record, oldest first, settled ones included: what a usage page shows. It
// reads at most the last 31 days.
func (b *Bolt) History(_ context.Context, dim string, from time.Time) ([]metering.Record, error) {
	first := metering.HourOf(from)
	if oldest := metering.HourOf(b.now()).Add(-maxHistory); first.Before(oldest) {
		first = oldest
	}
	return b.readHours(dim, func(r metering.Record) bool { return !r.Hour.Before(first) })
}

// readHours returns the hours of the dimension that keep selects, oldest first.
func (b *Bolt) readHours(dim string, keep func(metering.Record) bool) ([]metering.Record, error) {
	var recs []metering.Record
	err := b.db.View(func(tx *bolt.Tx) error {
		byHour := map[string]*metering.Record{}
		get := func(label []byte) (*metering.Record, error) {
			if r, ok := byHour[string(label)]; ok {
				return r, nil
			}
			hour, err := parseHour(string(label))
			if err != nil {
				return nil, err
			}
			r := &metering.Record{Hour: hour, Dimension: dim}
			byHour[string(label)] = r
			return r, nil
		}
		if l := subBucket(tx, bucketLedger, dim); l != nil {
			if err := l.ForEach(func(k, v []byte) error {
				r, err := get(k)
				if err != nil {
					return err
				}
				return decodeBoltRecord(dim, k, v, r)
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
				n, err := parseCount(dim+" "+string(k), string(v))
				r.Counted = float64(n)
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
		return nil, fmt.Errorf("store: read %s ledger: %w", dim, err)
	}
	sortRecords(recs)
	return recs, nil
}

// Update stores rec if the stored version is rec.Version, with Version+1,
// and returns the record as stored. Counted, CarriedIn and CarriedFrom are
// not written: the usage counter and Carry own them.
func (b *Bolt) Update(_ context.Context, rec metering.Record) (metering.Record, error) {
	if err := checkRecord(rec); err != nil {
		return metering.Record{}, err
	}
	var stored metering.Record
	err := b.db.Update(func(tx *bolt.Tx) (err error) {
		stored, err = casRecord(tx, rec)
		return err
	})
	if err != nil {
		return metering.Record{}, fmt.Errorf("store: update %s %s: %w", rec.Dimension, hourLabel(rec.Hour), err)
	}
	return stored, nil
}

// Carry updates from as Update does and, in the same transaction, adds
// quantity to the CarriedIn of hour to and sets its CarriedFrom; the target's
// version does not change.
func (b *Bolt) Carry(_ context.Context, from metering.Record, to time.Time, quantity float64) (metering.Record, error) {
	if err := checkCarry(from, to, quantity); err != nil {
		return metering.Record{}, err
	}
	var stored metering.Record
	err := b.db.Update(func(tx *bolt.Tx) error {
		var err error
		if stored, err = casRecord(tx, from); err != nil {
			return err
		}
		ledger, err := nestedBucket(tx, bucketLedger, from.Dimension)
		if err != nil {
			return err
		}
		key := []byte(hourLabel(to))
		target := metering.Record{Hour: metering.HourOf(to), Dimension: from.Dimension}
		if err := decodeBoltRecord(from.Dimension, key, ledger.Get(key), &target); err != nil {
			return err
		}
		target.CarriedIn += quantity
		target.CarriedFrom = metering.HourOf(from.Hour)
		return putBoltRecord(ledger, key, target)
	})
	if err != nil {
		return metering.Record{}, fmt.Errorf("store: carry %v from %s %s to %s: %w",
			quantity, from.Dimension, hourLabel(from.Hour), hourLabel(to), err)
	}
	return stored, nil
}

// casRecord is the compare-and-set of Update inside tx.
func casRecord(tx *bolt.Tx, rec metering.Record) (metering.Record, error) {
	ledger, err := nestedBucket(tx, bucketLedger, rec.Dimension)
	if err != nil {
		return metering.Record{}, err
	}
	key := []byte(hourLabel(rec.Hour))
	var cur metering.Record
	if err := decodeBoltRecord(rec.Dimension, key, ledger.Get(key), &cur); err != nil {
		return metering.Record{}, err
	}
	if cur.Version != rec.Version {
		return metering.Record{}, fmt.Errorf("version %d, stored %d: %w", rec.Version, cur.Version, metering.ErrConflict)
	}
	next := rec
	next.Hour = metering.HourOf(rec.Hour)
	// UTC, as the Redis store keeps times, so both read back alike.
	for _, t := range []*time.Time{&next.MessageTime, &next.CarriedTo, &next.UpdatedAt, &next.ResolvedAt} {
		*t = t.UTC()
	}
	next.Version = rec.Version + 1
	next.CarriedIn, next.CarriedFrom = cur.CarriedIn, cur.CarriedFrom
	if err := putBoltRecord(ledger, key, next); err != nil {
		return metering.Record{}, err
	}
	next.Counted = 0
	if usage := subBucket(tx, bucketUsage, rec.Dimension); usage != nil {
		if v := usage.Get(key); v != nil {
			n, err := parseCount(rec.Dimension+" "+string(key), string(v))
			if err != nil {
				return metering.Record{}, err
			}
			next.Counted = float64(n)
		}
	}
	return next, nil
}

// decodeBoltRecord fills r from a stored record; nil data leaves r as is.
// Hour and Dimension come from where the record is stored, Counted from the
// usage bucket.
func decodeBoltRecord(dim string, key, data []byte, r *metering.Record) error {
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

func putBoltRecord(ledger *bolt.Bucket, key []byte, r metering.Record) error {
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

// boltTokens marks vote tokens inside one transaction.
type boltTokens struct {
	byToken, byExpiry *bolt.Bucket
	now               time.Time
	expires           []byte // of a token marked now: 8 bytes, big-endian Unix ns
}

func newBoltTokens(tx *bolt.Tx, now time.Time, ttl time.Duration) *boltTokens {
	return &boltTokens{
		byToken:  tx.Bucket(bucketTokens),
		byExpiry: tx.Bucket(bucketTokenExpiry),
		now:      now,
		expires:  binary.BigEndian.AppendUint64(nil, uint64(now.Add(ttl).UnixNano())),
	}
}

// mark records token and reports true, or reports false if it is recorded
// and not expired. A nil token is never recorded and always fresh.
func (t *boltTokens) mark(token []byte) (bool, error) {
	if token == nil {
		return true, nil
	}
	if old := t.byToken.Get(token); old != nil {
		if !t.expired(old) {
			return false, nil
		}
		if err := t.byExpiry.Delete(append(bytes.Clone(old), token...)); err != nil {
			return false, err
		}
	}
	if err := t.byToken.Put(token, t.expires); err != nil {
		return false, err
	}
	return true, t.byExpiry.Put(append(bytes.Clone(t.expires), token...), nil)
}

func (t *boltTokens) expired(expiry []byte) bool {
	return len(expiry) != 8 || int64(binary.BigEndian.Uint64(expiry)) <= t.now.UnixNano()
}

// expire forgets up to n expired tokens, oldest first.
func (t *boltTokens) expire(n int) error {
	c := t.byExpiry.Cursor()
	for k, _ := c.First(); k != nil && n > 0 && len(k) > 8 && t.expired(k[:8]); k, _ = c.First() {
		k = bytes.Clone(k) // a delete may reuse the page it points into
		expiry, token := k[:8], k[8:]
		if err := c.Delete(); err != nil {
			return err
		}
		// The token may have been marked again since, with a later expiry.
		if v := t.byToken.Get(token); v != nil && bytes.Equal(v, expiry) {
			if err := t.byToken.Delete(token); err != nil {
				return err
			}
		}
		n--
	}
	return nil
}

// increment adds 1 to the decimal count at key.
func increment(b *bolt.Bucket, key []byte) error {
	var n int64
	if v := b.Get(key); v != nil {
		var err error
		if n, err = parseCount(string(key), string(v)); err != nil {
			return err
		}
	}
	return b.Put(key, strconv.AppendInt(nil, n+1, 10))
}

func readCounts(votes *bolt.Bucket) (map[string]int64, error) {
	counts := map[string]int64{}
	err := votes.ForEach(func(k, v []byte) error {
		n, err := parseCount(string(k), string(v))
		counts[string(k)] = n
		return err
	})
	return counts, err
}

// Lock takes the named lock for ttl, or returns metering.ErrLocked while
// another holder has it. Only one process can open the file, so the lock is
// kept in memory.
func (b *Bolt) Lock(_ context.Context, name string, ttl time.Duration) (metering.Lock, error) {
	if ttl < time.Millisecond {
		return nil, fmt.Errorf("store: lock %q: ttl %v is under a millisecond", name, ttl)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if cur, ok := b.locks[name]; ok && now.Before(cur.expires) {
		return nil, fmt.Errorf("store: lock %q: %w", name, metering.ErrLocked)
	}
	l := &boltLock{b: b, name: name, token: rand.Text(), ttl: ttl}
	b.locks[name] = boltLockState{token: l.token, expires: now.Add(ttl)}
	return l, nil
}

type boltLock struct {
	b     *Bolt
	name  string
	token string
	ttl   time.Duration
}

// Renew extends the lock by its ttl, or returns ErrLockLost if it expired or
// another holder took it.
func (l *boltLock) Renew(_ context.Context) error {
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	now := l.b.now()
	cur, ok := l.b.locks[l.name]
	if !ok || cur.token != l.token || !now.Before(cur.expires) {
		return fmt.Errorf("store: renew lock %q: %w", l.name, ErrLockLost)
	}
	l.b.locks[l.name] = boltLockState{token: l.token, expires: now.Add(l.ttl)}
	return nil
}

// Release gives the lock up if it is still ours.
func (l *boltLock) Release(_ context.Context) error {
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	if cur, ok := l.b.locks[l.name]; ok && cur.token == l.token {
		delete(l.b.locks, l.name)
	}
	return nil
}
