package web

import (
	"context"
	"sync/atomic"
	"time"
)

// deadlineSlack is how much earlier than StoreTimeout a store call may be
// cut off: calls that start within it of each other share one context.
// Each context lives until its deadline, so StoreTimeout/deadlineSlack of
// them are alive at any rate above one call per slack: at a millisecond,
// 1,500 of them held about 0.6 MB and raised the heap's peak by as much.
const deadlineSlack = 10 * time.Millisecond

// storeDeadlines hands out the contexts that bound the vote page's and the
// vote's store calls. Calls that start within deadlineSlack of each other
// share one context, and so one timer. A context.WithTimeout per request
// sets and stops a timer and registers a child with the request's context
// for every vote: about 2 µs of the 75–80 µs of CPU a vote costs under
// load (profiled), and eight of its 60 allocations (counted under load).
//
// So a call is bounded by StoreTimeout less at most deadlineSlack, and it is
// not cut short when its client leaves. Neither matters here: the voter
// is answered within the timeout either way, and a vote given up on can be
// applied all the same with the round trip it went out in (see
// VoteStore.VoteOnce).
type storeDeadlines struct {
	timeout time.Duration
	last    atomic.Pointer[sharedDeadline]
}

// sharedDeadline is one context handed out to every call that starts
// within deadlineSlack of its creation.
type sharedDeadline struct {
	ctx     context.Context
	expires time.Time // ctx's deadline, with the monotonic clock reading
}

// context returns a context that ends between timeout−deadlineSlack and
// timeout after now, which is time.Now() but for tests.
func (d *storeDeadlines) context(now time.Time) context.Context {
	if s := d.last.Load(); s != nil {
		if left := s.expires.Sub(now); left >= d.timeout-deadlineSlack && left <= d.timeout {
			return s.ctx
		}
	}
	expires := now.Add(d.timeout)
	ctx, cancel := context.WithDeadline(context.Background(), expires)
	// Never called early: calls that share ctx may still be waiting. Its
	// timer releases it at the deadline.
	_ = cancel
	// Two calls may each make one at once; the later store wins, and each
	// uses its own.
	d.last.Store(&sharedDeadline{ctx: ctx, expires: expires})
	return ctx
}
