package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/redisledger"
)

// voteScript applies a group of votes in one step and returns the counts
// from before it, with which votes counted: a vote with a token counts only
// if SET NX of its token key succeeds, so a token counts once whether it is
// repeated within the group or in a later one. Counts then grow by each
// choice's total, and usage by each hour's, counted through the ledger's
// script API (redisledger.CountLua, prepended), which alone knows its keys.
//
// KEYS: 1 the votes hash, then nk keys per hour of the group's n hours
// (the ledger's CountKeys), then one key per distinct token.
// ARGV: 1 n, 2 the token lifetime in ms, 3 nk, 4 na, then na arguments per
// hour (CountKeys'), then three per vote: choice, hour (1..n), token (1..,
// 0 = none).
//
// Every key is declared, so with Redis Cluster the script runs where the
// prefix's hash tag puts them all.
const voteScript = redisledger.CountLua + `
local n, nk, na = tonumber(ARGV[1]), tonumber(ARGV[3]), tonumber(ARGV[4])
local before = redis.call('HGETALL', KEYS[1])
local counted, byChoice, byHour, marked = {}, {}, {}, {}
for i = 5 + n * na, #ARGV, 3 do
  local choice, h, tk = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local ok = tk == 0
  if not ok then
    local key = KEYS[1 + n * nk + tk]
    ok = redis.call('SET', key, '1', 'NX', 'PX', ARGV[2])
    if ok then marked[#marked + 1] = key end
  end
  if ok then
    byChoice[choice] = (byChoice[choice] or 0) + 1
    byHour[h] = (byHour[h] or 0) + 1
    counted[#counted + 1] = '1'
  else
    counted[#counted + 1] = '0'
  end
end
local ok, err = pcall(function()
  for choice, k in pairs(byChoice) do redis.call('HINCRBY', KEYS[1], choice, k) end
  for h, k in pairs(byHour) do redisledger_count(2 + (h - 1) * nk, 5 + (h - 1) * na, k) end
end)
if not ok then
  -- A token stays only with its vote: sent again, it must count.
  if #marked > 0 then redis.call('DEL', unpack(marked)) end
  return redis.error_reply('votes not applied: ' .. (type(err) == 'table' and tostring(err.err) or tostring(err)))
end
return {before, table.concat(counted)}
`

// redisOp is one vote, or one read of the counts (choice ""), waiting for
// the round trip that answers it.
type redisOp struct {
	ctx           context.Context
	choice, token string
	hour          time.Time

	counts  map[string]int64
	counted bool
	err     error
	done    chan struct{} // receives once the op is answered
}

func (op *redisOp) isVote() bool { return op.choice != "" }

// applyGroup answers every op of group with one round trip: a read of the
// counts when the group holds only reads, otherwise voteScript. Each op gets
// the counts as they stand at its place in the group; a failed round trip
// fails every op, and the script leaves none half-applied.
func (s *Redis) applyGroup(group []*redisOp) {
	ctx, cancel := groupContext(group)
	defer cancel()
	before, counted, err := s.roundTrip(ctx, group)
	if err == nil {
		var running map[string]int64
		if running, err = countsOf(before); err == nil {
			for i, op := range group {
				if op.isVote() && counted[i] {
					running[op.choice]++
				}
				op.counts, op.counted = maps.Clone(running), counted[i]
			}
		}
	}
	for _, op := range group {
		if err != nil {
			op.counts, op.counted, op.err = nil, false, err
		}
		op.done <- struct{}{}
	}
}

// roundTrip runs the group and returns the counts from before it and, per
// op, whether it counted.
func (s *Redis) roundTrip(ctx context.Context, group []*redisOp) (map[string]string, []bool, error) {
	counted := make([]bool, len(group))
	keys, args := s.scriptInput(group)
	if keys == nil {
		m, err := s.rdb.HGetAll(ctx, s.votes).Result()
		if err != nil {
			return nil, nil, fmt.Errorf("store: read counts: %w", err)
		}
		return m, counted, nil
	}
	res, err := s.runVote(ctx, keys, args)
	if err != nil {
		return nil, nil, fmt.Errorf("store: vote: %w", err)
	}
	pairs, _ := res[0].([]any)
	flags, _ := res[1].(string)
	if len(res) != 2 || len(pairs)%2 != 0 {
		return nil, nil, errors.New("store: vote: unexpected answer from the vote script")
	}
	before := make(map[string]string, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		k, _ := pairs[i].(string)
		v, _ := pairs[i+1].(string)
		before[k] = v
	}
	v := 0
	for i, op := range group {
		if op.isVote() {
			if v >= len(flags) {
				return nil, nil, errors.New("store: vote: the vote script answered for fewer votes than it was sent")
			}
			counted[i] = flags[v] == '1'
			v++
		}
	}
	return before, counted, nil
}

// runVote runs voteScript and, with WaitReplicas, Redis WAIT on the same
// connection in the same round trip: WAIT counts the replicas that hold
// this connection's writes, so it must follow them on their connection.
func (s *Redis) runVote(ctx context.Context, keys []string, args []any) ([]any, error) {
	if s.waitReplicas <= 0 {
		return s.vote.Run(ctx, s.rdb, keys, args...).Slice()
	}
	var node redis.Cmdable = s.rdb
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		// A keyless WAIT would go to any node: send both to the one that
		// holds the keys (they share a slot).
		master, err := cc.MasterForKey(ctx, keys[0])
		if err != nil {
			return nil, err
		}
		node = master
	}
	for attempt := 0; ; attempt++ {
		pipe := node.Pipeline()
		ev := s.vote.EvalSha(ctx, pipe, keys, args...)
		wait := pipe.Do(ctx, "wait", s.waitReplicas, s.waitTimeout.Milliseconds())
		_, _ = pipe.Exec(ctx)
		if err := ev.Err(); err != nil {
			if attempt == 0 && redis.HasErrorPrefix(err, "NOSCRIPT") {
				if err := s.vote.Load(ctx, node).Err(); err != nil {
					return nil, err
				}
				continue
			}
			return nil, err
		}
		res, err := ev.Slice()
		if err != nil {
			return nil, err
		}
		n, err := wait.Int64()
		if err != nil {
			return nil, fmt.Errorf("wait for replicas: %w", err)
		}
		if n < int64(s.waitReplicas) {
			// Applied on the primary, not yet safe from a failover: not
			// acknowledged. A resend with the same token is not counted twice.
			return nil, fmt.Errorf("%d of %d replicas hold it after %s (REDIS_WAIT_REPLICAS)", n, s.waitReplicas, s.waitTimeout)
		}
		return res, nil
	}
}

// scriptInput builds voteScript's keys and arguments for the votes of
// group, or returns nil keys if it holds none.
func (s *Redis) scriptInput(group []*redisOp) (keys []string, args []any) {
	var hours []time.Time
	var tokens []string
	type vote struct {
		choice      string
		hour, token int
	}
	votes := make([]vote, 0, len(group))
	for _, op := range group {
		if !op.isVote() {
			continue
		}
		v := vote{choice: op.choice, hour: indexOrAppend(&hours, op.hour) + 1}
		if op.token != "" {
			v.token = indexOrAppend(&tokens, op.token) + 1
		}
		votes = append(votes, v)
	}
	if len(votes) == 0 {
		return nil, nil
	}
	// Each hour's keys and arguments, from the ledger: their lengths are
	// the same for every hour, and the script is told them.
	var nk, na int
	keys = append(make([]string, 0, 1+2*len(hours)+len(tokens)), s.votes)
	args = make([]any, 4, 4+2*len(hours)+3*len(votes))
	for _, h := range hours {
		k, a := s.Ledger.CountKeys(s.dim, h)
		keys, args = append(keys, k...), append(args, a...)
		nk, na = len(k), len(a)
	}
	args[0], args[1], args[2], args[3] = len(hours), s.tokenTTL.Milliseconds(), nk, na
	for _, t := range tokens {
		keys = append(keys, s.voteTokens+t)
	}
	for _, v := range votes {
		args = append(args, v.choice, v.hour, v.token)
	}
	return keys, args
}

// indexOrAppend returns the index of v in *list, appending it if absent.
// Groups hold few distinct hours, so a scan beats a map.
func indexOrAppend[T comparable](list *[]T, v T) int {
	for i, x := range *list {
		if x == v {
			return i
		}
	}
	*list = append(*list, v)
	return len(*list) - 1
}

// groupContext bounds a group's round trip by the latest deadline of its
// ops: one voter giving up does not fail the others. Without a deadline the
// client's I/O timeouts bound it.
func groupContext(group []*redisOp) (context.Context, context.CancelFunc) {
	if sameEnd(group) {
		// What ends the first op's context ends every op's wait: no timer
		// to set up. The web handlers' store calls share deadline
		// contexts, so most groups take this path.
		return group[0].ctx, func() {}
	}
	var latest time.Time
	for _, op := range group {
		d, ok := op.ctx.Deadline()
		if !ok {
			return context.WithCancel(context.WithoutCancel(group[0].ctx))
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(context.WithoutCancel(group[0].ctx), latest)
}

// sameEnd reports whether every op of group waits under a context that
// ends as the first op's does: the same done channel and deadline. Compared
// by these, not as values, since a Context need not be comparable.
func sameEnd(group []*redisOp) bool {
	done := group[0].ctx.Done()
	d, ok := group[0].ctx.Deadline()
	for _, op := range group[1:] {
		if op.ctx.Done() != done {
			return false
		}
		if d2, ok2 := op.ctx.Deadline(); ok2 != ok || !d2.Equal(d) {
			return false
		}
	}
	return true
}

// maxRedisGroup bounds the ops of one round trip, and so the script's run
// time, during which Redis serves nobody else.
const maxRedisGroup = 512

// redisGroups is the group commit of votes and reads. One goroutine, the
// sender, makes every round trip: as soon as one is answered it sends, as
// the next group, every op that arrived meanwhile, so at most one is in
// flight. No timer: an op that finds the sender idle wakes it at once, and a
// lone vote waits for nothing but a goroutine switch and its round trip.
// Request goroutines only wait: the client's deep call stack lives on the
// sender's stack alone, which stays grown, instead of growing the stack of
// every request that happens to lead a group.
type redisGroups struct {
	mu      sync.Mutex
	pending []*redisOp // arrived since the last group went out: the next group
	spare   []*redisOp // the last group's array, reused for the next
	// busy: the sender has been woken and has not yet found pending empty.
	// While it is set, the wake-up is on its way or taken, so the one slot
	// of wake is free whenever busy is not.
	busy    bool
	closed  bool
	wake    chan struct{} // one slot; closed by close
	stopped chan struct{} // closed when the sender has returned; nil before the first op
}

// errStoreClosed answers an op that arrives after Close.
var errStoreClosed = errors.New("store: closed")

// take removes the next group from pending; g.mu is held.
func (g *redisGroups) take() []*redisOp {
	n := min(len(g.pending), maxRedisGroup)
	group := append(g.spare[:0], g.pending[:n]...)
	g.spare = nil
	rest := copy(g.pending, g.pending[n:])
	clear(g.pending[rest:])
	g.pending = g.pending[:rest]
	return group
}

// next hands back the answered group (nil at first) and returns the next
// one, or nil, leaving the sender idle, if no op waits.
func (g *redisGroups) next(done []*redisOp) []*redisOp {
	clear(done)
	g.mu.Lock()
	defer g.mu.Unlock()
	if done != nil {
		g.spare = done[:0]
	}
	if len(g.pending) == 0 {
		g.busy = false
		return nil
	}
	return g.take()
}

// close sends what is pending, stops the sender and refuses later ops.
func (g *redisGroups) close() {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	g.closed = true
	stopped := g.stopped
	if stopped != nil {
		close(g.wake)
	}
	g.mu.Unlock()
	if stopped != nil {
		<-stopped
	}
}

// do sends op with the next round trip and waits for its answer or for
// ctx. A vote given up on may still be applied with the round trip it went
// out in, and ops that arrive later never join a round trip already under
// way: a read always sees every vote acknowledged before it began.
func (s *Redis) do(ctx context.Context, op *redisOp) error {
	op.ctx = ctx
	op.done = make(chan struct{}, 1)
	g := &s.groups
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return errStoreClosed
	}
	if g.stopped == nil { // the first op starts the sender
		g.wake, g.stopped = make(chan struct{}, 1), make(chan struct{})
		go s.sendGroups(g.wake, g.stopped)
	}
	g.pending = append(g.pending, op)
	if !g.busy {
		g.busy = true
		g.wake <- struct{}{}
	}
	g.mu.Unlock()
	select {
	case <-op.done:
		return op.err
	case <-ctx.Done():
		return fmt.Errorf("store: %w", ctx.Err())
	}
}

// sendGroups is the sender: woken, it sends group after group until no op
// waits. It returns once wake is closed, after the groups already pending.
func (s *Redis) sendGroups(wake <-chan struct{}, stopped chan<- struct{}) {
	defer close(stopped)
	for range wake {
		for group := s.groups.next(nil); group != nil; group = s.groups.next(group) {
			s.applyGroup(group)
		}
	}
}

// VoteOnce adds 1 to choice's count and to the usage of the UTC hour of at,
// unless a vote with the same token was counted in the last TokenTTL, and
// returns the counts after it and whether this vote counted. The token's
// mark and the vote are one atomic step, so a vote whose answer was lost
// can be sent again with its token and counts at most once. A vote with no
// token ("") always counts.
func (s *Redis) VoteOnce(ctx context.Context, choice, token string, at time.Time) (map[string]int64, bool, error) {
	if err := checkToken(token); err != nil {
		return nil, false, err
	}
	if choice == "" {
		return nil, false, errors.New("store: vote for an empty choice")
	}
	op := &redisOp{choice: choice, token: token, hour: metering.HourOf(at)}
	if err := s.do(ctx, op); err != nil {
		return nil, false, err
	}
	return op.counts, op.counted, nil
}

// Vote adds 1 to choice's count and to the usage of the UTC hour of at, and
// returns the counts after the vote: VoteOnce without a token.
func (s *Redis) Vote(ctx context.Context, choice string, at time.Time) (map[string]int64, error) {
	counts, _, err := s.VoteOnce(ctx, choice, "", at)
	return counts, err
}

// Counts returns the count of every choice voted for since the start.
func (s *Redis) Counts(ctx context.Context) (map[string]int64, error) {
	op := &redisOp{}
	if err := s.do(ctx, op); err != nil {
		return nil, err
	}
	return op.counts, nil
}
