// Package ledgerkit holds the rules the kit's stored ledgers
// (metering/redisledger, metering/boltledger) share, so that both name
// hours, validate writes and forget settled hours alike.
package ledgerkit

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/azure-vote/azure-vote/metering"
)

// HourLayout names an hour in keys: the UTC hour's start, e.g. 2026-11-22T08.
const HourLayout = "2006-01-02T15"

// SettledRetention is how long a settled, balanced hour stays in Records.
// The reporter never looks further back than the service's 24-hour window,
// so two days leaves it a day of margin.
const SettledRetention = 48 * time.Hour

// MaxHistory bounds how far back History reads.
const MaxHistory = 31 * 24 * time.Hour

// Label names the UTC hour holding t.
func Label(t time.Time) string { return metering.HourOf(t).Format(HourLayout) }

// ParseLabel reads an hour named by Label.
func ParseLabel(label string) (time.Time, error) {
	h, err := time.ParseInLocation(HourLayout, label, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an hour (want %s)", label, HourLayout)
	}
	return h, nil
}

// HistoryStart is where History reads from: the hour of from, but no
// earlier than MaxHistory before now.
func HistoryStart(from, now time.Time) time.Time {
	first := metering.HourOf(from)
	if oldest := metering.HourOf(now).Add(-MaxHistory); first.Before(oldest) {
		first = oldest
	}
	return first
}

// Forgettable reports whether an hour may be left out of Records: settled by
// the service or a carry, nothing due, and older than the retention.
func Forgettable(r metering.Record, now time.Time) bool {
	return r.State.Settled() && r.Due() == 0 && now.Sub(r.Hour) > SettledRetention
}

// CheckRecord validates what Update and Carry are asked to write.
func CheckRecord(rec metering.Record) error {
	if rec.Hour.IsZero() {
		return errors.New("ledger record has no hour")
	}
	if rec.Dimension == "" {
		return errors.New("ledger record has no dimension")
	}
	if rec.Version < 0 {
		return fmt.Errorf("ledger record has negative version %d", rec.Version)
	}
	return nil
}

// CheckCarry validates a carry's target and quantity: a carry into its own
// hour, or of a quantity that is not a positive number, would unbalance the
// books.
func CheckCarry(from metering.Record, to time.Time, quantity float64) error {
	if err := CheckRecord(from); err != nil {
		return err
	}
	if to.IsZero() {
		return errors.New("carry has no target hour")
	}
	if metering.HourOf(to).Equal(metering.HourOf(from.Hour)) {
		return fmt.Errorf("carry from %s into itself", Label(to))
	}
	if !(quantity > 0) || math.IsInf(quantity, 0) {
		return fmt.Errorf("carry quantity %v is not a positive number", quantity)
	}
	return nil
}

// CheckCount validates usage to count: counters only grow, so a negative,
// infinite or NaN quantity would corrupt what customers are billed.
func CheckCount(dimension string, at time.Time, quantity float64) error {
	switch {
	case dimension == "":
		return errors.New("usage counted for no dimension")
	case at.IsZero():
		return errors.New("usage counted at no time")
	case quantity < 0 || math.IsNaN(quantity) || math.IsInf(quantity, 0):
		return fmt.Errorf("usage quantity %v is not a number of units (zero or more)", quantity)
	}
	return nil
}

// FormatQuantity writes a quantity in decimal, without exponent: integral
// ones as plain integers ("3"), as counters have always been stored.
func FormatQuantity(q float64) string { return strconv.FormatFloat(q, 'f', -1, 64) }

// SortRecords orders records oldest first.
func SortRecords(recs []metering.Record) {
	slices.SortFunc(recs, func(a, b metering.Record) int { return a.Hour.Compare(b.Hour) })
}
