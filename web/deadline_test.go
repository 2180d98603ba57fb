package web

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestStoreDeadlinesShareWithinTheSlack(t *testing.T) {
	d := &storeDeadlines{timeout: time.Hour} // no timer fires during the test
	t0 := time.Now()
	first := d.context(t0)
	if got, _ := first.Deadline(); !got.Equal(t0.Add(time.Hour)) {
		t.Fatalf("deadline %v, want %v", got, t0.Add(time.Hour))
	}
	for _, tc := range []struct {
		name  string
		at    time.Time
		share bool
	}{
		{"the same instant", t0, true},
		{"within the slack", t0.Add(deadlineSlack / 2), true},
		{"at the slack's end", t0.Add(deadlineSlack), true},
		{"past the slack", t0.Add(deadlineSlack + time.Nanosecond), false},
		// A caller that read the clock just before the context was made
		// would get longer than the timeout from it.
		{"before it was made", t0.Add(-time.Microsecond), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d.last.Store(&sharedDeadline{ctx: first, expires: t0.Add(time.Hour)})
			ctx := d.context(tc.at)
			if shared := ctx == first; shared != tc.share {
				t.Fatalf("shared = %v, want %v", shared, tc.share)
			}
			dl, ok := ctx.Deadline()
			if left := dl.Sub(tc.at); !ok || left > time.Hour || left < time.Hour-deadlineSlack {
				t.Fatalf("deadline %v after the call, want between %v and %v", left, time.Hour-deadlineSlack, time.Hour)
			}
		})
	}
}

func TestStoreDeadlineEnds(t *testing.T) {
	d := &storeDeadlines{timeout: 20 * time.Millisecond}
	ctx := d.context(time.Now())
	<-ctx.Done()
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", ctx.Err())
	}
	// The next call gets a live one.
	if next := d.context(time.Now()); next.Err() != nil {
		t.Fatalf("after the deadline passed, a new call got an ended context: %v", next.Err())
	}
}

func TestStoreDeadlinesConcurrently(t *testing.T) {
	d := &storeDeadlines{timeout: time.Second}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				now := time.Now()
				dl, ok := d.context(now).Deadline()
				if left := dl.Sub(now); !ok || left > time.Second || left < time.Second-deadlineSlack {
					t.Errorf("deadline %v after the call", left)
					return
				}
			}
		})
	}
	wg.Wait()
}

// stuckStore is a real store whose votes and reads never answer: they wait
// for their context, as a store behind a vanished network would.
type stuckStore struct{ testStore }

func (stuckStore) VoteOnce(ctx context.Context, _, _ string, _ time.Time) (map[string]int64, bool, error) {
	<-ctx.Done()
	return nil, false, ctx.Err()
}

func (stuckStore) Counts(ctx context.Context) (map[string]int64, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// A store that stops answering gets the voter and the reader a 503 once
// StoreTimeout passes, whether or not other requests share its deadline.
func TestStuckStoreAnswers503(t *testing.T) {
	f := newFixtureOpts(t, Options{Store: stuckStore{boltStore(t)}, StoreTimeout: 50 * time.Millisecond})
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			var code int
			var body string
			if i%2 == 0 {
				code, body, _ = f.do("POST", "/", url.Values{"vote": {"Cats"}}, nil)
			} else {
				code, body, _ = f.do("GET", "/", nil, nil)
			}
			if code != 503 {
				t.Errorf("request %d with the store stuck = %d %q, want 503", i, code, body)
			}
			if i%2 == 0 && !strings.Contains(body, "could not confirm your vote") {
				t.Errorf("vote %d: %q does not say the vote is unconfirmed", i, body)
			}
		})
	}
	wg.Wait()
}
