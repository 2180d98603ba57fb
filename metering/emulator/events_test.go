package emulator_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/emulator"
	"github.com/azure-vote/azure-vote/metering/meteringtest"
)

// strictOptions know their plans and resources.
func strictOptions() emulator.Options {
	return emulator.Options{
		Plans:             plans(),
		Resources:         []string{resourceURI, resourceID, inactiveID},
		InactiveResources: []string{inactiveID},
	}
}

func TestUsageEventBody(t *testing.T) {
	cases := []struct {
		name        string
		contentType string
		body        string
		want        int
		wantTarget  string // of the 400 envelope
	}{
		{"no content type", "", jsonOf(t, event()), http.StatusUnsupportedMediaType, ""},
		{"text content type", "text/plain", jsonOf(t, event()), http.StatusUnsupportedMediaType, ""},
		{"json with charset", "application/json; charset=utf-8", jsonOf(t, event()), http.StatusOK, ""},
		{"malformed", "application/json", `{"resourceUri":`, http.StatusBadRequest, "usageEventRequest"},
		{"trailing garbage", "application/json", jsonOf(t, event()) + "}", http.StatusBadRequest, "usageEventRequest"},
		{"array", "application/json", "[" + jsonOf(t, event()) + "]", http.StatusBadRequest, "usageEventRequest"},
		{"wrong type", "application/json", jsonOf(t, event("quantity", "5")), http.StatusBadRequest, "usageEventRequest"},
		{"empty", "application/json", " ", http.StatusBadRequest, "usageEventRequest"},
		{"too large", "application/json", `{"planId":"` + strings.Repeat("x", emulator.MaxBodyBytes) + `"}`, http.StatusRequestEntityTooLarge, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, emulator.Options{})
			r := e.do(t, http.MethodPost, "/usageEvent?api-version="+metering.APIVersion, tc.body,
				header{"Content-Type", tc.contentType})
			wantStatus(t, r, tc.want)
			d := decode[map[string]any](t, r)
			if tc.wantTarget != "" {
				wantBadRequest(t, r, tc.wantTarget, tc.wantTarget, "")
			} else if tc.want != http.StatusOK && d["code"] == nil {
				t.Errorf("error body without code: %s", r.body)
			}
			if tc.want != http.StatusOK && len(e.emu.Events()) != 0 {
				t.Error("a refused body recorded an event")
			}
		})
	}
}

func TestUsageEventValidation(t *testing.T) {
	const expired = "The effective time provided is has expired or is in future."
	cases := []struct {
		name           string
		event          map[string]any
		target, reason string
	}{
		{"no resource", event("resourceUri", absent{}), "ResourceUri", "The resourceUri is required."},
		{"both resourceId and resourceUri", event("resourceId", resourceID), "resourceId", "not both"},
		{"resourceId not a GUID", event("resourceUri", absent{}, "resourceId", "abc"), "resourceId", "not a GUID"},
		{"resourceId GUID without hyphens", event("resourceUri", absent{}, "resourceId", strings.ReplaceAll(resourceID, "-", "")), "resourceId", "not a GUID"},
		{"resourceUri not an ARM id", event("resourceUri", "/resourceGroups/rg"), "resourceUri", "not an Azure resource id"},
		{"resourceUri without subscription", event("resourceUri", "/subscriptions/"), "resourceUri", "not an Azure resource id"},
		{"unknown resourceUri", event("resourceUri", "/subscriptions/"+subscription+"/resourceGroups/other"), "resourceUri", "The usage resource provided is invalid."},
		{"unknown resourceId", event("resourceUri", absent{}, "resourceId", uuid.NewString()), "resourceId", "The usage resource provided is invalid."},
		{"inactive resource", event("resourceUri", absent{}, "resourceId", inactiveID), "resourceId", "Invalid usage state."},
		{"no plan", event("planId", absent{}), "planId", "The planId is required."},
		{"unknown plan", event("planId", "gold"), "planId", "The payload plan is invalid."},
		{"no dimension", event("dimension", absent{}), "dimension", "The dimension is required."},
		{"unknown dimension", event("dimension", "perbyte"), "dimension", "The payload dimension is invalid."},
		{"dimension of another plan", event("planId", "premium", "dimension", "perhour"), "dimension", "The payload dimension is invalid."},
		{"no quantity", event("quantity", absent{}), "quantity", "lower or equal to 0"},
		{"zero quantity", event("quantity", 0), "quantity", "lower or equal to 0"},
		{"negative quantity", event("quantity", -1.5), "quantity", "lower or equal to 0"},
		{"no time", event("effectiveStartTime", absent{}), "effectiveStartTime", "is required"},
		{"null time", event("effectiveStartTime", nil), "effectiveStartTime", "is required"},
		{"time not a string", event("effectiveStartTime", 1700000000), "effectiveStartTime", "must be a string"},
		{"time not ISO 8601", event("effectiveStartTime", "yesterday"), "effectiveStartTime", "not an ISO 8601"},
		{"time in the future", event("effectiveStartTime", "2026-11-22T10:17:01Z"), "effectiveStartTime", expired},
		{"next hour", event("effectiveStartTime", "2026-11-22T11:00:00Z"), "effectiveStartTime", expired},
		{"more than 24 hours ago", event("effectiveStartTime", "2026-11-21T10:16:59Z"), "effectiveStartTime", expired},
		{"a week ago", event("effectiveStartTime", "2026-11-15T10:00:00"), "effectiveStartTime", expired},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, strictOptions())
			r := e.post(t, "usageEvent", tc.event)
			wantBadRequest(t, r, "usageEventRequest", tc.target, tc.reason)
			if n := len(e.emu.Events()); n != 0 {
				t.Errorf("%d events recorded", n)
			}
		})
	}
}

func TestUsageEventAccepted(t *testing.T) {
	cases := []struct {
		name     string
		event    map[string]any
		wantTime time.Time // effectiveStartTime echoed: as sent, not truncated to the hour
	}{
		{"start of the previous hour", event(), time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)},
		{"inside the current hour", event("effectiveStartTime", "2026-11-22T10:05:30Z"), time.Date(2026, 11, 22, 10, 5, 30, 0, time.UTC)},
		{"exactly now", event("effectiveStartTime", "2026-11-22T10:17:00Z"), start()},
		{"exactly 24 hours ago", event("effectiveStartTime", "2026-11-21T10:17:00Z"), start().Add(-24 * time.Hour)},
		{"zone-less time", event("effectiveStartTime", "2026-11-22T08:30:14"), time.Date(2026, 11, 22, 8, 30, 14, 0, time.UTC)},
		{"seven fractional digits", event("effectiveStartTime", "2026-11-22T08:00:00.1234567Z"), time.Date(2026, 11, 22, 8, 0, 0, 123456700, time.UTC)},
		{"offset", event("effectiveStartTime", "2026-11-22T11:00:00+02:00"), time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)},
		{"decimal quantity", event("quantity", 0.02), time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)},
		{"resourceId", event("resourceUri", absent{}, "resourceId", resourceID), time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)},
		{"resourceId in upper case", event("resourceUri", absent{}, "resourceId", strings.ToUpper(resourceID)), time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)},
		{"another plan", event("planId", "premium"), time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, strictOptions())
			r := e.post(t, "usageEvent", tc.event)
			wantStatus(t, r, http.StatusOK)
			got := decode[metering.EventResult](t, r)
			if _, err := uuid.Parse(got.UsageEventID); err != nil {
				t.Errorf("usageEventId %q is not a GUID", got.UsageEventID)
			}
			sent := tc.event
			if got.Status != metering.StatusAccepted ||
				!got.MessageTime.Equal(start()) ||
				!got.EffectiveStartTime.Equal(tc.wantTime) ||
				got.ResourceID != str(sent["resourceId"]) || got.ResourceURI != str(sent["resourceUri"]) ||
				got.PlanID != sent["planId"] || got.Dimension != sent["dimension"] ||
				got.Quantity != num(sent["quantity"]) || got.Error != nil {
				t.Errorf("result = %s, sent %v", r.body, sent)
			}
			if evs := e.emu.Events(); len(evs) != 1 || evs[0].UsageEventID != got.UsageEventID {
				t.Errorf("Events() = %+v, want the accepted event", evs)
			}
		})
	}
}

func str(v any) string { s, _ := v.(string); return s }

func num(v any) float64 {
	switch n := v.(type) {
	case int:
		return float64(n)
	case float64:
		return n
	}
	return 0
}

func TestUsageEventDuplicate(t *testing.T) {
	cases := []struct {
		name   string
		second map[string]any
		dup    bool
	}{
		{"same event", event(), true},
		{"other quantity", event("quantity", 9), true},
		{"later in the hour", event("effectiveStartTime", "2026-11-22T09:59:59.999Z"), true},
		{"other plan", event("planId", "premium"), true},
		{"resource in other case", event("resourceUri", strings.ToUpper(resourceURI)), true},
		{"other hour", event("effectiveStartTime", "2026-11-22T08:59:59Z"), false},
		{"other dimension", event("dimension", "perhour"), false},
		{"other resource", event("resourceUri", absent{}, "resourceId", resourceID), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, strictOptions())
			first := decode[metering.EventResult](t, e.post(t, "usageEvent", event("effectiveStartTime", "2026-11-22T09:15:00Z")))
			e.clock.Add(10 * time.Minute)

			r := e.post(t, "usageEvent", tc.second)
			if !tc.dup {
				wantStatus(t, r, http.StatusOK)
				return
			}
			wantStatus(t, r, http.StatusConflict)
			body := decode[metering.ErrorDetail](t, r)
			if body.Code != "Conflict" || body.Message != "This usage event already exist." ||
				body.AdditionalInfo == nil || body.AdditionalInfo.AcceptedMessage == nil {
				t.Fatalf("409 body = %s", r.body)
			}
			// The accepted message is the FIRST event: its id, quantity,
			// time and plan, with status Duplicate.
			want := first
			want.Status = metering.StatusDuplicate
			got := *body.AdditionalInfo.AcceptedMessage
			if got.UsageEventID != want.UsageEventID || got.Quantity != want.Quantity ||
				!got.MessageTime.Equal(want.MessageTime.Time) || !got.EffectiveStartTime.Equal(want.EffectiveStartTime.Time) ||
				got.PlanID != want.PlanID || got.ResourceURI != want.ResourceURI || got.Status != metering.StatusDuplicate {
				t.Errorf("acceptedMessage = %+v, want %+v", got, want)
			}
			if n := len(e.emu.Events()); n != 1 {
				t.Errorf("%d events recorded, want 1", n)
			}
		})
	}
}

// The order of the window and duplicate checks is not documented; both are
// offered. By default the window comes first, as the documentation implies
// (the time is validated with the request); with DuplicateBeforeWindow a
// resend after the window learns that its event was billed.
func TestWindowAndDuplicateOrder(t *testing.T) {
	for _, dupFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("DuplicateBeforeWindow=%v", dupFirst), func(t *testing.T) {
			o := strictOptions()
			o.DuplicateBeforeWindow = dupFirst
			e := newEnv(t, o)
			first := decode[metering.EventResult](t, e.post(t, "usageEvent", event()))
			e.clock.Add(48 * time.Hour)

			r := e.post(t, "usageEvent", event("quantity", 1))
			if dupFirst {
				wantStatus(t, r, http.StatusConflict)
				if got := decode[metering.ErrorDetail](t, r).AdditionalInfo.AcceptedMessage.UsageEventID; got != first.UsageEventID {
					t.Errorf("acceptedMessage id = %s, want %s", got, first.UsageEventID)
				}
			} else {
				wantBadRequest(t, r, "usageEventRequest", "effectiveStartTime", "The effective time provided is has expired or is in future.")
			}
			// A new key for the same old hour is expired either way.
			wantBadRequest(t, e.post(t, "usageEvent", event("dimension", "perhour")), "usageEventRequest",
				"effectiveStartTime", "The effective time provided is has expired or is in future.")
		})
	}
}

// ShuffleBatch answers items out of order; each item still echoes its event.
func TestShuffleBatch(t *testing.T) {
	o := strictOptions()
	o.ShuffleBatch = true
	o.Faults.Seed = 7
	e := newEnv(t, o)
	var req []map[string]any
	for i := range 10 {
		req = append(req, event("effectiveStartTime", start().Add(-time.Duration(i+1)*time.Hour).Format(time.RFC3339), "quantity", i+1))
	}
	res := decode[metering.BatchResult](t, e.post(t, "batchUsageEvent", map[string]any{"request": req}))
	inOrder := true
	for i, r := range res.Result {
		want := start().Add(-time.Duration(int(r.Quantity)) * time.Hour)
		if r.Status != metering.StatusAccepted || !r.EffectiveStartTime.Equal(want) {
			t.Errorf("item %d = %+v: its echo does not match its event", i, r)
		}
		inOrder = inOrder && r.Quantity == float64(i+1)
	}
	if inOrder || len(res.Result) != 10 {
		t.Errorf("10 items answered in the order sent, or not 10: %+v", res.Result)
	}
}

// ProcessingDelay shows fresh events as Submitted, not yet processed.
func TestProcessingDelay(t *testing.T) {
	o := strictOptions()
	o.ProcessingDelay = time.Hour
	e := newEnv(t, o)
	wantStatus(t, e.post(t, "usageEvent", event()), http.StatusOK)
	query := "/usageEvents?api-version=" + metering.APIVersion + "&usageStartDate=" + start().Add(-48*time.Hour).Format(time.RFC3339)
	rows := decode[[]metering.UsageRecord](t, e.do(t, http.MethodGet, query, ""))
	if len(rows) != 1 || rows[0].ReconStatus != metering.ReconSubmitted || rows[0].ProcessedQuantity != 0 || rows[0].SubmittedQuantity != 5 {
		t.Fatalf("rows before processing = %+v", rows)
	}
	e.clock.Add(time.Hour)
	rows = decode[[]metering.UsageRecord](t, e.do(t, http.MethodGet, query, ""))
	if len(rows) != 1 || rows[0].ReconStatus != metering.ReconAccepted || rows[0].ProcessedQuantity != 5 {
		t.Fatalf("rows after processing = %+v", rows)
	}
}

// A state file keeps accepted events across a restart, so a resend after
// it is still a duplicate and the records still show the day.
func TestStateFileSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	o := strictOptions()
	c := meteringtest.NewClock(start())
	o.Now, o.StateFile = c.Now, path
	emu, err := emulator.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	e := &env{emu: emu, srv: srv, clock: c, base: srv.URL + "/api"}
	first := decode[metering.EventResult](t, e.post(t, "usageEvent", event()))
	srv.Close()
	if err := emu.Close(); err != nil {
		t.Fatal(err)
	}

	again, err := emulator.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Close() })
	if evs := again.Events(); len(evs) != 1 || evs[0].UsageEventID != first.UsageEventID || evs[0].Quantity != 5 {
		t.Fatalf("events after restart = %+v", evs)
	}
	srv2 := httptest.NewServer(again)
	t.Cleanup(srv2.Close)
	e2 := &env{emu: again, srv: srv2, clock: c, base: srv2.URL + "/api"}
	wantStatus(t, e2.post(t, "usageEvent", event("quantity", 2)), http.StatusConflict)

	if err := os.WriteFile(path, []byte("{not json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := emulator.Open(o); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a corrupt state file: err = %v, want one naming the line", err)
	}
}

func TestOpenCatalogue(t *testing.T) {
	cases := []struct {
		name  string
		opts  emulator.Options
		event map[string]any
		want  int
	}{
		{"any plan and dimension", emulator.Options{}, event("planId", "whatever", "dimension", "anything"), http.StatusOK},
		{"any plan, listed dimension", emulator.Options{Dimensions: []string{"pervote"}}, event("planId", "whatever"), http.StatusOK},
		{"any plan, unlisted dimension", emulator.Options{Dimensions: []string{"pervote"}}, event("dimension", "perhour"), http.StatusBadRequest},
		{"any resource", emulator.Options{}, event("resourceUri", absent{}, "resourceId", uuid.NewString()), http.StatusOK},
		{"plan without dimensions", emulator.Options{Plans: map[string][]string{"free": nil}}, event("planId", "free"), http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			wantStatus(t, e.post(t, "usageEvent", tc.event), tc.want)
		})
	}
}

// Many clients racing on one key: exactly one is accepted, every other one
// sees that same event as the accepted one.
func TestConcurrentSameKey(t *testing.T) {
	e := newEnv(t, strictOptions())
	const n = 40
	type reply struct {
		batch bool
		r     response
		err   error
	}
	replies := make([]reply, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev := jsonOf(t, event("quantity", i+1))
			op, body := "/usageEvent", ev
			if i%2 == 1 {
				op, body = "/batchUsageEvent", `{"request":[`+ev+`]}`
			}
			r, err := e.try(http.MethodPost, op+"?api-version="+metering.APIVersion, body)
			replies[i] = reply{batch: i%2 == 1, r: r, err: err}
		}()
	}
	wg.Wait()

	evs := e.emu.Events()
	if len(evs) != 1 {
		t.Fatalf("%d events recorded, want 1", len(evs))
	}
	accepted := 0
	for _, rep := range replies {
		if rep.err != nil {
			t.Fatal(rep.err)
		}
		var res metering.EventResult
		switch {
		case rep.batch:
			wantStatus(t, rep.r, http.StatusOK)
			res = decode[metering.BatchResult](t, rep.r).Result[0]
		case rep.r.status == http.StatusOK:
			res = decode[metering.EventResult](t, rep.r)
		default:
			wantStatus(t, rep.r, http.StatusConflict)
			res = *decode[metering.ErrorDetail](t, rep.r).AdditionalInfo.AcceptedMessage
		}
		if res.Status == metering.StatusAccepted {
			accepted++
		}
		id := res.UsageEventID // a single 409 carries the accepted event itself
		if rep.batch {
			acc, ok := res.Accepted()
			if !ok {
				t.Fatalf("batch item %+v is neither accepted nor duplicate", res)
			}
			id = acc.UsageEventID
		}
		if id != evs[0].UsageEventID {
			t.Errorf("answer names event %q, want %q", id, evs[0].UsageEventID)
		}
	}
	if accepted != 1 {
		t.Errorf("%d accepted, want exactly 1", accepted)
	}
}
