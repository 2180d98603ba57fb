package redisledger

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/internal/ledgerkit"
)

// Count queues on pipe the commands that count quantity units of the
// dimension's usage in the UTC hour holding at: the hour joins the
// dimension's index (ZADD) and its counter grows by quantity (INCRBYFLOAT,
// so fractions add up; integral totals stay plain integers such as "3").
//
// Queue them on a transaction, typically in go-redis TxPipelined (MULTI/EXEC,
// with WATCH if the step depends on what it reads), beside the commands of
// the work being billed: Redis then applies them all together, in one
// round trip, and none if the transaction is discarded or a WATCH aborts
// it. Redis does not roll a transaction back when one of its commands fails
// at run time; the index is written first, so a failed count leaves at
// worst an hour indexed with no usage, which costs nothing.
//
// Count writes nothing for a quantity of zero, and returns an error, having
// queued nothing, for a negative, infinite or NaN quantity, an empty
// dimension or a zero time. The pipeline's Exec context governs the round
// trip.
func (l *Ledger) Count(pipe redis.Pipeliner, dimension string, at time.Time, quantity float64) error {
	if err := ledgerkit.CheckCount(dimension, at, quantity); err != nil {
		return fmt.Errorf("redisledger: %w", err)
	}
	if quantity == 0 {
		return nil
	}
	hour := metering.HourOf(at)
	label := hour.Format(ledgerkit.HourLayout)
	// A queued command's own context is not used for the round trip.
	ctx := context.Background()
	pipe.ZAdd(ctx, l.hoursKey(dimension), redis.Z{Score: float64(hour.Unix()), Member: label})
	pipe.IncrByFloat(ctx, l.usageKey(dimension, label), quantity)
	return nil
}

// CountLua is Lua source that defines a local function for scripts that
// count usage in their own atomic step, without knowing the layout:
//
//	redisledger_count(k, a, quantity)
//
// counts quantity units of usage in the hour whose [Ledger.CountKeys] keys
// the script was given from KEYS[k] on and whose arguments from ARGV[a] on.
// Prepend it to the script (CountLua + myScript) and call the function
// where the usage is to be counted. quantity is a Lua number or a decimal
// string: pass fractional quantities as strings from ARGV, which Redis
// adds exactly as Count does (Lua writes numbers with 17 digits).
//
// As with Count, the index is written before the counter. All the keys are
// declared, so a script runs on Redis Cluster when its own keys share the
// prefix's hash tag.
const CountLua = `
local function redisledger_count(k, a, quantity)
  redis.call('ZADD', KEYS[k + 1], ARGV[a], ARGV[a + 1])
  redis.call('INCRBYFLOAT', KEYS[k], quantity)
end
`

// CountKeys returns the keys and arguments that a script built on
// [CountLua] needs to count usage of the dimension in the UTC hour holding
// at. Pass each list whole and in order, in KEYS and ARGV, and give the
// positions of their first elements to redisledger_count. Their lengths
// never change, so a script counting in several hours may pass the lists
// one after the other and compute the positions from the lengths. The
// dimension must not be empty.
func (l *Ledger) CountKeys(dimension string, at time.Time) (keys []string, args []any) {
	hour := metering.HourOf(at)
	label := hour.Format(ledgerkit.HourLayout)
	return []string{l.usageKey(dimension, label), l.hoursKey(dimension)}, []any{hour.Unix(), label}
}
