// Command widgets meters a made-up dimension, "widgets", with the kit: each
// widget built is counted in the same Redis transaction that records it,
// and a reporter pass bills the closed hour to the Metering API emulator.
package main

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/emulator"
	"github.com/azure-vote/azure-vote/metering/redisledger"
)

func main() {
	ctx, built := context.Background(), time.Now().Add(-time.Hour)                        // an hour ago: that hour has closed
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("REDIS_ADDR"), MaxRetries: -1}) // a resent MULTI would count twice
	ledger := redisledger.New(rdb, redisledger.Options{Prefix: "{widgets}:"})
	_, err := rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		tx.HIncrBy(ctx, "{widgets}:built", "blue", 3) // the work...
		return ledger.Count(tx, "widgets", built, 3)  // ...and its usage, applied together
	})
	check(err)
	api := httptest.NewServer(emulator.New(emulator.Options{})) // for real: metering.DefaultEndpoint
	client, err := metering.NewClient(api.URL+"/api", metering.StaticToken("emulator"), nil)
	check(err)
	reporter, err := metering.NewReporter(metering.ReporterOptions{Ledger: ledger, Sender: client,
		Resource: "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Solutions/applications/widgets",
		PlanID:   "basic", Dimensions: []string{"widgets"}})
	check(err)
	res, err := reporter.Pass(ctx) // hourly, with metering.Schedule
	check(err)
	fmt.Println("accepted", res.Accepted, "of", res.Sent)
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
