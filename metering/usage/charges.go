package usage

import (
	"math"
	"slices"
	"time"

	"github.com/azure-vote/azure-vote/metering"
)

// RateCard prices a month's usage of a dimension, as a plan's rate card
// does: the Included units are free, the others cost Price each, or the
// Price of the tier they fall in.
type RateCard struct {
	Price    float64 // per unit, below the first tier
	Included float64 // units included in the plan each month
	// Tiers lower (or raise) the price of the units above each threshold
	// of the month's usage, in ascending order of From.
	Tiers []Tier
}

// Tier prices every unit of a month's usage above From at Price.
type Tier struct {
	From  float64 `json:"from"`  // units of the month before the tier starts
	Price float64 `json:"price"` // per unit within the tier
}

// Cost is the estimated charge of a month's usage: the Included units are
// free, and every other unit costs the price of the tier it falls in
// (graduated, as rate cards read: with a tier from 1000 at 0.01 the 1001st
// unit is the first at 0.01). The included units are the month's first ones.
func (c RateCard) Cost(quantity float64) float64 {
	var cost float64
	from, price := 0.0, c.Price
	for i := 0; i <= len(c.Tiers); i++ {
		to := math.Inf(1)
		if i < len(c.Tiers) {
			to = c.Tiers[i].From
		}
		// The part of [Included, quantity) that lies in this band.
		if lo, hi := max(from, c.Included), min(to, quantity); hi > lo {
			cost += (hi - lo) * price
		}
		if i < len(c.Tiers) {
			from, price = c.Tiers[i].From, c.Tiers[i].Price
		}
	}
	return cost
}

// Billable is the part of a month's usage beyond the included units.
func (c RateCard) Billable(quantity float64) float64 { return max(0, quantity-c.Included) }

// Sources of the quantity billed in Charges.
const (
	SourceService = "service" // the service's records of the month
	SourceLedger  = "ledger"  // the ledger's hours, the service not answering
)

// Charges estimate the month's bill under a rate card. It is an estimate:
// the invoice comes from Microsoft.
type Charges struct {
	Month time.Time `json:"month"` // first day of the month, UTC
	// Billed is what the service accepted this month; Source says whose
	// totals these are: SourceService, or SourceLedger when the service
	// could not be asked (then only the hours the ledger still holds
	// count).
	Billed   float64 `json:"billed"`
	Unbilled float64 `json:"unbilled"` // counted this month, not reported yet
	Quantity float64 `json:"quantity"` // Billed + Unbilled
	Included float64 `json:"included"`
	Billable float64 `json:"billable"`
	Price    float64 `json:"price"`
	Tiers    []Tier  `json:"tiers,omitempty"`
	Amount   float64 `json:"amount"`
	Source   string  `json:"source"`
}

// charges estimates the bill of month: the service's totals of the month
// plus what the ledger has counted and not reported yet. Without the
// service's totals, the ledger's hours are all there is. Nil without a
// rate card.
func charges(card *RateCard, hours []metering.Record, svc Service, month time.Time) *Charges {
	if card == nil {
		return nil
	}
	c := &Charges{Month: month, Included: card.Included, Price: card.Price, Tiers: slices.Clone(card.Tiers), Source: SourceService}
	answered := svc.Answered()
	if !answered {
		c.Source = SourceLedger
	}
	for _, r := range svc.Records {
		// What the service accepted; processing only confirms it later,
		// unless it rejects it.
		if !r.UsageDate.Before(month) && r.ReconStatus != metering.ReconRejected {
			c.Billed += r.SubmittedQuantity
		}
	}
	for _, r := range hours {
		if r.Hour.Before(month) {
			continue
		}
		if !answered {
			c.Billed += r.Reported
		}
		c.Unbilled += max(0, r.Due())
	}
	c.Quantity = c.Billed + c.Unbilled
	c.Billable = card.Billable(c.Quantity)
	c.Amount = card.Cost(c.Quantity)
	return c
}
