package web

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// watchedStore tells the log when the store goes away and when it comes
// back, once each, with the number of calls that failed in between. A
// request that fails meanwhile is only its request line: an outage under
// load must not become one error line per request.
type watchedStore struct {
	VoteStore
	log *slog.Logger

	down   atomic.Bool // the fast path of every call reads only this
	mu     sync.Mutex
	since  time.Time
	failed int
}

func watchStore(st VoteStore, log *slog.Logger) *watchedStore {
	return &watchedStore{VoteStore: st, log: log}
}

func (s *watchedStore) VoteOnce(ctx context.Context, choice, token string, at time.Time) (map[string]int64, bool, error) {
	counts, counted, err := s.VoteStore.VoteOnce(ctx, choice, token, at)
	s.observe(ctx, err)
	return counts, counted, err
}

func (s *watchedStore) Counts(ctx context.Context) (map[string]int64, error) {
	counts, err := s.VoteStore.Counts(ctx)
	s.observe(ctx, err)
	return counts, err
}

func (s *watchedStore) Reset(ctx context.Context) (map[string]int64, error) {
	counts, err := s.VoteStore.Reset(ctx)
	s.observe(ctx, err)
	return counts, err
}

func (s *watchedStore) Ping(ctx context.Context) error {
	err := s.VoteStore.Ping(ctx)
	s.observe(ctx, err)
	return err
}

func (s *watchedStore) observe(ctx context.Context, err error) {
	if err == nil && !s.down.Load() {
		return
	}
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		return // the client left; this says nothing of the store
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err != nil && !s.down.Load():
		s.down.Store(true)
		s.since, s.failed = time.Now(), 1
		s.log.Error("vote store unavailable; requests that need it answer 503 until it is back", "err", err)
	case err != nil:
		s.failed++
	case s.down.Load():
		s.down.Store(false)
		s.log.Warn("vote store available again", "failed_calls", s.failed,
			"down_for", time.Since(s.since).Round(time.Millisecond).String())
	}
}
