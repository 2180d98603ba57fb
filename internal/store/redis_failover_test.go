package store

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// voteLoad casts votes from several goroutines, each as soon as its last one
// is answered, and counts what the store acknowledged and what failed. It
// models the app under load while Redis fails over.
type voteLoad struct {
	s        *Redis
	acked    atomic.Int64
	failed   atomic.Int64 // errors and timeouts: the vote may have been applied
	lastSent atomic.Int64 // unix nanoseconds at which the latest acknowledged vote was sent
	lastAck  atomic.Int64 // and at which the latest acknowledgement came
	maxGap   atomic.Int64 // the longest time between two acknowledgements since fault
	firstErr atomic.Pointer[error]
	stop     chan struct{}
	wg       sync.WaitGroup
}

// voteTimeout is the app's bound on a vote's store call, near enough.
const voteTimeout = 1500 * time.Millisecond

func startVoteLoad(s *Redis, workers int) *voteLoad {
	l := &voteLoad{s: s, stop: make(chan struct{})}
	for w := range workers {
		choice := []string{"Cats", "Dogs"}[w%2]
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				sent := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), voteTimeout)
				_, err := s.Vote(ctx, choice, sent)
				cancel()
				if err != nil {
					l.failed.Add(1)
					l.firstErr.CompareAndSwap(nil, &err)
					time.Sleep(20 * time.Millisecond) // as a client backs off
					continue
				}
				l.acked.Add(1)
				storeMax(&l.lastSent, sent.UnixNano())
				now := time.Now().UnixNano()
				if prev := l.lastAck.Swap(now); prev > 0 {
					storeMax(&l.maxGap, now-prev)
				}
			}
		})
	}
	return l
}

func storeMax(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}

// fault marks the start of a fault: the longest gap is measured from here.
func (l *voteLoad) fault() { l.maxGap.Store(0) }

// recovered waits until a vote sent after ready (when the cluster has
// settled after the fault) has been acknowledged. It returns the longest
// time without an acknowledged vote since the fault: how long the app could
// not take votes.
func (l *voteLoad) recovered(t *testing.T, ready time.Time) time.Duration {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if l.lastSent.Load() > ready.UnixNano() {
			return time.Duration(l.maxGap.Load())
		}
		if time.Now().After(deadline) {
			var last error
			if p := l.firstErr.Load(); p != nil {
				last = *p
			}
			t.Fatalf("no vote acknowledged within 60s of the fault, without a restart of the store (first error: %v)", last)
		}
	}
}

// finish stops the load and returns its counts.
func (l *voteLoad) finish() (acked, failed int64) {
	close(l.stop)
	l.wg.Wait()
	return l.acked.Load(), l.failed.Load()
}

// checkAfterFailover compares what the store holds with what it
// acknowledged and reports the votes lost. Replication is asynchronous, so
// an acknowledged vote not yet copied to the replica when its master died
// is gone: that is measured and reported, not refused. What must hold: no
// vote counted that was neither acknowledged nor failed, and votes and
// usage still agree, since both are one atomic step.
func checkAfterFailover(t *testing.T, s *Redis, acked, failed int64) {
	t.Helper()
	ctx := t.Context()
	counts, err := s.Counts(ctx)
	if err != nil {
		t.Fatalf("Counts after failover: %v", err)
	}
	var stored int64
	for _, n := range counts {
		stored += n
	}
	var usage float64
	for _, r := range mustRecords(t, s, DefaultDimension) {
		usage += r.Counted
	}
	lost := max(0, acked-stored)
	t.Logf("acknowledged %d, failed %d (outcome unknown to the client), stored %d: %d acknowledged votes lost, %d failed votes applied",
		acked, failed, stored, lost, max(0, stored-acked))
	if stored > acked+failed {
		t.Errorf("stored %d votes, more than the %d acknowledged and %d failed", stored, acked, failed)
	}
	if usage != float64(stored) {
		t.Errorf("usage %v and votes %d disagree after failover", usage, stored)
	}
}
