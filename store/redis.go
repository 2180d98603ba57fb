package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the store on a Redis server, Sentinel group or Cluster. Its
// layout is described in the package documentation.
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
	dim    string
	now    func() time.Time

	// The keys every vote writes, built once: the vote path is hot.
	votes, voteHours string
	voteUsage        string // the usage key less its hour
	voteTokens       string // the key of a vote token less the token
	tokenTTL         time.Duration
	waitReplicas     int           // see Options.WaitReplicas
	waitTimeout      time.Duration //

	groups redisGroups // votes and reads, grouped into round trips

	vote, reset, update, carry, prune, renew, release *redis.Script
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
		rdb:          newClient(&uo),
		prefix:       o.Prefix,
		dim:          o.Dimension,
		now:          o.Now,
		tokenTTL:     o.TokenTTL,
		waitReplicas: o.WaitReplicas,
		waitTimeout:  o.WaitTimeout,
		vote:         redis.NewScript(voteScript),
		reset:        redis.NewScript(resetScript),
		update:       redis.NewScript(updateScript),
		carry:        redis.NewScript(carryScript),
		prune:        redis.NewScript(pruneScript),
		renew:        redis.NewScript(renewScript),
		release:      redis.NewScript(releaseScript),
	}
	s.votes, s.voteHours, s.voteUsage = s.prefix+"votes", s.hoursKey(s.dim), s.usageKey(s.dim, "")
	s.voteTokens = s.prefix + "vote-token:"
	return s
}

func (s *Redis) votesKey() string                 { return s.votes }
func (s *Redis) usageKey(dim, hour string) string { return s.prefix + "usage:" + dim + ":" + hour }
func (s *Redis) hoursKey(dim string) string       { return s.prefix + "usage-hours:" + dim }
func (s *Redis) ledgerKey(dim, hour string) string {
	return s.prefix + "ledger:" + dim + ":" + hour
}
func (s *Redis) lockKey(name string) string { return s.prefix + "lock:" + name }

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
