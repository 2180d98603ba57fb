package usage

import (
	"math"
	"testing"
	"time"

	"github.com/azure-vote/azure-vote/metering"
)

func TestRateCard(t *testing.T) {
	tiered := RateCard{Price: 0.02, Tiers: []Tier{{1000, 0.01}, {10000, 0.005}}}
	withBase := tiered
	withBase.Included = 1500
	for _, tc := range []struct {
		name     string
		card     RateCard
		quantity float64
		billable float64
		cost     float64
	}{
		{"nothing used", RateCard{Price: 0.5}, 0, 0, 0},
		{"flat price", RateCard{Price: 0.5}, 7, 7, 3.5},
		{"within the included units", RateCard{Price: 0.5, Included: 10}, 7, 0, 0},
		{"beyond the included units", RateCard{Price: 0.5, Included: 10}, 14, 4, 2},
		{"first band only", tiered, 1000, 1000, 20},
		{"into the second band", tiered, 1500, 1500, 20 + 5},
		{"into the third band", tiered, 12000, 12000, 20 + 90 + 10},
		{"included reach into the second band", withBase, 2000, 500, 5},
		{"included units are the month's first", withBase, 10500, 9000, 85 + 2.5},
		{"a free tier", RateCard{Price: 1, Tiers: []Tier{{5, 0}}}, 100, 100, 5},
		{"fractional units", RateCard{Price: 2}, 0.25, 0.25, 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.card.Billable(tc.quantity); got != tc.billable {
				t.Errorf("Billable(%v) = %v, want %v", tc.quantity, got, tc.billable)
			}
			if got := tc.card.Cost(tc.quantity); math.Abs(got-tc.cost) > 1e-9 {
				t.Errorf("Cost(%v) = %v, want %v", tc.quantity, got, tc.cost)
			}
		})
	}
}

func TestCharges(t *testing.T) {
	month := MonthOf(testNow)
	card := &RateCard{Price: 0.05, Included: 20, Tiers: []Tier{{From: 100, Price: 0.04}}}
	lastMonth := month.Add(-2 * time.Hour)
	hours := []metering.Record{
		{Hour: lastMonth, State: metering.StateAccepted, Counted: 500, Reported: 500}, // another month
		{Hour: hourAgo(30), State: metering.StateAccepted, Counted: 60, Reported: 60},
		{Hour: hourAgo(3), State: metering.StateDuplicate, Counted: 50, Reported: 40, CarriedOut: 10},
		{Hour: hourAgo(2), State: metering.StateExpired, Counted: 9, CarriedOut: 9}, // carried: counted where it went
		{Hour: hourAgo(1), State: metering.StatePending, Counted: 7, CarriedIn: 19},
		{Hour: hourAgo(0), Counted: 4},
	}
	row := func(at time.Time, q float64, st metering.ReconStatus) metering.UsageRecord {
		return metering.UsageRecord{UsageDate: metering.Time{Time: metering.DayOf(at)}, SubmittedQuantity: q, ProcessedQuantity: q, ReconStatus: st}
	}
	svc := Service{FetchedAt: testNow, Records: []metering.UsageRecord{
		row(lastMonth, 500, metering.ReconAccepted),
		row(hourAgo(30), 61, metering.ReconAccepted), // the service's word, not the ledger's, is what is billed
		row(hourAgo(3), 40, metering.ReconSubmitted), // received, not processed yet: billed all the same
		row(hourAgo(3), 8, metering.ReconRejected),   // refused: not billed
	}}
	for _, tc := range []struct {
		name string
		svc  Service
		want Charges
	}{
		{"from the service", svc, Charges{Billed: 101, Unbilled: 30, Quantity: 131, Billable: 111, Amount: 4 + 31*0.04, Source: SourceService}},
		{"the service unanswered", Service{FetchedAt: testNow, Error: "503"},
			Charges{Billed: 100, Unbilled: 30, Quantity: 130, Billable: 110, Amount: 4 + 30*0.04, Source: SourceLedger}},
		{"reporting paused", Service{Unavailable: "paused"},
			Charges{Billed: 100, Unbilled: 30, Quantity: 130, Billable: 110, Amount: 4 + 30*0.04, Source: SourceLedger}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := charges(card, hours, tc.svc, month)
			want := tc.want
			want.Month, want.Included, want.Price, want.Tiers = month, 20, 0.05, card.Tiers
			if c.Month != want.Month || c.Billed != want.Billed || c.Unbilled != want.Unbilled || c.Quantity != want.Quantity ||
				c.Billable != want.Billable || math.Abs(c.Amount-want.Amount) > 1e-9 || c.Source != want.Source ||
				c.Included != want.Included || c.Price != want.Price || len(c.Tiers) != 1 || c.Tiers[0] != want.Tiers[0] {
				t.Errorf("charges %+v, want %+v", *c, want)
			}
		})
	}
	if c := charges(nil, hours, svc, month); c != nil {
		t.Errorf("charges without a rate card: %+v", c)
	}
	// The charges hold a copy of the tiers: a page cannot change the card.
	c := charges(card, hours, svc, month)
	c.Tiers[0].Price = 1
	if card.Tiers[0].Price != 0.04 {
		t.Error("the charges share the rate card's tiers")
	}
}
