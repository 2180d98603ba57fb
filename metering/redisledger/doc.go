// Package redisledger is a [metering.Ledger] on Redis (a single server,
// Sentinel or Cluster, through any go-redis UniversalClient), and the way
// to count usage into it in the same atomic step as the work it bills.
//
// An application counts usage with [Ledger.Count] on its own MULTI/EXEC
// pipeline (go-redis TxPipelined), beside its own commands: both are
// applied together, in one round trip. An application whose atomic step is
// a Lua script prepends [CountLua] to its script and passes the keys and
// arguments of [Ledger.CountKeys]. The reporter (metering.NewReporter)
// then reads and settles the hours through the Ledger methods.
//
// # Data layout
//
// Every key starts with [Options.Prefix]; with the prefix "azure-vote:" and
// the dimension "pervote":
//
//	azure-vote:usage:pervote:2026-11-22T08        usage counted in that UTC hour: a
//	                                              decimal number, integral counts as
//	                                              plain integers ("3")
//	azure-vote:usage-hours:pervote                sorted set: member = hour, score = unix
//	                                              seconds of its start; the hours with
//	                                              usage or a ledger record
//	azure-vote:ledger:pervote:2026-11-22T08       hash: the metering record of the hour
//	azure-vote:lock:reporter                      string: random token, PX expiry
//
// The ledger hash has the fields state, sent, reported, carried_in,
// carried_out, usage_event_id, message_time, attempts, last_error,
// correlation_id, carried_to, carried_from, updated_at, maybe_billed,
// bad_answers, unresolved, resolution, resolved_by, resolved_at and version.
// Times are RFC 3339 in UTC (empty when unset), quantities decimal strings.
// Only a carry into the hour writes carried_in and carried_from, and it
// leaves the version alone. The index forgets hours settled, balanced and
// older than two days; their keys stay, and counting in such an hour puts
// it back.
//
// # Redis Cluster
//
// Counting and the ledger's scripts touch several keys at once, which Redis
// Cluster allows only within one hash slot: with Cluster the prefix must
// carry a hash tag, e.g. "{azure-vote}:", and so must the keys of the
// caller's own commands in the same transaction or script.
package redisledger
