package boltledger_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/azure-vote/azure-vote/metering/boltledger"
)

// An application bills what it does in the same transaction that does it:
// here an order and its usage, committed together or not at all. The
// reporter reads the usage through the same Ledger.
func ExampleLedger_Count() {
	dir, err := os.MkdirTemp("", "boltledger-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := bolt.Open(filepath.Join(dir, "shop.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ledger, err := boltledger.New(db, boltledger.Options{})
	if err != nil {
		log.Fatal(err)
	}

	at := time.Date(2026, 11, 22, 8, 15, 0, 0, time.UTC)
	for _, gb := range []float64{1.5, 0.25} {
		err = db.Update(func(tx *bolt.Tx) error {
			orders, err := tx.CreateBucketIfNotExists([]byte("orders"))
			if err != nil {
				return err
			}
			if err := orders.Put([]byte(fmt.Sprint("transfer-", gb)), []byte("done")); err != nil {
				return err
			}
			return ledger.Count(tx, "gigabytes", at, gb)
		})
		if err != nil {
			log.Fatal(err)
		}
	}

	recs, err := ledger.Records(context.Background(), "gigabytes")
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range recs {
		fmt.Println(r.Hour.Format(time.RFC3339), r.Counted, "due:", r.Due())
	}
	// Output: 2026-11-22T08:00:00Z 1.75 due: 1.75
}
