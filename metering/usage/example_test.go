package usage_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/emulator"
	"github.com/azure-vote/azure-vote/metering/meteringtest"
	"github.com/azure-vote/azure-vote/metering/usage"
)

// A usage page's report over a ledger and the service, here the emulator:
// each hour's status, each day reconciled with the service's records, and
// the month's estimated charges.
func ExampleView_Report() {
	now := time.Date(2026, 11, 22, 8, 20, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	ctx := context.Background()
	ledger := meteringtest.NewLedger(clock) // or a Redis or bbolt ledger
	api := httptest.NewServer(emulator.New(emulator.Options{Now: clock}))
	defer api.Close()
	client, err := metering.NewClient(api.URL+"/api", metering.StaticToken("emulator"), nil)
	if err != nil {
		panic(err)
	}

	// Usage counted in two hours. The older one was reported and
	// accepted: what a metering.Reporter's pass records.
	reported := metering.HourOf(now).Add(-2 * time.Hour)
	ledger.Count("pervote", reported, 5)
	ledger.Count("pervote", now, 2)
	res, err := client.SendUsageEvent(ctx, metering.NewUsageEvent(resource, "basic", "pervote", reported, 5))
	if err != nil {
		panic(err)
	}
	recs, _ := ledger.Records(ctx, "pervote")
	rec := recs[0]
	rec.State, rec.Sent, rec.Reported, rec.UsageEventID = metering.StateAccepted, 5, res.Quantity, res.UsageEventID
	if _, err := ledger.Update(ctx, rec); err != nil {
		panic(err)
	}

	view := usage.NewView(usage.Options{
		Ledger: ledger, Dimension: "pervote", Events: client, Resource: resource, PlanID: "basic",
		RateCard: &usage.RateCard{Price: 0.05, Included: 2},
		Now:      clock,
	})
	// The last 24 hours. A reporter tells the view of its passes with
	// ReporterOptions{Observe: view.Observe}.
	rep, err := view.Report(ctx, now.Add(-23*time.Hour))
	if err != nil {
		panic(err)
	}
	for _, h := range rep.Hours {
		fmt.Println(h.Hour.Format("15:04"), h.Counted, h.Status)
	}
	for _, d := range rep.Reconciliation {
		line := fmt.Sprintf("%s: ledger billed %v, service holds %v: %s", d.Day.Format("Jan 2"), d.Billed, d.Submitted, d.Status)
		if d.Note != "" {
			line += " (" + d.Note + ")"
		}
		fmt.Println(line)
	}
	c := rep.Charges
	fmt.Printf("%v units this month, %v billable: %.2f\n", c.Quantity, c.Billable, c.Amount)
	// Output:
	// 08:00 2 open
	// 06:00 5 accepted
	// Nov 21: ledger billed 0, service holds 0: no-usage
	// Nov 22: ledger billed 5, service holds 5: unreported (2 not reported yet; what is reported matches)
	// 7 units this month, 5 billable: 0.25
}
