// Package metering bills custom meters of Azure Marketplace offers
// (Kubernetes apps, managed apps, SaaS) through the Marketplace Metering
// Service API, api-version 2018-08-31, exactly once.
//
// # The hour model
//
// The service keeps one usage event per resource, dimension and UTC hour:
// the first it accepts wins, any later one is a Duplicate whatever its
// quantity, and an hour more than 24 hours old ([Window]) can no longer be
// sent. So an application counts usage into the UTC hour it happened in, in
// the same atomic step as the work it bills (a Redis transaction, a bbolt
// Update: see the redisledger and boltledger packages), and a [Reporter]
// sends each hour once it has closed, plus a grace for late writers.
//
// # The ledger
//
// A [Ledger] keeps, beside each hour's usage counter, a [Record] of what
// became of it: pending, in flight, accepted, duplicate, expired, or
// unresolved. Every change is a compare-and-set on the record's version, so
// reporters in several processes never both send an hour; a [Locker] keeps
// them from trying at once. The books of every hour balance:
//
//	Counted + CarriedIn == Reported + CarriedOut + Due
//
// # Exactly once
//
// An hour is claimed (in flight) before its event is sent and settled only
// by the service's word: its answer to that event, matched by the echo of
// resource, dimension and hour and never by position; or its own records
// (GET usageEvents) once the window has passed; or an operator's
// [Reporter.Settle] after checking Partner Center. Once any try may have
// reached the service (no answer, a timeout, a 5xx, an answer that cannot
// be trusted) the record stays MaybeBilled: it is resent only as the same
// quantity, which the service can at worst call a Duplicate, and never
// carried. When nothing the service says can settle it, the hour waits,
// unresolved, rather than be billed twice or lost.
//
// # Carrying
//
// Usage that can no longer be sent for its own hour is carried into the
// open hour and billed with it: an hour past the window that was never
// sent, the shortfall of a Duplicate that billed less than was counted,
// usage that arrived after its hour settled. Carries move quantity between
// two records in one ledger transaction, so none is lost or counted twice.
//
// # Parts
//
// [Client] calls the API with any azcore credential ([NewCredential] picks
// the managed identity of a Kubernetes app). [Reporter.Pass] reports every
// closed hour of up to [MaxDimensions] dimensions, in batches of [MaxBatch];
// [Schedule] runs passes hourly. The emulator package serves the API with
// its rules for tests and demos; meteringtest holds an in-memory Ledger and
// TestLedger, the suite any Ledger implementation must pass; usage reads
// the ledger back for a usage page.
//
// The package imports nothing of the application around it and none of its
// web, metrics or storage libraries.
package metering
