package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/azure-vote/azure-vote/metering"
)

// Redis is the store on a Redis server, Sentinel group or Cluster. Its
// layout is described in the package documentation.
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
	dim    string
	now    func() time.Time

	// The keys every vote writes, built once: the vote path is hot.
	votes, voteHours, voteUsage string // voteUsage: the usage key less its hour

	reset, update, carry, prune, renew, release *redis.Script
}

// NewRedis makes a store on the server(s) of opts, which ParseRedisAddr
// returns. It does not connect: the client dials on the first call and
// reconnects by itself after an outage, so the application can start before
// Redis. opts is copied; whatever it says, the client never retries a call
// (see ParseRedisAddr), and unset timeouts get the store's short ones.
func NewRedis(opts *redis.UniversalOptions, o Options) *Redis {
	var uo redis.UniversalOptions
	if opts != nil {
		uo = *opts
	}
	applyClientSettings(&uo)
	o = o.withDefaults()
	s := &Redis{
		rdb:     newClient(&uo),
		prefix:  o.Prefix,
		dim:     o.Dimension,
		now:     o.Now,
		reset:   redis.NewScript(resetScript),
		update:  redis.NewScript(updateScript),
		carry:   redis.NewScript(carryScript),
		prune:   redis.NewScript(pruneScript),
		renew:   redis.NewScript(renewScript),
		release: redis.NewScript(releaseScript),
	}
	s.votes, s.voteHours, s.voteUsage = s.prefix+"votes", s.hoursKey(s.dim), s.usageKey(s.dim, "")
	return s
}

func (s *Redis) votesKey() string                 { return s.votes }
func (s *Redis) usageKey(dim, hour string) string { return s.prefix + "usage:" + dim + ":" + hour }
func (s *Redis) hoursKey(dim string) string       { return s.prefix + "usage-hours:" + dim }
func (s *Redis) ledgerKey(dim, hour string) string {
	return s.prefix + "ledger:" + dim + ":" + hour
}
func (s *Redis) lockKey(name string) string { return s.prefix + "lock:" + name }

// Vote adds 1 to choice's count and to the usage of the UTC hour of at, and
// returns the counts after the vote: one MULTI/EXEC, one round trip.
func (s *Redis) Vote(ctx context.Context, choice string, at time.Time) (map[string]int64, error) {
	hour := metering.HourOf(at)
	label := hour.Format(hourLayout)
	var counts *redis.MapStringStringCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HIncrBy(ctx, s.votes, choice, 1)
		p.Incr(ctx, s.voteUsage+label)
		p.ZAdd(ctx, s.voteHours, redis.Z{Score: float64(hour.Unix()), Member: label})
		counts = p.HGetAll(ctx, s.votes)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: vote: %w", err)
	}
	return countsOf(counts.Val())
}

// Counts returns the count of every choice voted for since the start.
func (s *Redis) Counts(ctx context.Context) (map[string]int64, error) {
	m, err := s.rdb.HGetAll(ctx, s.votesKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("store: read counts: %w", err)
	}
	return countsOf(m)
}

// resetScript zeroes every count of the votes hash and returns it.
const resetScript = `
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  redis.call('HSET', KEYS[1], f, 0)
end
return redis.call('HGETALL', KEYS[1])
`

// Reset sets every count to zero and returns the counts. Usage counters, which
// are billed, are not touched.
func (s *Redis) Reset(ctx context.Context) (map[string]int64, error) {
	pairs, err := s.reset.Run(ctx, s.rdb, []string{s.votesKey()}).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("store: reset counts: %w", err)
	}
	m := make(map[string]string, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	return countsOf(m)
}

// Ping checks that Redis answers.
func (s *Redis) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("store: ping redis: %w", err)
	}
	return nil
}

// Close closes the client's connections.
func (s *Redis) Close() error {
	if err := s.rdb.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("store: close redis client: %w", err)
	}
	return nil
}

func countsOf(m map[string]string) (map[string]int64, error) {
	counts := make(map[string]int64, len(m))
	for choice, raw := range m {
		n, err := parseCount(choice, raw)
		if err != nil {
			return nil, err
		}
		counts[choice] = n
	}
	return counts, nil
}
