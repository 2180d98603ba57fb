package metering_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/emulator"
	"github.com/azure-vote/azure-vote/metering/meteringtest"
)

// exampleResource is an extension's ARM id, sent as resourceUri.
const exampleResource = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.KubernetesConfiguration/extensions/my-app"

// Send one hour of usage. Against the real service the endpoint is
// metering.DefaultEndpoint and the credential metering.NewCredential's.
func ExampleClient_SendUsageEvent() {
	api := httptest.NewServer(emulator.New(emulator.Options{}))
	defer api.Close()
	client, err := metering.NewClient(api.URL+"/api", metering.StaticToken("emulator"), nil)
	if err != nil {
		panic(err)
	}
	hour := metering.HourOf(time.Now().Add(-time.Hour))
	res, err := client.SendUsageEvent(context.Background(), metering.NewUsageEvent(exampleResource, "basic", "pervote", hour, 42))
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Status, res.Quantity)

	// The same hour again is a duplicate: the service bills an hour once.
	res, _ = client.SendUsageEvent(context.Background(), metering.NewUsageEvent(exampleResource, "basic", "pervote", hour, 7))
	billed, _ := res.Accepted()
	fmt.Println(res.Status, billed.Quantity)
	// Output:
	// Accepted 42
	// Duplicate 42
}

// A reporter over a ledger: usage is counted into its UTC hour, and a pass
// reports every closed hour once, here to the emulator.
func ExampleReporter_Pass() {
	now := time.Date(2026, 11, 22, 8, 20, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	ledger := meteringtest.NewLedger(clock) // or a Redis or bbolt ledger
	api := httptest.NewServer(emulator.New(emulator.Options{Now: clock}))
	defer api.Close()
	client, err := metering.NewClient(api.URL+"/api", metering.StaticToken("emulator"), nil)
	if err != nil {
		panic(err)
	}
	reporter, err := metering.NewReporter(metering.ReporterOptions{
		Ledger: ledger, Sender: client, Resource: exampleResource, PlanID: "basic", Dimensions: []string{"pervote"},
		Grace: 5 * time.Minute, Now: clock,
	})
	if err != nil {
		panic(err)
	}

	// In the application: count usage in the same step as the work billed.
	ledger.Count("pervote", now, 3)
	ledger.Count("pervote", now.Add(10*time.Minute), 2)

	now = now.Add(time.Hour) // 09:20: the 08:00 hour has closed
	res, err := reporter.Pass(context.Background())
	if err != nil {
		panic(err)
	}
	recs, _ := ledger.Records(context.Background(), "pervote")
	fmt.Println(res.Accepted, recs[0].State, recs[0].Reported)

	res, _ = reporter.Pass(context.Background()) // nothing left to send
	fmt.Println(res.Sent)
	// Output:
	// 1 accepted 5
	// 0
}

// An hour that may have been billed, and that the service's records cannot
// decide, waits for an operator, who checks Partner Center and settles it.
func ExampleReporter_Settle() {
	hour := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	now := hour.Add(30 * time.Hour)
	clock := func() time.Time { return now }
	ledger := meteringtest.NewLedger(clock)
	ledger.Count("pervote", hour, 9)
	rec, _ := ledger.Records(context.Background(), "pervote")
	unresolved := rec[0]
	unresolved.State, unresolved.Sent, unresolved.MaybeBilled = metering.StateUnresolved, 9, true
	unresolved.Unresolved = "the service's records show no usage for 2026-11-20 yet"
	if _, err := ledger.Update(context.Background(), unresolved); err != nil {
		panic(err)
	}

	// Settling asks nothing of the service: the client is never called.
	client, err := metering.NewClient(metering.DefaultEndpoint, metering.StaticToken("unused"), nil)
	if err != nil {
		panic(err)
	}
	reporter, err := metering.NewReporter(metering.ReporterOptions{
		Ledger: ledger, Sender: client, Resource: exampleResource, PlanID: "basic", Dimensions: []string{"pervote"}, Now: clock,
	})
	if err != nil {
		panic(err)
	}
	got, err := reporter.Settle(context.Background(), "pervote", hour, metering.VerdictCarry,
		"Partner Center shows no usage that hour", "ops@example.com")
	if err != nil {
		panic(err)
	}
	fmt.Println(got.State, got.CarriedOut, got.CarriedTo.Format(time.RFC3339), got.ResolvedBy)
	// Output: expired 9 2026-11-21T14:00:00Z ops@example.com
}
