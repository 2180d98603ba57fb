package emulator_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/emulator"
	"github.com/azure-vote/azure-vote/metering/meteringtest"
)

const (
	subscription = "1f2e3d4c-0000-4000-8000-00000000abcd"
	resourceURI  = "/subscriptions/" + subscription + "/resourceGroups/rg/providers/Microsoft.KubernetesConfiguration/extensions/azure-vote"
	resourceID   = "9c1b7e3e-0000-4000-8000-000000000001"
	inactiveID   = "9c1b7e3e-0000-4000-8000-000000000002"
	token        = "Bearer test-token"
)

// start is the emulator's "now" at the beginning of each test.
func start() time.Time { return time.Date(2026, 11, 22, 10, 17, 0, 0, time.UTC) }

// env is an emulator served over real HTTP.
type env struct {
	emu   *emulator.Emulator
	srv   *httptest.Server
	clock *meteringtest.Clock
	base  string // <server>/api
}

// plans are the plans of most tests.
func plans() map[string][]string {
	return map[string][]string{"basic": {"pervote", "perhour"}, "premium": {"pervote"}}
}

func newEnv(t *testing.T, o emulator.Options) *env {
	t.Helper()
	c := meteringtest.NewClock(start())
	if o.Now == nil {
		o.Now = c.Now
	}
	emu := emulator.New(o)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return &env{emu: emu, srv: srv, clock: c, base: srv.URL + "/api"}
}

// response is what a request got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// header overrides a request header; an empty value removes it.
type header struct{ key, value string }

// do sends a request to base+pathAndQuery with the usual headers (bearer
// token, JSON content type) unless overridden, and fails the test on a
// transport error.
func (v *env) do(t *testing.T, method, pathAndQuery, body string, headers ...header) response {
	t.Helper()
	r, err := v.try(method, pathAndQuery, body, headers...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, pathAndQuery, err)
	}
	return r
}

// try is do without failing: for dropped connections.
func (v *env) try(method, pathAndQuery, body string, headers ...header) (response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, v.base+pathAndQuery, rd)
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Authorization", token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		if h.value == "" {
			req.Header.Del(h.key)
		} else {
			req.Header.Set(h.key, h.value)
		}
	}
	res, err := v.srv.Client().Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: res.StatusCode, header: res.Header, body: b}, nil
}

// post sends an API call with api-version set.
func (v *env) post(t *testing.T, op string, body any, headers ...header) response {
	t.Helper()
	return v.do(t, http.MethodPost, "/"+op+"?api-version="+metering.APIVersion, jsonOf(t, body), headers...)
}

// absent deletes a field from an event built by event.
type absent struct{}

// event is a valid usage event for the current hour less one, with fields
// replaced by kv pairs (absent{} deletes one).
func event(kv ...any) map[string]any {
	ev := map[string]any{
		"resourceUri":        resourceURI,
		"planId":             "basic",
		"dimension":          "pervote",
		"quantity":           5,
		"effectiveStartTime": "2026-11-22T09:00:00Z",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		if _, del := kv[i+1].(absent); del {
			delete(ev, k)
			continue
		}
		ev[k] = kv[i+1]
	}
	return ev
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, r.body, err)
	}
	return v
}

// sameJSON fails unless got and want hold the same JSON value.
func sameJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body = %s\nwant   %s", got, want)
	}
}

// wantStatus fails unless r has the status.
func wantStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
}

// wantBadRequest checks the service's 400 body with its single detail.
func wantBadRequest(t *testing.T, r response, target, detailTarget, detailMessage string) {
	t.Helper()
	wantStatus(t, r, http.StatusBadRequest)
	d := decode[metering.ErrorDetail](t, r)
	if d.Code != "BadArgument" || d.Message != "One or more errors have occurred." || d.Target != target || len(d.Details) != 1 {
		t.Fatalf("400 body = %s", r.body)
	}
	got := d.Details[0]
	if got.Code != "BadArgument" || got.Target != detailTarget || !strings.Contains(got.Message, detailMessage) {
		t.Errorf("detail = %+v, want target %q and message containing %q", got, detailTarget, detailMessage)
	}
}
