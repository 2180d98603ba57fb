package emulator_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/emulator"
)

// calls are one valid request to each endpoint.
func calls() []struct{ method, op, body string } {
	return []struct{ method, op, body string }{
		{http.MethodPost, "usageEvent", `{"resourceUri":"` + resourceURI + `","planId":"basic","dimension":"pervote","quantity":1,"effectiveStartTime":"2026-11-22T09:00:00Z"}`},
		{http.MethodPost, "batchUsageEvent", `{"request":[{"resourceUri":"` + resourceURI + `","planId":"basic","dimension":"pervote","quantity":1,"effectiveStartTime":"2026-11-22T08:00:00Z"}]}`},
		{http.MethodGet, "usageEvents", ""},
	}
}

func TestAPIVersion(t *testing.T) {
	versions := []struct {
		name, query string
		want        int
	}{
		{"missing", "", http.StatusBadRequest},
		{"empty", "api-version=", http.StatusBadRequest},
		{"other", "api-version=2020-01-01", http.StatusBadRequest},
		{"supported", "api-version=2018-08-31", http.StatusOK},
	}
	for _, c := range calls() {
		for _, v := range versions {
			t.Run(c.op+"/"+v.name, func(t *testing.T) {
				e := newEnv(t, emulator.Options{})
				q := "?usageStartDate=2026-11-22"
				if v.query != "" {
					q += "&" + v.query
				}
				r := e.do(t, c.method, "/"+c.op+q, c.body)
				wantStatus(t, r, v.want)
				if v.want == http.StatusBadRequest {
					d := decode[metering.ErrorDetail](t, r)
					if d.Code != "BadArgument" || !strings.Contains(d.Message, "api-version") {
						t.Errorf("body = %s, want BadArgument naming api-version", r.body)
					}
					if n := len(e.emu.Events()); n != 0 {
						t.Errorf("%d events recorded by a refused request", n)
					}
				}
			})
		}
	}
}

func TestAuthorization(t *testing.T) {
	const forbidden = `{"message":"Client is not authorized for this usage resource.","code":"Forbidden"}`
	cases := []struct {
		name, authorization string
		want                int
	}{
		{"missing", "", http.StatusForbidden},
		{"not bearer", "Basic dXNlcjpwYXNz", http.StatusForbidden},
		{"empty token", "Bearer ", http.StatusForbidden},
		{"blank token", "Bearer    ", http.StatusForbidden},
		{"scheme only", "Bearer", http.StatusForbidden},
		{"rejected token", "Bearer revoked", http.StatusForbidden},
		{"any other token", "Bearer eyJ0eXAiOiJKV1Qi", http.StatusOK},
		{"scheme in lower case", "bearer eyJ0eXAiOiJKV1Qi", http.StatusOK},
	}
	for _, c := range calls() {
		for _, tc := range cases {
			t.Run(c.op+"/"+tc.name, func(t *testing.T) {
				e := newEnv(t, emulator.Options{Tokens: func(tok string) bool { return tok != "revoked" }})
				r := e.do(t, c.method, "/"+c.op+"?api-version="+metering.APIVersion+"&usageStartDate=2026-11-22", c.body,
					header{"Authorization", tc.authorization})
				wantStatus(t, r, tc.want)
				if tc.want == http.StatusForbidden {
					sameJSON(t, r.body, forbidden)
					if n := len(e.emu.Events()); n != 0 {
						t.Errorf("%d events recorded by a forbidden request", n)
					}
				}
			})
		}
	}
}

func TestRequestIDsEchoedOrGenerated(t *testing.T) {
	e := newEnv(t, emulator.Options{})
	for _, c := range calls() {
		t.Run(c.op, func(t *testing.T) {
			// Sent ids come back, on success and on error alike.
			for _, auth := range []string{token, ""} {
				r := e.do(t, c.method, "/"+c.op+"?api-version="+metering.APIVersion+"&usageStartDate=2026-11-22", c.body,
					header{metering.HeaderRequestID, "req-1"}, header{metering.HeaderCorrelationID, "corr-1"},
					header{"Authorization", auth})
				if got := r.header.Get(metering.HeaderRequestID); got != "req-1" {
					t.Errorf("status %d: request id = %q, want req-1", r.status, got)
				}
				if got := r.header.Get(metering.HeaderCorrelationID); got != "corr-1" {
					t.Errorf("status %d: correlation id = %q, want corr-1", r.status, got)
				}
			}
			// Missing ids are generated, as GUIDs, and differ per request.
			r1 := e.do(t, c.method, "/"+c.op+"?usageStartDate=2026-11-22", c.body)
			r2 := e.do(t, c.method, "/"+c.op+"?usageStartDate=2026-11-22", c.body)
			for _, h := range []string{metering.HeaderRequestID, metering.HeaderCorrelationID} {
				a, b := r1.header.Get(h), r2.header.Get(h)
				if _, err := uuid.Parse(a); err != nil {
					t.Errorf("generated %s %q is not a GUID", h, a)
				}
				if a == b {
					t.Errorf("generated %s repeated: %q", h, a)
				}
			}
		})
	}
}

func TestRouting(t *testing.T) {
	e := newEnv(t, emulator.Options{})
	ev := jsonOf(t, event())
	cases := []struct {
		name, method, path, body string
		want                     int
	}{
		{"unknown operation", http.MethodPost, "/api/usage?api-version=2018-08-31", ev, http.StatusNotFound},
		{"not under api", http.MethodPost, "/usageEvent?api-version=2018-08-31", ev, http.StatusNotFound},
		{"root", http.MethodGet, "/", "", http.StatusNotFound},
		{"wrong method for usageEvent", http.MethodGet, "/api/usageEvent?api-version=2018-08-31", "", http.StatusMethodNotAllowed},
		{"wrong method for usageEvents", http.MethodPost, "/api/usageEvents?api-version=2018-08-31", ev, http.StatusMethodNotAllowed},
		{"under a prefix", http.MethodPost, "/metering/api/usageEvent?api-version=2018-08-31", ev, http.StatusOK},
		{"other case and trailing slash", http.MethodPost, "/API/UsageEvent/?api-version=2018-08-31", jsonOf(t, event("dimension", "perhour")), http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, e.srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", token)
			req.Header.Set("Content-Type", "application/json")
			res, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Fatalf("status = %d, want %d", res.StatusCode, tc.want)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want JSON", ct)
			}
			if tc.want == http.StatusMethodNotAllowed && res.Header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
}

func TestMountedOnMux(t *testing.T) {
	emu := emulator.New(emulator.Options{Now: start})
	mux := http.NewServeMux()
	mux.Handle("/api/", emu)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	v := &env{emu: emu, srv: srv, base: srv.URL + "/api"}

	wantStatus(t, v.post(t, "usageEvent", event()), http.StatusOK)
	if n := len(emu.Events()); n != 1 {
		t.Fatalf("%d events, want 1", n)
	}
}

func TestStats(t *testing.T) {
	e := newEnv(t, emulator.Options{})
	e.post(t, "usageEvent", event())                                                    // 200
	e.post(t, "usageEvent", event())                                                    // 409
	e.post(t, "usageEvent", event("quantity", 0))                                       // 400
	e.post(t, "usageEvent", event("dimension", "perhour"), header{"Authorization", ""}) // 403
	e.post(t, "batchUsageEvent", map[string]any{"request": []any{event("dimension", "perhour")}})
	e.do(t, http.MethodGet, "/usageEvents?api-version=2018-08-31&usageStartDate=2026-11-22", "")
	e.do(t, http.MethodGet, "/nowhere", "")

	s := e.emu.Stats()
	want := map[emulator.Endpoint]map[int]int{
		emulator.EndpointUsageEvent:      {200: 1, 409: 1, 400: 1, 403: 1},
		emulator.EndpointBatchUsageEvent: {200: 1},
		emulator.EndpointUsageEvents:     {200: 1},
		emulator.EndpointOther:           {404: 1},
	}
	for ep, byStatus := range want {
		for status, n := range byStatus {
			if got := s.Count(ep, status); got != n {
				t.Errorf("Count(%s, %d) = %d, want %d", ep, status, got, n)
			}
		}
		if len(s.Responses[ep]) != len(byStatus) {
			t.Errorf("%s: statuses %v, want %v", ep, s.Responses[ep], byStatus)
		}
	}
	if s.Accepted != 2 {
		t.Errorf("Accepted = %d, want 2", s.Accepted)
	}

	// The copy is the caller's own.
	s.Responses[emulator.EndpointUsageEvent][200] = 99
	if got := e.emu.Stats().Count(emulator.EndpointUsageEvent, 200); got != 1 {
		t.Errorf("Stats shares its maps: count became %d", got)
	}
}
