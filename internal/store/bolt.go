package store

import (
	"bytes"
	"context"
	"encoding/binary"
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
	"github.com/azure-vote/azure-vote/metering/boltledger"
)

// BoltFile is the name of the database file in the data directory.
const BoltFile = "azure-vote.db"

// Bucket names; the layout is described in the package documentation.
var (
	bucketVotes = []byte("votes")
	// The usage and ledger buckets are the boltledger's.
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
	// The usage counters and metering ledger, whose methods (Records,
	// History, Update, Carry, Lock) are the store's.
	*boltledger.Ledger
	db       *bolt.DB
	path     string
	dim      string
	now      func() time.Time
	tokenTTL time.Duration

	// Votes go to one committer goroutine: every vote that arrives while a
	// commit is under way goes into the next one, so concurrent votes
	// share an fsync without any of them waiting on a timer.
	votes     chan voteRequest
	quit      chan struct{}
	committed chan struct{} // closed when the committer has stopped
	closeOnce sync.Once
}

type voteRequest struct {
	choice, token []byte          // token nil: none
	hour          time.Time       // the UTC hour the vote's usage counts in
	done          chan voteResult // buffered: the committer never waits on a voter
}

type voteResult struct {
	counts  map[string]int64
	counted bool
	err     error
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
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: prepare %s: %w", path, err)
	}
	ledger, err := boltledger.New(db, boltledger.Options{Now: o.Now})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	b := &Bolt{
		db: db, Ledger: ledger, path: path, dim: o.Dimension, now: o.Now, tokenTTL: o.TokenTTL,
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
	req := voteRequest{choice: []byte(choice), hour: metering.HourOf(at), done: make(chan voteResult, 1)}
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
			var hours []time.Time // the batch's hours, and the votes counted in each
			var perHour []int
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
					h := indexOrAppend(&hours, req.hour)
					if h == len(perHour) {
						perHour = append(perHour, 0)
					}
					perHour[h]++
				}
				results[i].counted = fresh
				if results[i].counts, err = readCounts(votes); err != nil {
					return err
				}
			}
			// Usage through the ledger, in the same transaction as the votes.
			for i, h := range hours {
				if err := b.Ledger.Count(tx, b.dim, h, float64(perHour[i])); err != nil {
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
