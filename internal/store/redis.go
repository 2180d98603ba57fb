package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/azure-vote/azure-vote/metering/redisledger"
)

// Redis is the store on a Redis server, Sentinel group or Cluster. Its
// layout is described in the package documentation. Its usage counters and
// ledger are a [redisledger.Ledger] on the same client and prefix, which
// the votes count through; its methods (Records, History, Update, Carry,
// Lock) are the store's, for the reporter and the usage page.
type Redis struct {
	*redisledger.Ledger
	rdb redis.UniversalClient
	dim string

	// The keys every vote writes, built once: the vote path is hot.
	votes        string
	voteTokens   string // the key of a vote token less the token
	tokenTTL     time.Duration
	waitReplicas int           // see Options.WaitReplicas
	waitTimeout  time.Duration //

	groups redisGroups // votes and reads, grouped into round trips

	vote, reset *redis.Script
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
	rdb := newClient(&uo)
	return &Redis{
		rdb:          rdb,
		Ledger:       redisledger.New(rdb, redisledger.Options{Prefix: o.Prefix, Now: o.Now}),
		dim:          o.Dimension,
		votes:        o.Prefix + "votes",
		voteTokens:   o.Prefix + "vote-token:",
		tokenTTL:     o.TokenTTL,
		waitReplicas: o.WaitReplicas,
		waitTimeout:  o.WaitTimeout,
		vote:         redis.NewScript(voteScript),
		reset:        redis.NewScript(resetScript),
	}
}

func (s *Redis) votesKey() string { return s.votes }

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

// Close answers the votes and reads already waiting, then closes the
// client's connections. Calls after it fail.
func (s *Redis) Close() error {
	s.groups.close()
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
