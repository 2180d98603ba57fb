package emulator_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/emulator"
)

// hourEvent is a valid event for the i-th hour before the current one.
func hourEvent(i int) map[string]any {
	return event("effectiveStartTime", start().Truncate(time.Hour).Add(-time.Duration(i)*time.Hour).Format(time.RFC3339))
}

func TestFaultErrors(t *testing.T) {
	e := newEnv(t, emulator.Options{Faults: emulator.Faults{ErrorRate: 1, Seed: 1}})
	seen := map[int]int{}
	for i := range 20 {
		r := e.post(t, "usageEvent", hourEvent(i))
		seen[r.status]++
		if r.status != http.StatusInternalServerError && r.status != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 500 or 503", r.status)
		}
		if code := decode[metering.ErrorDetail](t, r).Code; code == "" {
			t.Errorf("error body without code: %s", r.body)
		}
	}
	if seen[500] == 0 || seen[503] == 0 {
		t.Errorf("statuses %v, want both 500 and 503", seen)
	}
	if n := len(e.emu.Events()); n != 0 {
		t.Errorf("%d events recorded behind 5xx answers", n)
	}
}

func TestFaultThrottle(t *testing.T) {
	cases := []struct {
		retryAfter time.Duration
		want       string
	}{
		{0, "1"},
		{time.Second, "1"},
		{1500 * time.Millisecond, "2"},
		{30 * time.Second, "30"},
	}
	for _, tc := range cases {
		t.Run(tc.retryAfter.String(), func(t *testing.T) {
			e := newEnv(t, emulator.Options{Faults: emulator.Faults{ThrottleRate: 1, RetryAfter: tc.retryAfter}})
			for _, c := range calls() {
				r := e.do(t, c.method, "/"+c.op+"?api-version="+metering.APIVersion+"&usageStartDate=2026-11-22", c.body)
				wantStatus(t, r, http.StatusTooManyRequests)
				if got := r.header.Get("Retry-After"); got != tc.want {
					t.Errorf("%s: Retry-After = %q, want %q", c.op, got, tc.want)
				}
				if d := decode[metering.ErrorDetail](t, r); d.Code != "TooManyRequests" {
					t.Errorf("%s: body %s", c.op, r.body)
				}
			}
			if n := len(e.emu.Events()); n != 0 {
				t.Errorf("%d events recorded behind 429 answers", n)
			}
		})
	}
}

func TestFaultLatency(t *testing.T) {
	const latency = 30 * time.Millisecond
	e := newEnv(t, emulator.Options{Faults: emulator.Faults{Latency: latency}})
	began := time.Now()
	wantStatus(t, e.post(t, "usageEvent", event()), http.StatusOK)
	if took := time.Since(began); took < latency {
		t.Errorf("answered in %v, want at least %v", took, latency)
	}

	// A client that gives up during the wait leaves nothing recorded.
	e.emu.SetFaults(emulator.Faults{Latency: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.base+"/usageEvent?api-version="+metering.APIVersion,
		strings.NewReader(jsonOf(t, event("dimension", "perhour"))))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", token)
	req.Header.Set("Content-Type", "application/json")
	if res, err := e.srv.Client().Do(req); !errors.Is(err, context.DeadlineExceeded) {
		if err == nil {
			res.Body.Close()
		}
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	e.srv.Close() // waits for the handler to return
	if n := len(e.emu.Events()); n != 1 {
		t.Errorf("%d events, want only the first", n)
	}
}

// Dropped connections give the client an error; about half of them come
// after the event was recorded, and a resend settles those as duplicates.
func TestFaultDrop(t *testing.T) {
	const n = 20
	e := newEnv(t, emulator.Options{Faults: emulator.Faults{DropRate: 1, Seed: 7}})
	for i := range n {
		if r, err := e.try(http.MethodPost, "/usageEvent?api-version="+metering.APIVersion, jsonOf(t, hourEvent(i))); err == nil {
			t.Fatalf("request %d answered %d, want a dropped connection", i, r.status)
		}
	}
	s := e.emu.Stats()
	recorded := e.emu.Events()
	if s.Dropped[emulator.EndpointUsageEvent] != n || s.DroppedAfterProcessing != len(recorded) {
		t.Fatalf("stats %+v with %d events recorded", s, len(recorded))
	}
	if len(recorded) == 0 || len(recorded) == n {
		t.Fatalf("%d of %d drops came after recording, want some of both kinds", len(recorded), n)
	}

	e.emu.SetFaults(emulator.Faults{})
	ids := map[string]string{} // effectiveStartTime -> usageEventId of the recorded events
	for _, ev := range recorded {
		ids[ev.EffectiveStartTime.Format(time.RFC3339)] = ev.UsageEventID
	}
	for i := range n {
		ev := hourEvent(i)
		r := e.post(t, "usageEvent", ev)
		id, wasRecorded := ids[ev["effectiveStartTime"].(string)]
		if !wasRecorded {
			wantStatus(t, r, http.StatusOK)
			continue
		}
		wantStatus(t, r, http.StatusConflict)
		if got := decode[metering.ErrorDetail](t, r).AdditionalInfo.AcceptedMessage.UsageEventID; got != id {
			t.Errorf("hour %d: duplicate names %s, want %s", i, got, id)
		}
	}
	if got := len(e.emu.Events()); got != n {
		t.Errorf("%d events after the resends, want %d", got, n)
	}
}

func TestFaultDropBatch(t *testing.T) {
	e := newEnv(t, emulator.Options{Faults: emulator.Faults{DropRate: 1, Seed: 3}})
	for i := range 10 {
		if _, err := e.try(http.MethodPost, "/batchUsageEvent?api-version="+metering.APIVersion,
			batchOf(t, hourEvent(2*i), hourEvent(2*i+1))); err == nil {
			t.Fatalf("batch %d answered, want a dropped connection", i)
		}
	}
	s := e.emu.Stats()
	if got := len(e.emu.Events()); got != 2*s.DroppedAfterProcessing {
		t.Errorf("%d events recorded for %d batches dropped after processing", got, s.DroppedAfterProcessing)
	}
}

// The same seed gives the same faults to the same sequence of requests.
func TestFaultsDeterministic(t *testing.T) {
	faults := emulator.Faults{DropRate: 0.3, ErrorRate: 0.3, ThrottleRate: 0.2, Seed: 42}
	run := func() []string {
		e := newEnv(t, emulator.Options{Faults: faults})
		var outcomes []string
		for i := range 30 {
			r, err := e.try(http.MethodPost, "/usageEvent?api-version="+metering.APIVersion, jsonOf(t, hourEvent(i%20)))
			if err != nil {
				outcomes = append(outcomes, "dropped")
				continue
			}
			outcomes = append(outcomes, strconv.Itoa(r.status))
		}
		return outcomes
	}
	first, second := run(), run()
	if fmt.Sprint(first) != fmt.Sprint(second) {
		t.Fatalf("same seed, different faults:\n%v\n%v", first, second)
	}
	kinds := map[string]bool{}
	for _, o := range first {
		kinds[o] = true
	}
	for _, k := range []string{"dropped", "429", "200"} {
		if !kinds[k] {
			t.Errorf("no %q among %v", k, first)
		}
	}
	if !kinds["500"] && !kinds["503"] {
		t.Errorf("no 5xx among %v", first)
	}
}

func TestSetFaults(t *testing.T) {
	e := newEnv(t, emulator.Options{Faults: emulator.Faults{ErrorRate: 1}})
	if r := e.post(t, "usageEvent", event()); r.status < 500 {
		t.Fatalf("status %d, want 5xx", r.status)
	}
	e.emu.SetFaults(emulator.Faults{})
	wantStatus(t, e.post(t, "usageEvent", event()), http.StatusOK)
	e.emu.SetFaults(emulator.Faults{ThrottleRate: 1})
	wantStatus(t, e.post(t, "usageEvent", event()), http.StatusTooManyRequests)
}

// Without a hijackable connection the answer is aborted the net/http way.
func TestDropWithoutHijack(t *testing.T) {
	emu := emulator.New(emulator.Options{Now: start, Faults: emulator.Faults{DropRate: 1}})
	req := httptest.NewRequest(http.MethodPost, "/api/usageEvent?api-version="+metering.APIVersion, strings.NewReader(jsonOf(t, event())))
	req.Header.Set("Authorization", token)
	req.Header.Set("Content-Type", "application/json")
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler", p)
		}
	}()
	emu.ServeHTTP(httptest.NewRecorder(), req)
	t.Error("ServeHTTP returned normally")
}
