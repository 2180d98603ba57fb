package redisledger

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/azure-vote/azure-vote/metering"
)

// ErrLockLost is returned by a lock's Renew when the lock expired or was
// taken over by another holder.
var ErrLockLost = errors.New("redisledger: lock lost")

// renewScript extends the lock only if it still holds our token.
const renewScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`

// releaseScript deletes the lock only if it still holds our token.
const releaseScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`

// Lock takes the named lock for ttl with SET NX PX and a random token, or
// returns metering.ErrLocked when another holder has it. Redis expires it
// on its own clock, so a holder that dies frees it after ttl.
func (l *Ledger) Lock(ctx context.Context, name string, ttl time.Duration) (metering.Lock, error) {
	if ttl < time.Millisecond {
		return nil, fmt.Errorf("redisledger: lock %q: ttl %v is under a millisecond", name, ttl)
	}
	k := &lock{l: l, key: l.lockKey(name), token: rand.Text(), ttl: ttl}
	err := l.rdb.Do(ctx, "set", k.key, k.token, "nx", "px", ttl.Milliseconds()).Err()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisledger: lock %q: %w", name, metering.ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("redisledger: lock %q: %w", name, err)
	}
	return k, nil
}

type lock struct {
	l     *Ledger
	key   string
	token string
	ttl   time.Duration
}

// Renew extends the lock by its ttl, or returns ErrLockLost if it expired or
// another holder took it.
func (k *lock) Renew(ctx context.Context) error {
	n, err := k.l.renew.Run(ctx, k.l.rdb, []string{k.key}, k.token, k.ttl.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("redisledger: renew %s: %w", k.key, err)
	}
	if n == 0 {
		return fmt.Errorf("redisledger: renew %s: %w", k.key, ErrLockLost)
	}
	return nil
}

// Release deletes the lock if it is still ours.
func (k *lock) Release(ctx context.Context) error {
	if err := k.l.release.Run(ctx, k.l.rdb, []string{k.key}, k.token).Err(); err != nil {
		return fmt.Errorf("redisledger: release %s: %w", k.key, err)
	}
	return nil
}
