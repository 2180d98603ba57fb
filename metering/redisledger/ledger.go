package redisledger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/internal/ledgerkit"
)

// DefaultPrefix is the key prefix when Options.Prefix is empty.
const DefaultPrefix = "metering:"

// Options configure a Ledger.
type Options struct {
	// Prefix starts every key; default DefaultPrefix. With Redis Cluster it
	// must hold a hash tag, e.g. "{azure-vote}:" (see the package
	// documentation).
	Prefix string
	// Now is the clock of housekeeping: which settled hours Records leaves
	// out and where History ends; default time.Now. Lock expiry is Redis's.
	Now func() time.Time
}

// Ledger is a metering.Ledger on Redis. It is safe for concurrent use; the
// client it is given stays the caller's to close.
type Ledger struct {
	rdb    redis.UniversalClient
	prefix string
	now    func() time.Time

	update, carry, prune, renew, release *redis.Script
}

var _ metering.Ledger = (*Ledger)(nil)

// New returns the ledger on rdb. It does not connect.
func New(rdb redis.UniversalClient, o Options) *Ledger {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Ledger{
		rdb:     rdb,
		prefix:  o.Prefix,
		now:     o.Now,
		update:  redis.NewScript(updateScript),
		carry:   redis.NewScript(carryScript),
		prune:   redis.NewScript(pruneScript),
		renew:   redis.NewScript(renewScript),
		release: redis.NewScript(releaseScript),
	}
}

func (l *Ledger) usageKey(dim, hour string) string { return l.prefix + "usage:" + dim + ":" + hour }
func (l *Ledger) hoursKey(dim string) string       { return l.prefix + "usage-hours:" + dim }
func (l *Ledger) ledgerKey(dim, hour string) string {
	return l.prefix + "ledger:" + dim + ":" + hour
}
func (l *Ledger) lockKey(name string) string { return l.prefix + "lock:" + name }

// Fields of a ledger hash.
const (
	fieldState         = "state"
	fieldSent          = "sent"
	fieldReported      = "reported"
	fieldCarriedIn     = "carried_in"
	fieldCarriedOut    = "carried_out"
	fieldUsageEventID  = "usage_event_id"
	fieldMessageTime   = "message_time"
	fieldAttempts      = "attempts"
	fieldLastError     = "last_error"
	fieldCorrelationID = "correlation_id"
	fieldCarriedTo     = "carried_to"
	fieldCarriedFrom   = "carried_from"
	fieldUpdatedAt     = "updated_at"
	fieldVersion       = "version"
	fieldMaybeBilled   = "maybe_billed"
	fieldBadAnswers    = "bad_answers"
	fieldUnresolved    = "unresolved"
	fieldResolution    = "resolution"
	fieldResolvedBy    = "resolved_by"
	fieldResolvedAt    = "resolved_at"
)

// updateScript is the compare-and-set of a ledger record.
//
//	KEYS: ledger hash, hours index, usage counter
//	ARGV: expected version, hour, hour's unix start, field, value, ...
//
// It returns nil when the stored version (missing: 0) is not the expected
// one, else the record as stored and the usage counter.
const updateScript = `
if (redis.call('HGET', KEYS[1], 'version') or '0') ~= ARGV[1] then return false end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
return {redis.call('HGETALL', KEYS[1]), redis.call('GET', KEYS[3])}
`

// carryScript is updateScript on the source hour plus the carry into the
// target hour, whose version it leaves alone.
//
//	KEYS: source ledger hash, hours index, source usage counter, target ledger hash
//	ARGV: expected version, source hour, its unix start, target hour, its unix
//	      start, quantity, carried_from value, field, value, ...
const carryScript = `
if (redis.call('HGET', KEYS[1], 'version') or '0') ~= ARGV[1] then return false end
redis.call('HSET', KEYS[1], unpack(ARGV, 8))
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('HINCRBYFLOAT', KEYS[4], 'carried_in', ARGV[6])
redis.call('HSET', KEYS[4], 'carried_from', ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
return {redis.call('HGETALL', KEYS[1]), redis.call('GET', KEYS[3])}
`

// pruneScript drops hours from the index unless their usage, version or
// carried_in changed since they were read (late usage or a carry keeps them).
//
//	KEYS: hours index, then per hour: usage counter, ledger hash
//	ARGV: per hour: hour, usage, version, carried_in as read ('' for none)
const pruneScript = `
local n = 0
for j = 0, #ARGV / 4 - 1 do
  local usage, ledger, a = KEYS[2 + 2 * j], KEYS[3 + 2 * j], 4 * j
  if (redis.call('GET', usage) or '') == ARGV[a + 2]
    and (redis.call('HGET', ledger, 'version') or '') == ARGV[a + 3]
    and (redis.call('HGET', ledger, 'carried_in') or '') == ARGV[a + 4] then
    n = n + redis.call('ZREM', KEYS[1], ARGV[a + 1])
  end
end
return n
`

// Records returns the hours of the index, oldest first, read in one pipeline.
// Hours settled, balanced and older than two days leave the index here;
// usage counted later in such an hour puts it back.
func (l *Ledger) Records(ctx context.Context, dim string) ([]metering.Record, error) {
	labels, err := l.rdb.ZRange(ctx, l.hoursKey(dim), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("redisledger: read %s hours: %w", dim, err)
	}
	if len(labels) == 0 {
		return nil, nil
	}
	recs, raw, err := l.readHours(ctx, dim, labels)
	if err != nil {
		return nil, err
	}
	now := l.now()
	kept := recs[:0]
	var stale []any // hour, usage, version, carried_in of forgettable hours
	var staleKeys []string
	for i, rec := range recs {
		if ledgerkit.Forgettable(rec, now) {
			label := labels[i]
			staleKeys = append(staleKeys, l.usageKey(dim, label), l.ledgerKey(dim, label))
			stale = append(stale, label, raw[i].counted, raw[i].fields[fieldVersion], raw[i].fields[fieldCarriedIn])
			continue
		}
		kept = append(kept, rec)
	}
	recs = kept
	if len(stale) > 0 {
		keys := append([]string{l.hoursKey(dim)}, staleKeys...)
		if err := l.prune.Run(ctx, l.rdb, keys, stale...).Err(); err != nil {
			return nil, fmt.Errorf("redisledger: prune %s hours: %w", dim, err)
		}
	}
	return recs, nil
}

// History returns every hour of the dimension from the hour of from up to
// now that has usage or a record, oldest first, settled ones included: what
// a usage page shows, where Records keeps to what the reporter still needs.
// It reads at most the last 31 days.
func (l *Ledger) History(ctx context.Context, dim string, from time.Time) ([]metering.Record, error) {
	now := l.now()
	last := metering.HourOf(now)
	var labels []string
	for h := ledgerkit.HistoryStart(from, now); !h.After(last); h = h.Add(time.Hour) {
		labels = append(labels, h.Format(ledgerkit.HourLayout))
	}
	recs, raw, err := l.readHours(ctx, dim, labels)
	if err != nil {
		return nil, err
	}
	kept := recs[:0]
	for i, rec := range recs {
		if raw[i].counted != "" || len(raw[i].fields) > 0 {
			kept = append(kept, rec)
		}
	}
	return kept, nil
}

// rawHour is an hour as stored: its usage counter and ledger hash.
type rawHour struct {
	counted string
	fields  map[string]string
}

// readHours reads the usage and ledger of the hours in one pipeline.
func (l *Ledger) readHours(ctx context.Context, dim string, labels []string) ([]metering.Record, []rawHour, error) {
	usage := make([]*redis.StringCmd, len(labels))
	ledger := make([]*redis.MapStringStringCmd, len(labels))
	if _, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, label := range labels {
			usage[i] = p.Get(ctx, l.usageKey(dim, label))
			ledger[i] = p.HGetAll(ctx, l.ledgerKey(dim, label))
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, fmt.Errorf("redisledger: read %s ledger: %w", dim, err)
	}
	recs := make([]metering.Record, len(labels))
	raw := make([]rawHour, len(labels))
	for i, label := range labels {
		counted, err := usage[i].Result()
		if errors.Is(err, redis.Nil) {
			counted, err = "", nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("redisledger: read usage of %s %s: %w", dim, label, err)
		}
		fields, err := ledger[i].Result()
		if err != nil {
			return nil, nil, fmt.Errorf("redisledger: read ledger of %s %s: %w", dim, label, err)
		}
		if recs[i], err = decodeRecord(dim, label, counted, fields); err != nil {
			return nil, nil, err
		}
		raw[i] = rawHour{counted: counted, fields: fields}
	}
	return recs, raw, nil
}

// Update stores rec if the stored version is rec.Version, with Version+1,
// and returns the record as stored. Counted, CarriedIn and CarriedFrom are
// not written: the usage counter and Carry own them.
func (l *Ledger) Update(ctx context.Context, rec metering.Record) (metering.Record, error) {
	if err := ledgerkit.CheckRecord(rec); err != nil {
		return metering.Record{}, fmt.Errorf("redisledger: %w", err)
	}
	dim, hour := rec.Dimension, metering.HourOf(rec.Hour)
	label := hour.Format(ledgerkit.HourLayout)
	keys := []string{l.ledgerKey(dim, label), l.hoursKey(dim), l.usageKey(dim, label)}
	args := append([]any{strconv.FormatInt(rec.Version, 10), label, hour.Unix()}, encodeRecord(rec)...)
	res, err := l.update.Run(ctx, l.rdb, keys, args...).Slice()
	if errors.Is(err, redis.Nil) {
		return metering.Record{}, fmt.Errorf("redisledger: update %s %s version %d: %w", dim, label, rec.Version, metering.ErrConflict)
	}
	if err != nil {
		return metering.Record{}, fmt.Errorf("redisledger: update %s %s: %w", dim, label, err)
	}
	return decodeScriptRecord(dim, label, res)
}

// Carry updates from as Update does and, in the same script, adds quantity
// to the CarriedIn of hour to and sets its CarriedFrom; the target's version
// does not change.
func (l *Ledger) Carry(ctx context.Context, from metering.Record, to time.Time, quantity float64) (metering.Record, error) {
	if err := ledgerkit.CheckCarry(from, to, quantity); err != nil {
		return metering.Record{}, fmt.Errorf("redisledger: %w", err)
	}
	dim, hour, toHour := from.Dimension, metering.HourOf(from.Hour), metering.HourOf(to)
	label, toLabel := hour.Format(ledgerkit.HourLayout), toHour.Format(ledgerkit.HourLayout)
	keys := []string{l.ledgerKey(dim, label), l.hoursKey(dim), l.usageKey(dim, label), l.ledgerKey(dim, toLabel)}
	args := append([]any{
		strconv.FormatInt(from.Version, 10), label, hour.Unix(), toLabel, toHour.Unix(),
		ledgerkit.FormatQuantity(quantity), formatTime(hour),
	}, encodeRecord(from)...)
	res, err := l.carry.Run(ctx, l.rdb, keys, args...).Slice()
	if errors.Is(err, redis.Nil) {
		return metering.Record{}, fmt.Errorf("redisledger: carry from %s %s version %d: %w", dim, label, from.Version, metering.ErrConflict)
	}
	if err != nil {
		return metering.Record{}, fmt.Errorf("redisledger: carry %v from %s %s to %s: %w", quantity, dim, label, toLabel, err)
	}
	return decodeScriptRecord(dim, label, res)
}

// encodeRecord is the field/value list Update writes, with the next version.
func encodeRecord(r metering.Record) []any {
	return []any{
		fieldState, string(r.State),
		fieldSent, ledgerkit.FormatQuantity(r.Sent),
		fieldReported, ledgerkit.FormatQuantity(r.Reported),
		fieldCarriedOut, ledgerkit.FormatQuantity(r.CarriedOut),
		fieldUsageEventID, r.UsageEventID,
		fieldMessageTime, formatTime(r.MessageTime),
		fieldAttempts, strconv.Itoa(r.Attempts),
		fieldLastError, r.LastError,
		fieldCorrelationID, r.CorrelationID,
		fieldCarriedTo, formatTime(r.CarriedTo),
		fieldUpdatedAt, formatTime(r.UpdatedAt),
		fieldMaybeBilled, formatBool(r.MaybeBilled),
		fieldBadAnswers, strconv.Itoa(r.BadAnswers),
		fieldUnresolved, r.Unresolved,
		fieldResolution, r.Resolution,
		fieldResolvedBy, r.ResolvedBy,
		fieldResolvedAt, formatTime(r.ResolvedAt),
		fieldVersion, strconv.FormatInt(r.Version+1, 10),
	}
}

// decodeScriptRecord reads the {ledger hash, usage counter} reply of the
// update and carry scripts.
func decodeScriptRecord(dim, label string, res []any) (metering.Record, error) {
	if len(res) != 2 {
		return metering.Record{}, fmt.Errorf("redisledger: ledger script for %s %s answered %d values, want 2", dim, label, len(res))
	}
	pairs, _ := res[0].([]any)
	fields := make(map[string]string, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		k, _ := pairs[i].(string)
		v, _ := pairs[i+1].(string)
		fields[k] = v
	}
	counted, _ := res[1].(string) // nil: no usage yet
	return decodeRecord(dim, label, counted, fields)
}

// decodeRecord builds the record of an hour from its usage counter ("" when
// missing) and its ledger hash (empty when missing).
func decodeRecord(dim, label, counted string, f map[string]string) (metering.Record, error) {
	hour, err := ledgerkit.ParseLabel(label)
	if err != nil {
		return metering.Record{}, fmt.Errorf("redisledger: %w", err)
	}
	r := metering.Record{
		Hour:          hour,
		Dimension:     dim,
		State:         metering.State(f[fieldState]),
		UsageEventID:  f[fieldUsageEventID],
		LastError:     f[fieldLastError],
		CorrelationID: f[fieldCorrelationID],
		MaybeBilled:   f[fieldMaybeBilled] == "1",
		Unresolved:    f[fieldUnresolved],
		Resolution:    f[fieldResolution],
		ResolvedBy:    f[fieldResolvedBy],
	}
	d := decoder{dim: dim, label: label}
	// INCRBYFLOAT keeps integral counts as plain integers ("3"), which
	// ParseFloat reads as well as fractional ones.
	r.Counted = d.quantity("usage counter", counted)
	r.Sent = d.quantity(fieldSent, f[fieldSent])
	r.Reported = d.quantity(fieldReported, f[fieldReported])
	r.CarriedIn = d.quantity(fieldCarriedIn, f[fieldCarriedIn])
	r.CarriedOut = d.quantity(fieldCarriedOut, f[fieldCarriedOut])
	r.MessageTime = d.time(fieldMessageTime, f[fieldMessageTime])
	r.CarriedTo = d.time(fieldCarriedTo, f[fieldCarriedTo])
	r.CarriedFrom = d.time(fieldCarriedFrom, f[fieldCarriedFrom])
	r.UpdatedAt = d.time(fieldUpdatedAt, f[fieldUpdatedAt])
	r.ResolvedAt = d.time(fieldResolvedAt, f[fieldResolvedAt])
	r.Attempts = int(d.integer(fieldAttempts, f[fieldAttempts]))
	r.BadAnswers = int(d.integer(fieldBadAnswers, f[fieldBadAnswers]))
	r.Version = d.integer(fieldVersion, f[fieldVersion])
	if d.err != nil {
		return metering.Record{}, d.err
	}
	return r, nil
}

// decoder parses ledger fields, "" meaning zero, and keeps the first error.
type decoder struct {
	dim, label string
	err        error
}

func (d *decoder) fail(field, raw, want string) {
	if d.err == nil {
		d.err = fmt.Errorf("redisledger: ledger %s %s: %s is %q, not %s", d.dim, d.label, field, raw, want)
	}
}

func (d *decoder) integer(field, raw string) int64 {
	if raw == "" {
		return 0
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		d.fail(field, raw, "an integer")
	}
	return n
}

func (d *decoder) quantity(field, raw string) float64 {
	if raw == "" {
		return 0
	}
	q, err := strconv.ParseFloat(raw, 64)
	if err != nil {
		d.fail(field, raw, "a number")
	}
	return q
}

func (d *decoder) time(field, raw string) time.Time {
	if raw == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		d.fail(field, raw, "an RFC 3339 time")
	}
	return t.UTC()
}

// formatBool writes a flag as "1", or "" when unset, as redis-cli users expect.
func formatBool(b bool) string {
	if b {
		return "1"
	}
	return ""
}

// formatTime writes RFC 3339 in UTC, and "" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
