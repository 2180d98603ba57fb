package meteringtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/azure-vote/azure-vote/metering/meteringtest"
)

func TestMemoryLedger(t *testing.T) {
	meteringtest.TestLedger(t, func(t *testing.T, now func() time.Time) meteringtest.Harness {
		l := meteringtest.NewLedger(now)
		return meteringtest.Harness{Ledger: l, Locker: l, Dimension: "pervote", Count: func(_ context.Context, at time.Time, n int) error {
			l.Count("pervote", at, float64(n))
			return nil
		}}
	})
}
