package redisledger_test

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/azure-vote/azure-vote/metering/redisledger"
)

// An application bills what it does in the same transaction that does it:
// here an order and its usage, applied together or not at all, in one
// round trip. The reporter reads the usage through the same Ledger.
// (Run against a real server by TestCountInTransaction.)
func ExampleLedger_Count() {
	ctx := context.Background()
	// MaxRetries -1: a transaction retried after its answer was lost would
	// count twice.
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("REDIS_ADDR"), MaxRetries: -1})
	defer rdb.Close()
	ledger := redisledger.New(rdb, redisledger.Options{Prefix: "{shop}:"})

	_, err := rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.HIncrBy(ctx, "{shop}:orders", "widget", 1)
		return ledger.Count(pipe, "orders", time.Now(), 1)
	})
	if err != nil {
		log.Fatal(err)
	}
	// The reporter of package metering reads and settles the usage through ledger.
}

// A Lua script counts through the ledger's snippet, in the script's own
// atomic step.
func ExampleCountLua() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("REDIS_ADDR"), MaxRetries: -1})
	defer rdb.Close()
	ledger := redisledger.New(rdb, redisledger.Options{Prefix: "{shop}:"})

	// KEYS: the app's key, then CountKeys' keys; ARGV: the quantity, then
	// CountKeys' arguments.
	order := redis.NewScript(redisledger.CountLua + `
redis.call('HINCRBY', KEYS[1], 'widget', 1)
redisledger_count(2, 2, ARGV[1])
return 1
`)
	keys, args := ledger.CountKeys("orders", time.Now())
	keys = append([]string{"{shop}:orders"}, keys...)
	args = append([]any{"1"}, args...)
	if err := order.Run(ctx, rdb, keys, args...).Err(); err != nil {
		log.Fatal(err)
	}
}
