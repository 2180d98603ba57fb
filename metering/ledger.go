package metering

import (
	"context"
	"errors"
	"time"
)

// State is where an hour of usage stands in the ledger.
type State string

// The ledger states. Pending and Inflight are unsettled; the others are settled
// (the service has given its word, or the quantity has been carried away).
const (
	// StatePending: counted, not yet sent, or refused for a reason that may
	// pass (403, invalid usage state, bad configuration).
	StatePending State = "pending"
	// StateInflight: claimed for a send whose answer is not recorded yet (a
	// send under way, or a crash before its answer was written).
	StateInflight State = "inflight"
	// StateUnresolved: a try may have reached the service (MaybeBilled), the
	// hour can no longer settle by a resend, and neither the service's
	// records nor an operator have said whether it holds the hour. Never
	// carried and never sent again; Unresolved says why. Each pass asks the
	// service's records again, and an operator may settle it.
	StateUnresolved State = "unresolved"
	// StateAccepted: the service accepted our event for this hour.
	StateAccepted State = "accepted"
	// StateDuplicate: the service already held an event for this hour; its
	// quantity is Reported. A shortfall against what we sent is carried.
	StateDuplicate State = "duplicate"
	// StateMismatch: a duplicate whose accepted quantity exceeds ours: the
	// customer was billed more than we counted. Flagged, never "fixed" by us.
	StateMismatch State = "mismatch"
	// StateExpired: the hour could not be sent for its own time (past the
	// 24-hour window, or the service said Expired); its usage was carried.
	StateExpired State = "expired"
)

// Settled reports whether the service's word (or a carry) closed the hour.
func (s State) Settled() bool {
	switch s {
	case StateAccepted, StateDuplicate, StateMismatch, StateExpired:
		return true
	}
	return false
}

// Record is the ledger's entry for one dimension's hour. Quantities are in
// the dimension's unit. For every hour the books balance:
//
//	Counted + CarriedIn == Reported + CarriedOut + Due()
//
// and a settled hour has Due() == 0 unless usage arrived after it settled,
// which the reporter then carries.
type Record struct {
	Hour      time.Time `json:"hour"`      // start of the UTC hour
	Dimension string    `json:"dimension"` //
	State     State     `json:"state"`     // zero value reads as pending
	Counted   float64   `json:"counted"`   // usage counted in the hour (the store's counter)
	CarriedIn float64   `json:"carriedIn"` // usage of other hours moved into this one
	// CarriedOut is this hour's usage moved to a later hour.
	CarriedOut float64 `json:"carriedOut"`
	// Sent is the quantity of the last event sent for the hour.
	Sent float64 `json:"sent"`
	// Reported is what the service billed for the hour (its accepted quantity).
	Reported      float64   `json:"reported"`
	UsageEventID  string    `json:"usageEventId,omitempty"`
	MessageTime   time.Time `json:"messageTime,omitzero"`
	Attempts      int       `json:"attempts"`
	LastError     string    `json:"lastError,omitempty"`
	CorrelationID string    `json:"correlationId,omitempty"`
	CarriedTo     time.Time `json:"carriedTo,omitzero"`   // last hour usage was carried to
	CarriedFrom   time.Time `json:"carriedFrom,omitzero"` // last hour usage was carried from
	UpdatedAt     time.Time `json:"updatedAt,omitzero"`
	// MaybeBilled is set once any try of the hour may have reached the
	// service (no answer, a timeout, a reset, a 5xx, an answer that cannot
	// be trusted) and stays set until the service's own word settles the
	// hour: a later refusal does not prove the earlier try was lost, so a
	// maybe-billed quantity is never carried.
	MaybeBilled bool `json:"maybeBilled,omitempty"`
	// BadAnswers counts answers in a row that could not be trusted (no
	// acceptedMessage, an echo that is not the event sent, unparsable
	// times); past a bound the hour is unresolved instead of resent forever.
	BadAnswers int `json:"badAnswers,omitempty"`
	// Unresolved says why an unresolved hour could not be decided.
	Unresolved string `json:"unresolved,omitempty"`
	// Resolution says how a maybe-billed hour was settled without an
	// answer to its own event: the service's records, or an operator's reason.
	Resolution string    `json:"resolution,omitempty"`
	ResolvedBy string    `json:"resolvedBy,omitempty"` // "service-records" or the operator
	ResolvedAt time.Time `json:"resolvedAt,omitzero"`
	// Version increases with every change of the record (not of Counted or
	// CarriedIn, which only grow); transitions are compare-and-set on it.
	Version int64 `json:"version"`
}

// Due is the usage of the hour not yet billed nor carried away.
func (r Record) Due() float64 { return r.Counted + r.CarriedIn - r.Reported - r.CarriedOut }

// Quantity is what an event for the hour should carry: all its usage less
// what was carried away.
func (r Record) Quantity() float64 { return r.Counted + r.CarriedIn - r.CarriedOut }

// ErrConflict is returned by a compare-and-set that lost: the record changed
// since it was read. The caller re-reads and decides again.
var ErrConflict = errors.New("metering: ledger record changed concurrently")

// ErrLocked is returned by Locker.Lock when another reporter holds the lock.
var ErrLocked = errors.New("metering: another reporter holds the lock")

// Ledger is where the reporter keeps its books. Implementations keep the
// usage counters (written by the application) and the records beside them;
// [github.com/azure-vote/azure-vote/metering/meteringtest.TestLedger] checks
// an implementation against this contract.
type Ledger interface {
	// Records returns every hour of the dimension that has usage, a carry or
	// a record, oldest first, with Counted read from the usage counter.
	// Implementations may leave out hours settled long ago (more than two
	// days) whose books balance.
	Records(ctx context.Context, dimension string) ([]Record, error)
	// Update replaces the record of rec.Hour if its stored version is
	// rec.Version, and stores it with Version+1. Counted and CarriedIn are
	// not written: the counter and carries own them. ErrConflict otherwise.
	Update(ctx context.Context, rec Record) (Record, error)
	// Carry does Update(from) and adds quantity to the CarriedIn of hour to,
	// in one transaction; from.CarriedOut must already include quantity.
	Carry(ctx context.Context, from Record, to time.Time, quantity float64) (Record, error)
	// History returns every hour of the dimension from the hour of from up
	// to now that has usage or a record, oldest first, settled ones
	// included. Resolving an hour from the service's daily records needs
	// every hour of its day, which Records may have left out.
	History(ctx context.Context, dimension string, from time.Time) ([]Record, error)
}

// Locker hands out the lock that keeps reporters of one installation from
// running passes at the same time. The ledgers of this kit are Lockers too;
// a Ledger of one's own may pair with any lock service (a Kubernetes Lease,
// a database advisory lock).
type Locker interface {
	// Lock takes the named lock for ttl, or returns ErrLocked.
	Lock(ctx context.Context, name string, ttl time.Duration) (Lock, error)
}

// Lock is a held reporter lock.
type Lock interface {
	// Renew extends the lock by its ttl; an error means it was lost.
	Renew(ctx context.Context) error
	// Release gives the lock up if still held.
	Release(ctx context.Context) error
}
