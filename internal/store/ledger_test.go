package store

import (
	"context"
	"testing"
	"time"

	"github.com/azure-vote/azure-vote/metering/meteringtest"
	"github.com/azure-vote/azure-vote/metering/redisledger/redistest"
)

// Both stores pass the kit's ledger conformance suite with usage counted by
// votes: the vote paths count through the ledgers as the suite expects.

func TestRedisLedger(t *testing.T) {
	srv := redistest.Start(t)
	meteringtest.TestLedger(t, func(t *testing.T, now func() time.Time) meteringtest.Harness {
		return harness(openRedis(t, srv, Options{Prefix: "{" + t.Name() + "}:", Now: now}))
	})
}

func TestBoltLedger(t *testing.T) {
	meteringtest.TestLedger(t, func(t *testing.T, now func() time.Time) meteringtest.Harness {
		return harness(openBolt(t, t.TempDir(), Options{Now: now}))
	})
}

func harness(s Store) meteringtest.Harness {
	return meteringtest.Harness{Ledger: s, Locker: s, Dimension: DefaultDimension, Count: func(ctx context.Context, at time.Time, n int) error {
		for range n {
			if _, err := s.Vote(ctx, "Cats", at); err != nil {
				return err
			}
		}
		return nil
	}}
}
