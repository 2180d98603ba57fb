// Package store keeps the vote counts, the hourly usage counters and the
// metering ledger of azure-vote, in Redis ([Redis]) or in an embedded bbolt
// file ([Bolt]). Both implement the same methods and pass one contract test
// suite; both implement [metering.Ledger]. The usage counters and the
// ledger are the kit's ledgers (metering/redisledger, metering/boltledger),
// which own their layout below; the votes count usage through them.
//
// A vote is one atomic step: it adds 1 to the choice's count and 1 to the
// usage counter of the vote's UTC hour, and returns the counts after it. A
// vote may carry a token ([Redis.VoteOnce], [Bolt.VoteOnce]): the token is
// marked in the same step, and a vote whose token is marked is answered
// with the counts and not counted again, so a vote whose answer was lost
// can be sent again safely. The
// usage counters are what customers are billed for: [Redis.Reset] and
// [Bolt.Reset] zero the displayed counts and never touch them.
//
// A choice is only ever a hash field (Redis) or a key inside a bucket
// (bbolt), never part of a key name, so no form value can reach other data.
//
// # Redis data layout
//
// Operators can read everything with redis-cli. With the default prefix
// "azure-vote:" and dimension "pervote":
//
//	azure-vote:votes                              hash: choice -> count
//	azure-vote:usage:pervote:2026-11-22T08        number: votes cast in that UTC hour
//	azure-vote:usage-hours:pervote                sorted set: member = hour, score = unix
//	                                              seconds of its start; the hours with
//	                                              usage or a ledger record
//	azure-vote:ledger:pervote:2026-11-22T08       hash: the metering record of the hour
//	azure-vote:lock:reporter                      string: random token, PX expiry
//	azure-vote:vote-token:<token>                 string "1": a vote with this token
//	                                              counted; PX expiry (TokenTTL)
//
// The ledger hash has the fields state, sent, reported, carried_in,
// carried_out, usage_event_id, message_time, attempts, last_error,
// correlation_id, carried_to, carried_from, updated_at and version. Times are
// RFC 3339 in UTC (empty when unset), quantities decimal strings. Only a
// carry into the hour writes carried_in and carried_from, and it leaves the
// version alone. The index forgets hours settled, balanced and older than two
// days; their keys stay. The keys usage, usage-hours, ledger and lock are
// redisledger's: a vote group's script counts its usage through
// redisledger.CountLua.
//
// # Redis Cluster
//
// A vote writes several keys in one script and the ledger scripts touch
// several keys, which Redis Cluster allows only within one hash slot. With
// Cluster the prefix must therefore carry a hash tag, e.g. "{azure-vote}:",
// so that all keys of one installation share a slot; the app's default
// there is "{azure-vote}:", and it refuses a prefix without a tag
// ([IsCluster] tells the mode). Without one every vote fails with CROSSSLOT
// while PING still answers. Sentinel and single servers need nothing special.
//
// # bbolt data layout
//
// One file, azure-vote.db, in the data directory:
//
//	votes                   choice -> count (decimal ASCII)
//	usage / <dimension>     hour "2006-01-02T15" -> count of the hour (decimal ASCII)
//	ledger / <dimension>    hour "2006-01-02T15" -> JSON of metering.Record
//	                        (Counted is not stored: the usage bucket owns it)
//	                        usage and ledger are boltledger's: a vote commit
//	                        counts through boltledger's Count in its Update
//	vote-tokens             token -> expiry (big-endian Unix ns)
//	vote-token-expiry       expiry + token -> empty: the index every vote commit
//	                        walks to forget expired tokens
//
// Only one process can open the file; a second one fails after about a
// second with an error naming the directory.
package store
