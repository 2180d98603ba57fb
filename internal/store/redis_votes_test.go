package store

import (
	"context"
	"testing"
	"time"
)

// valueCtx is a Context that is not comparable: groupContext must not
// compare contexts as values.
type valueCtx struct {
	context.Context
	tags []string
}

func TestGroupContext(t *testing.T) {
	type ctxKey struct{}
	base := time.Now()
	early, cancelEarly := context.WithDeadline(context.Background(), base.Add(time.Minute))
	defer cancelEarly()
	late, cancelLate := context.WithDeadline(context.Background(), base.Add(2*time.Minute))
	defer cancelLate()
	open, cancelOpen := context.WithCancel(context.Background())
	defer cancelOpen()
	child := context.WithValue(early, ctxKey{}, "a value")
	uncomparable := valueCtx{Context: early, tags: []string{"x"}}

	tests := []struct {
		name string
		ctxs []context.Context
		// own: the round trip runs under the first op's context itself,
		// which every op's shares the end of; otherwise under a detached one.
		own      bool
		deadline time.Time // zero: none
	}{
		{"one op", []context.Context{early}, true, base.Add(time.Minute)},
		{"one shared context", []context.Context{early, early, early}, true, base.Add(time.Minute)},
		{"a context and its child", []context.Context{early, child}, true, base.Add(time.Minute)},
		{"an uncomparable context", []context.Context{uncomparable, early, uncomparable}, true, base.Add(time.Minute)},
		{"no deadline, one context", []context.Context{open, open}, true, time.Time{}},
		{"the latest of two deadlines", []context.Context{early, late, early}, false, base.Add(2 * time.Minute)},
		{"one op without a deadline", []context.Context{early, open}, false, time.Time{}},
		{"background and a deadline", []context.Context{context.Background(), late}, false, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			group := make([]*redisOp, len(tt.ctxs))
			for i, c := range tt.ctxs {
				group[i] = &redisOp{ctx: c}
			}
			ctx, cancel := groupContext(group)
			defer cancel()
			if own := ctx.Done() == tt.ctxs[0].Done(); own != tt.own {
				t.Errorf("runs under the first op's context: %v, want %v", own, tt.own)
			}
			d, ok := ctx.Deadline()
			if ok != !tt.deadline.IsZero() || !d.Equal(tt.deadline) {
				t.Errorf("deadline %v (%v), want %v", d, ok, tt.deadline)
			}
			if ctx.Value(ctxKey{}) != tt.ctxs[0].Value(ctxKey{}) {
				t.Errorf("the first op's values are not kept")
			}
			if !tt.own {
				// Detached: no op's cancellation may end it.
				for _, c := range tt.ctxs {
					if ctx.Done() == c.Done() && c.Done() != nil {
						t.Errorf("shares the done channel of an op's context")
					}
				}
			}
		})
	}
}

// TestGroupContextOutlivesAGivenUpVote: a voter who gives up does not end
// the round trip of the others in its group.
func TestGroupContextOutlivesAGivenUpVote(t *testing.T) {
	first, cancelFirst := context.WithTimeout(context.Background(), time.Minute)
	second, cancelSecond := context.WithTimeout(context.Background(), time.Hour)
	defer cancelSecond()
	ctx, cancel := groupContext([]*redisOp{{ctx: first}, {ctx: second}})
	defer cancel()
	cancelFirst()
	select {
	case <-ctx.Done():
		t.Fatal("the group's context ended with one voter's")
	default:
	}
	cancelSecond()
	if ctx.Err() != nil {
		t.Fatal("the group's context follows a voter's cancellation")
	}
	cancel()
	if ctx.Err() == nil {
		t.Fatal("cancel does not end the group's context")
	}
}
