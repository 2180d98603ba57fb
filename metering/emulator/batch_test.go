package emulator_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/emulator"
)

// batchOf is a batch body of the given items, raw strings kept as they are.
func batchOf(t *testing.T, items ...any) string {
	t.Helper()
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = jsonOf(t, it)
	}
	return `{"request":[` + strings.Join(parts, ",") + `]}`
}

// manyEvents are n events of distinct keys, all in the window.
func manyEvents(n int) []any {
	evs := make([]any, n)
	for i := range evs {
		dim := []string{"pervote", "perhour"}[i%2]
		evs[i] = event("dimension", dim, "effectiveStartTime", fmt.Sprintf("2026-11-22T%02d:00:00Z", 10-i/2))
	}
	return evs
}

func TestBatchShape(t *testing.T) {
	cases := []struct {
		name, body string
		want       int
		message    string // prefix of the 400 message
	}{
		{"bare array", "[" + jsonOf(t, event()) + "]", http.StatusBadRequest, "The request body must be an object"},
		{"no request", `{}`, http.StatusBadRequest, "Batch events request payload must contain at least one"},
		{"null request", `{"request":null}`, http.StatusBadRequest, "Batch events request payload must contain at least one"},
		{"empty request", `{"request":[]}`, http.StatusBadRequest, "Batch events request payload must contain at least one"},
		{"malformed", `{"request":[`, http.StatusBadRequest, "The request body must be an object"},
		{"26 events", batchOf(t, manyEvents(26)...), http.StatusBadRequest, "Batch events request payload count is more than 25. "},
		{"25 events", batchOf(t, manyEvents(25)...), http.StatusOK, ""},
		{"1 event", batchOf(t, event()), http.StatusOK, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, emulator.Options{Plans: plans()})
			r := e.do(t, http.MethodPost, "/batchUsageEvent?api-version="+metering.APIVersion, tc.body)
			wantStatus(t, r, tc.want)
			if tc.want == http.StatusOK {
				res := decode[metering.BatchResult](t, r)
				n := strings.Count(tc.body, `"planId"`)
				if res.Count != n || len(res.Result) != n {
					t.Errorf("count %d with %d results, want %d", res.Count, len(res.Result), n)
				}
				return
			}
			d := decode[metering.ErrorDetail](t, r)
			if d.Code != "BadArgument" || d.Target != "batchUsageEventRequest" || !strings.HasPrefix(d.Message, tc.message) {
				t.Errorf("400 body = %s, want message starting %q", r.body, tc.message)
			}
			if n := len(e.emu.Events()); n != 0 {
				t.Errorf("a refused batch recorded %d events", n)
			}
		})
	}
}

func TestBatchContentType(t *testing.T) {
	e := newEnv(t, emulator.Options{})
	r := e.do(t, http.MethodPost, "/batchUsageEvent?api-version="+metering.APIVersion, batchOf(t, event()),
		header{"Content-Type", "text/plain"})
	wantStatus(t, r, http.StatusUnsupportedMediaType)
}

func TestBatchItems(t *testing.T) {
	const expired = "The effective time provided is has expired or is in future."
	e := newEnv(t, strictOptions())
	earlier := decode[metering.EventResult](t, e.post(t, "usageEvent", event("dimension", "perhour", "quantity", 3)))
	e.clock.Add(1)

	items := []struct {
		name          string
		item          any
		status        metering.Status
		target, cause string // of the error detail
	}{
		{"accepted", event(), metering.StatusAccepted, "", ""},
		{"same key later in the batch", event("quantity", 2), metering.StatusDuplicate, "", ""},
		{"same key as an earlier request", event("dimension", "perhour", "quantity", 4), metering.StatusDuplicate, "", ""},
		{"another hour", event("effectiveStartTime", "2026-11-22T08:00:00Z"), metering.StatusAccepted, "", ""},
		{"expired", event("effectiveStartTime", "2026-11-20T09:00:00Z"), metering.StatusExpired, "effectiveStartTime", expired},
		{"future", event("effectiveStartTime", "2026-11-22T11:00:00Z"), metering.StatusExpired, "effectiveStartTime", expired},
		{"unknown dimension", event("dimension", "perbyte"), metering.StatusInvalidDimension, "dimension", "The payload dimension is invalid."},
		{"zero quantity", event("quantity", 0), metering.StatusInvalidQuantity, "quantity", "lower or equal to 0"},
		{"unknown resource", event("resourceUri", absent{}, "resourceId", uuid.NewString()), metering.StatusResourceNotFound, "resourceId", "The usage resource provided is invalid."},
		{"inactive resource", event("resourceUri", absent{}, "resourceId", inactiveID), metering.StatusResourceNotActive, "resourceId", "Invalid usage state."},
		{"resourceId not a GUID", event("resourceUri", absent{}, "resourceId", "abc"), metering.StatusBadArgument, "resourceId", "not a GUID"},
		{"unknown plan", event("planId", "gold"), metering.StatusBadArgument, "planId", "The payload plan is invalid."},
		{"malformed item", `{"quantity":"five"}`, metering.StatusBadArgument, "request[12]", "malformed"},
		{"null item", `null`, metering.StatusBadArgument, "ResourceUri", "The resourceUri is required."},
	}
	batch := make([]any, len(items))
	for i, it := range items {
		batch[i] = it.item
	}
	r := e.do(t, http.MethodPost, "/batchUsageEvent?api-version="+metering.APIVersion, batchOf(t, batch...))
	wantStatus(t, r, http.StatusOK)
	res := decode[metering.BatchResult](t, r)
	if res.Count != len(items) || len(res.Result) != len(items) {
		t.Fatalf("count %d, %d results, want %d", res.Count, len(res.Result), len(items))
	}
	// The raw form matters too: strict parsers must cope with the zone-less zero time.
	var raw struct {
		Result []map[string]json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}

	firstID := res.Result[0].UsageEventID
	for i, it := range items {
		t.Run(it.name, func(t *testing.T) {
			got := res.Result[i]
			if got.Status != it.status {
				t.Fatalf("status = %s, want %s: %s", got.Status, it.status, raw.Result[i])
			}
			switch it.status {
			case metering.StatusAccepted:
				if _, err := uuid.Parse(got.UsageEventID); err != nil || got.Error != nil || !got.MessageTime.Equal(e.clock.Now()) {
					t.Errorf("accepted item = %s", raw.Result[i])
				}
				return
			case metering.StatusDuplicate:
				if got.Error == nil || got.Error.Code != "Conflict" || got.Error.Message != "This usage event already exist." {
					t.Fatalf("duplicate item error = %s", raw.Result[i])
				}
				acc, _ := got.Accepted()
				sent := it.item.(map[string]any)
				wantID, wantQty := firstID, 5.0
				if sent["dimension"] == "perhour" {
					wantID, wantQty = earlier.UsageEventID, earlier.Quantity
				}
				if acc.UsageEventID != wantID || acc.Quantity != wantQty || acc.Status != metering.StatusDuplicate {
					t.Errorf("acceptedMessage = %+v, want id %s quantity %v", acc, wantID, wantQty)
				}
				if got.Quantity != num(sent["quantity"]) || got.UsageEventID != "" {
					t.Errorf("duplicate item must echo what was sent: %s", raw.Result[i])
				}
			default:
				ed := got.Error
				if ed == nil || ed.Code != "BadArgument" || ed.Message != "One or more errors have occurred." || ed.Target != "usageEventRequest" || len(ed.Details) != 1 {
					t.Fatalf("error = %s", raw.Result[i])
				}
				if d := ed.Details[0]; d.Target != it.target || !strings.Contains(d.Message, it.cause) {
					t.Errorf("detail = %+v, want target %q, message with %q", d, it.target, it.cause)
				}
			}
			if mt := string(raw.Result[i]["messageTime"]); mt != `"0001-01-01T00:00:00"` {
				t.Errorf("messageTime = %s, want \"0001-01-01T00:00:00\"", mt)
			}
		})
	}
	if n := len(e.emu.Events()); n != 3 {
		t.Errorf("%d events recorded, want 3", n)
	}
}

// Echoed fields of a refused item are the event as sent, including its time.
func TestBatchItemEchoesEvent(t *testing.T) {
	e := newEnv(t, strictOptions())
	r := e.do(t, http.MethodPost, "/batchUsageEvent?api-version="+metering.APIVersion,
		batchOf(t, event("dimension", "perbyte", "quantity", 7, "effectiveStartTime", "2026-11-22T08:30:00")))
	wantStatus(t, r, http.StatusOK)
	got := decode[metering.BatchResult](t, r).Result[0]
	if got.ResourceURI != resourceURI || got.Dimension != "perbyte" || got.Quantity != 7 || got.PlanID != "basic" ||
		got.EffectiveStartTime.Format("15:04") != "08:30" {
		t.Errorf("item = %+v", got)
	}
}
