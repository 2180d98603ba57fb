package metering_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/uuid"

	"github.com/azure-vote/azure-vote/metering"
)

// secretToken must never show up in logs or errors.
const secretToken = "tok-9f3e-SECRET-never-print"

const extensionURI = "/subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333/resourceGroups/rg/providers/Microsoft.KubernetesConfiguration/extensions/vote"

var hour8 = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

// Bodies as the service writes them.
const (
	bodyAccepted = `{"usageEventId":"11111111-2222-3333-4444-555555555555","status":"Accepted",
		"messageTime":"2026-11-22T09:05:01.1234567Z","resourceUri":"` + extensionURI + `","quantity":7.0,
		"dimension":"pervote","effectiveStartTime":"2026-11-22T08:00:00Z","planId":"basic"}`
	bodyConflict = `{"additionalInfo":{"acceptedMessage":{"usageEventId":"99999999-2222-3333-4444-555555555555",
		"status":"Duplicate","messageTime":"2026-11-22T08:59:00.5Z","resourceUri":"` + extensionURI + `",
		"quantity":5.0,"dimension":"pervote","effectiveStartTime":"2026-11-22T08:00:00","planId":"basic"}},
		"message":"This usage event already exist.","code":"Conflict"}`
	bodyExpired = `{"message":"One or more errors have occurred.","target":"usageEventRequest","details":[
		{"message":"The effective time provided is has expired or is in future.","target":"effectiveStartTime","code":"BadArgument"}],
		"code":"BadArgument"}`
	bodyMissingResource = `{"message":"One or more errors have occurred.","target":"usageEventRequest","details":[
		{"message":"The resourceUri is required.","target":"ResourceUri","code":"BadArgument"}],"code":"BadArgument"}`
	bodyExpiredAndMissing = `{"message":"One or more errors have occurred.","target":"usageEventRequest","details":[
		{"message":"The effective time provided is has expired or is in future.","target":"effectiveStartTime","code":"BadArgument"},
		{"message":"The resourceUri is required.","target":"ResourceUri","code":"BadArgument"}],"code":"BadArgument"}`
	bodyForbidden = `{"message":"Client is not authorized for this usage resource.","code":"Forbidden"}`
)

// service is an httptest server standing in for the API, with a client
// pointed at it.
type service struct {
	srv    *httptest.Server
	client *metering.Client
	logs   *bytes.Buffer
	hits   *atomic.Int32
}

// fastRetry keeps retries real but short.
func fastRetry() policy.RetryOptions {
	return policy.RetryOptions{
		MaxRetries:    2,
		RetryDelay:    time.Millisecond,
		MaxRetryDelay: 5 * time.Millisecond,
		TryTimeout:    5 * time.Second,
	}
}

func newService(t *testing.T, h http.HandlerFunc, configure ...func(*metering.ClientOptions)) *service {
	t.Helper()
	hits := new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	logs := new(bytes.Buffer)
	opts := &metering.ClientOptions{
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	opts.Retry = fastRetry()
	for _, c := range configure {
		c(opts)
	}
	client, err := metering.NewClient(srv.URL+"/api", metering.StaticToken(secretToken), opts)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return &service{srv: srv, client: client, logs: logs, hits: hits}
}

// logLines decodes the client's JSON log lines.
func (s *service) logLines(t *testing.T) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.logs.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

func reply(status int, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func event(quantity float64) metering.UsageEvent {
	return metering.NewUsageEvent(extensionURI, "basic", "pervote", hour8.Add(17*time.Minute), quantity)
}

// captured is what a handler saw of a request.
type captured struct {
	method, path string
	query        url.Values
	header       http.Header
	body         []byte
}

// capture answers with h after handing the request over on the channel.
func capture(h http.HandlerFunc) (http.HandlerFunc, <-chan captured) {
	ch := make(chan captured, 16)
	return func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- captured{r.Method, r.URL.Path, r.URL.Query(), r.Header.Clone(), b}
		h(w, r)
	}, ch
}

func TestSendUsageEventRequest(t *testing.T) {
	h, seen := capture(reply(http.StatusOK, bodyAccepted))
	s := newService(t, h)

	ctx := metering.WithCorrelationID(t.Context(), "corr-from-caller")
	if _, err := s.client.SendUsageEvent(ctx, event(7)); err != nil {
		t.Fatalf("SendUsageEvent: %v", err)
	}
	got := <-seen
	if got.method != http.MethodPost || got.path != "/api/usageEvent" {
		t.Errorf("request = %s %s, want POST /api/usageEvent", got.method, got.path)
	}
	if v := got.query.Get("api-version"); v != metering.APIVersion {
		t.Errorf("api-version = %q", v)
	}
	for name, want := range map[string]string{
		"Authorization":              "Bearer " + secretToken,
		"Content-Type":               "application/json",
		metering.HeaderCorrelationID: "corr-from-caller",
	} {
		if v := got.header.Get(name); v != want {
			t.Errorf("header %s = %q, want %q", name, v, want)
		}
	}
	firstRequestID := got.header.Get(metering.HeaderRequestID)
	if _, err := uuid.Parse(firstRequestID); err != nil {
		t.Errorf("x-ms-requestid %q is not a UUID", firstRequestID)
	}
	var body map[string]any
	if err := json.Unmarshal(got.body, &body); err != nil {
		t.Fatalf("body %s: %v", got.body, err)
	}
	want := map[string]any{
		"resourceUri":        extensionURI,
		"quantity":           7.0,
		"dimension":          "pervote",
		"effectiveStartTime": "2026-11-22T08:00:00Z",
		"planId":             "basic",
	}
	if fmt.Sprint(body) != fmt.Sprint(want) {
		t.Errorf("body = %v, want %v", body, want)
	}

	// Without a correlation id in the context, each call gets its own ids.
	if _, err := s.client.SendUsageEvent(t.Context(), event(7)); err != nil {
		t.Fatalf("SendUsageEvent: %v", err)
	}
	got = <-seen
	cid := got.header.Get(metering.HeaderCorrelationID)
	if _, err := uuid.Parse(cid); err != nil {
		t.Errorf("generated x-ms-correlationid %q is not a UUID", cid)
	}
	if rid := got.header.Get(metering.HeaderRequestID); rid == firstRequestID || rid == "" {
		t.Errorf("second call's request id %q, first %q: want a new one", rid, firstRequestID)
	}
}

func TestSendUsageEventAnswers(t *testing.T) {
	const cid = "corr-answers"
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		quantity float64
		hits     int32
		check    func(t *testing.T, res metering.EventResult, err error)
	}{
		{
			name: "200 accepted", handler: reply(http.StatusOK, bodyAccepted), quantity: 7, hits: 1,
			check: func(t *testing.T, res metering.EventResult, err error) {
				if err != nil {
					t.Fatal(err)
				}
				acc, ok := res.Accepted()
				if res.Status != metering.StatusAccepted || !ok || acc.Quantity != 7 ||
					acc.UsageEventID != "11111111-2222-3333-4444-555555555555" || !acc.EffectiveStartTime.Equal(hour8) {
					t.Errorf("result = %+v", res)
				}
			},
		},
		{
			name: "409 duplicate carries the accepted quantity", handler: reply(http.StatusConflict, bodyConflict), quantity: 7, hits: 1,
			check: func(t *testing.T, res metering.EventResult, err error) {
				if err != nil {
					t.Fatalf("a duplicate is an answer, got error %v", err)
				}
				if res.Status != metering.StatusDuplicate || res.Quantity != 7 || res.Error == nil || res.Error.Code != "Conflict" {
					t.Errorf("result = %+v", res)
				}
				acc, ok := res.Accepted()
				if !ok || acc.Quantity != 5 || acc.UsageEventID != "99999999-2222-3333-4444-555555555555" || !acc.EffectiveStartTime.Equal(hour8) {
					t.Errorf("Accepted() = %+v, %v; want the first event, quantity 5", acc, ok)
				}
			},
		},
		{
			name: "400 expired", handler: reply(http.StatusBadRequest, bodyExpired), quantity: 3, hits: 1,
			check: func(t *testing.T, res metering.EventResult, err error) {
				if err != nil {
					t.Fatalf("an expiry is an answer, got error %v", err)
				}
				if res.Status != metering.StatusExpired || res.Quantity != 3 || res.ResourceURI != extensionURI ||
					res.Error == nil || res.Error.Details[0].Target != "effectiveStartTime" {
					t.Errorf("result = %+v", res)
				}
				if _, ok := res.Accepted(); ok {
					t.Error("an expired event reads as accepted")
				}
			},
		},
		{
			name: "400 missing resource", handler: reply(http.StatusBadRequest, bodyMissingResource), quantity: 1, hits: 1,
			check: func(t *testing.T, _ metering.EventResult, err error) {
				var apiErr *metering.APIError
				if !errors.As(err, &apiErr) || !metering.IsBadRequest(err) || metering.IsTransient(err) || metering.IsForbidden(err) {
					t.Fatalf("err = %v, want a non-transient bad request", err)
				}
				if len(apiErr.Detail.Details) != 1 || apiErr.Detail.Details[0].Target != "ResourceUri" || apiErr.Detail.Code != "BadArgument" {
					t.Errorf("detail = %+v", apiErr.Detail)
				}
				if want := "400 Bad Request: One or more errors have occurred.; ResourceUri: The resourceUri is required. (correlation id " + cid + ")"; !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			},
		},
		{
			name: "400 expiry with another fault is not an expiry", handler: reply(http.StatusBadRequest, bodyExpiredAndMissing), quantity: 1, hits: 1,
			check: func(t *testing.T, _ metering.EventResult, err error) {
				if !metering.IsBadRequest(err) {
					t.Errorf("err = %v, want a bad request", err)
				}
			},
		},
		{
			name: "403 forbidden", handler: reply(http.StatusForbidden, bodyForbidden), quantity: 1, hits: 1,
			check: func(t *testing.T, _ metering.EventResult, err error) {
				var apiErr *metering.APIError
				if !errors.As(err, &apiErr) || !metering.IsForbidden(err) || metering.IsTransient(err) {
					t.Fatalf("err = %v, want forbidden", err)
				}
				if apiErr.CorrelationID != cid {
					t.Errorf("correlation id = %q, want %q", apiErr.CorrelationID, cid)
				}
				if _, err := uuid.Parse(apiErr.RequestID); err != nil {
					t.Errorf("request id %q: %v", apiErr.RequestID, err)
				}
				want := "metering: POST usageEvent: 403 Forbidden: Client is not authorized for this usage resource. (correlation id " + cid + ")"
				if err.Error() != want {
					t.Errorf("error = %q\nwant     %q", err, want)
				}
			},
		},
		{
			name: "503 outlasting the retries", handler: reply(http.StatusServiceUnavailable, `{"message":"busy","code":"ServiceUnavailable"}`), quantity: 1, hits: 3,
			check: func(t *testing.T, _ metering.EventResult, err error) {
				var apiErr *metering.APIError
				if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusServiceUnavailable || !metering.IsTransient(err) {
					t.Errorf("err = %v, want a transient 503", err)
				}
			},
		},
		{
			name: "404 from a proxy", handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "<html>no such route</html>", http.StatusNotFound)
			}, quantity: 1, hits: 1,
			check: func(t *testing.T, _ metering.EventResult, err error) {
				var apiErr *metering.APIError
				if !errors.As(err, &apiErr) || metering.IsTransient(err) || !strings.Contains(apiErr.Detail.Message, "no such route") {
					t.Errorf("err = %v, want a 404 carrying the body", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newService(t, tt.handler)
			res, err := s.client.SendUsageEvent(metering.WithCorrelationID(t.Context(), cid), event(tt.quantity))
			tt.check(t, res, err)
			if got := s.hits.Load(); got != tt.hits {
				t.Errorf("requests = %d, want %d", got, tt.hits)
			}
		})
	}
}

func TestRetryThenSuccess(t *testing.T) {
	var n atomic.Int32
	s := newService(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			reply(http.StatusInternalServerError, `{"message":"oops","code":"InternalServerError"}`)(w, r)
			return
		}
		reply(http.StatusOK, bodyAccepted)(w, r)
	})
	res, err := s.client.SendUsageEvent(metering.WithCorrelationID(t.Context(), "corr-retry"), event(7))
	if err != nil || res.Status != metering.StatusAccepted {
		t.Fatalf("SendUsageEvent = %+v, %v; want accepted after a retry", res, err)
	}
	if got := s.hits.Load(); got != 2 {
		t.Errorf("requests = %d, want 2", got)
	}
	lines := s.logLines(t)
	if len(lines) != 1 {
		t.Fatalf("log lines = %d, want one per call:\n%s", len(lines), s.logs)
	}
	l := lines[0]
	for key, want := range map[string]any{
		"method": "POST", "path": "/api/usageEvent", "status": 200.0,
		"correlation_id": "corr-retry", "attempts": 2.0,
	} {
		if l[key] != want {
			t.Errorf("log %s = %v, want %v", key, l[key], want)
		}
	}
	if _, ok := l["duration"]; !ok {
		t.Error("log line has no duration")
	}
	if _, err := uuid.Parse(fmt.Sprint(l["request_id"])); err != nil {
		t.Errorf("log request_id %v: %v", l["request_id"], err)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Run("honoured", func(t *testing.T) {
		var n atomic.Int32
		times := make(chan time.Time, 2)
		s := newService(t, func(w http.ResponseWriter, r *http.Request) {
			times <- time.Now()
			if n.Add(1) == 1 {
				reply(http.StatusTooManyRequests, `{"message":"slow down","code":"TooManyRequests"}`, "Retry-After", "1")(w, r)
				return
			}
			reply(http.StatusOK, bodyAccepted)(w, r)
		}, func(o *metering.ClientOptions) { o.Retry.MaxRetryDelay = 2 * time.Second })
		if _, err := s.client.SendUsageEvent(t.Context(), event(7)); err != nil {
			t.Fatalf("SendUsageEvent: %v", err)
		}
		first, second := <-times, <-times
		if gap := second.Sub(first); gap < 900*time.Millisecond {
			t.Errorf("retried after %v, want the 1s the service asked for", gap)
		}
	})
	t.Run("longer than MaxRetryDelay is returned", func(t *testing.T) {
		s := newService(t, reply(http.StatusTooManyRequests, `{"message":"slow down","code":"TooManyRequests"}`, "Retry-After", "120"))
		_, err := s.client.SendUsageEvent(t.Context(), event(7))
		var apiErr *metering.APIError
		if !errors.As(err, &apiErr) || apiErr.RetryAfter != 120*time.Second || !metering.IsTransient(err) {
			t.Fatalf("err = %v (%+v), want a transient 429 with RetryAfter 2m", err, apiErr)
		}
		if got := s.hits.Load(); got != 1 {
			t.Errorf("requests = %d, want 1", got)
		}
	})
}

func TestTransportFailures(t *testing.T) {
	t.Run("dropped connection", func(t *testing.T) {
		s := newService(t, func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			conn.Close()
		})
		_, err := s.client.SendUsageEvent(metering.WithCorrelationID(t.Context(), "corr-drop"), event(7))
		var te *metering.TransportError
		if !errors.As(err, &te) || !metering.IsTransient(err) {
			t.Fatalf("err = %v, want a transient transport error", err)
		}
		if te.Attempts != 3 || s.hits.Load() != 3 || te.CorrelationID != "corr-drop" {
			t.Errorf("attempts = %d, requests = %d, correlation id %q; want 3, 3, corr-drop", te.Attempts, s.hits.Load(), te.CorrelationID)
		}
	})
	t.Run("try timeout", func(t *testing.T) {
		s := newService(t, func(w http.ResponseWriter, r *http.Request) {
			// The server notices a closed connection only once the body is read.
			io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, func(o *metering.ClientOptions) {
			o.Retry.TryTimeout = 50 * time.Millisecond
			o.Retry.MaxRetries = -1
		})
		_, err := s.client.SendUsageEvent(t.Context(), event(7))
		var te *metering.TransportError
		if !errors.As(err, &te) || !metering.IsTransient(err) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want a transient transport error cut short by the try timeout", err)
		}
	})
	t.Run("unreadable 200", func(t *testing.T) {
		s := newService(t, reply(http.StatusOK, `{"usageEventId":`))
		_, err := s.client.SendUsageEvent(t.Context(), event(7))
		if !metering.IsTransient(err) {
			t.Errorf("err = %v, want transient: the event may have been recorded", err)
		}
	})
}

func TestNotSent(t *testing.T) {
	t.Run("no token", func(t *testing.T) {
		hits := new(atomic.Int32)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
		t.Cleanup(srv.Close)
		client, err := metering.NewClient(srv.URL+"/api", brokenCredential{}, &metering.ClientOptions{
			ClientOptions: azcore.ClientOptions{Retry: fastRetry()},
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = client.SendUsageEvent(t.Context(), event(1))
		if !errors.Is(err, metering.ErrToken) || metering.IsTransient(err) || !strings.Contains(err.Error(), "identity endpoint unreachable") {
			t.Errorf("err = %v, want ErrToken, not transient", err)
		}
		if hits.Load() != 0 {
			t.Errorf("requests = %d, want none", hits.Load())
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		s := newService(t, reply(http.StatusOK, bodyAccepted))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := s.client.SendUsageEvent(ctx, event(1))
		var te *metering.TransportError
		if !errors.Is(err, context.Canceled) || errors.As(err, &te) || s.hits.Load() != 0 || metering.MayHaveArrived(err) {
			t.Errorf("err = %v, requests %d; want context.Canceled, no request, known not to have arrived", err, s.hits.Load())
		}
	})
}

// TestMayHaveArrived checks that a refusal speaks only for the try it
// answers: after an earlier try of the same call got no answer, the event
// may have been recorded, whatever the last answer says.
func TestMayHaveArrived(t *testing.T) {
	// sequence answers the tries of a call in turn: "drop" closes the
	// connection without an answer, a number answers with that status.
	sequence := func(steps ...string) http.HandlerFunc {
		n := new(atomic.Int32)
		return func(w http.ResponseWriter, r *http.Request) {
			step := steps[min(int(n.Add(1))-1, len(steps)-1)]
			switch step {
			case "drop":
				conn, _, _ := http.NewResponseController(w).Hijack()
				conn.Close()
			case "403":
				reply(http.StatusForbidden, `{"message":"Client is not authorized for this usage resource.","code":"Forbidden"}`)(w, r)
			case "400":
				reply(http.StatusBadRequest, `{"message":"Invalid usage state.","code":"BadArgument"}`)(w, r)
			case "503":
				reply(http.StatusServiceUnavailable, `{"message":"busy"}`)(w, r)
			case "429":
				reply(http.StatusTooManyRequests, `{"message":"slow down"}`, "Retry-After", "0")(w, r)
			}
		}
	}
	for _, tc := range []struct {
		steps []string
		want  bool
	}{
		{[]string{"403"}, false},
		{[]string{"400"}, false},
		{[]string{"drop", "403"}, true},
		{[]string{"503", "400"}, true},
		{[]string{"429", "403"}, true},
		{[]string{"503"}, true},
		{[]string{"drop"}, true},
	} {
		t.Run(strings.Join(tc.steps, "-then-"), func(t *testing.T) {
			s := newService(t, sequence(tc.steps...))
			_, err := s.client.SendUsageEvent(t.Context(), event(1))
			if err == nil {
				t.Fatal("no error")
			}
			if got := metering.MayHaveArrived(err); got != tc.want {
				t.Errorf("MayHaveArrived(%v) = %v, want %v", err, got, tc.want)
			}
		})
	}

	t.Run("token lost after an unanswered try", func(t *testing.T) {
		srv := httptest.NewServer(sequence("drop"))
		t.Cleanup(srv.Close)
		client, err := metering.NewClient(srv.URL+"/api", &onceCredential{}, &metering.ClientOptions{
			ClientOptions: azcore.ClientOptions{Retry: fastRetry()},
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = client.SendUsageEvent(t.Context(), event(1))
		if !errors.Is(err, metering.ErrToken) || !metering.MayHaveArrived(err) {
			t.Errorf("err = %v: want ErrToken, and may have arrived", err)
		}
	})
	t.Run("no token at all", func(t *testing.T) {
		client, err := metering.NewClient("http://127.0.0.1:1/api", brokenCredential{}, &metering.ClientOptions{
			ClientOptions: azcore.ClientOptions{Retry: fastRetry()},
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = client.SendUsageEvent(t.Context(), event(1))
		if metering.MayHaveArrived(err) {
			t.Errorf("MayHaveArrived(%v) = true: nothing was sent", err)
		}
	})
}

// onceCredential gives one token that has already expired, so the first
// try goes out with it and every retry must ask again, and fails.
type onceCredential struct{ n atomic.Int32 }

func (c *onceCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if c.n.Add(1) == 1 {
		return azcore.AccessToken{Token: "short-lived", ExpiresOn: time.Now().Add(-time.Minute)}, nil
	}
	return azcore.AccessToken{}, errors.New("identity endpoint unreachable")
}

type brokenCredential struct{}

func (brokenCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, errors.New("identity endpoint unreachable")
}

func TestSendBatch(t *testing.T) {
	t.Run("size refused before sending", func(t *testing.T) {
		s := newService(t, reply(http.StatusOK, `{"count":0,"result":[]}`))
		for _, n := range []int{0, metering.MaxBatch + 1} {
			events := make([]metering.UsageEvent, n)
			for i := range events {
				events[i] = event(1)
			}
			_, err := s.client.SendBatch(t.Context(), events)
			var bse *metering.BatchSizeError
			if !errors.As(err, &bse) || bse.Size != n {
				t.Errorf("batch of %d: err = %v, want *BatchSizeError", n, err)
			}
		}
		if s.hits.Load() != 0 {
			t.Errorf("requests = %d, want none", s.hits.Load())
		}
	})

	t.Run("per-event statuses", func(t *testing.T) {
		const answer = `{"count":5,"result":[
			{"usageEventId":"a1","status":"Accepted","messageTime":"2026-11-22T10:00:25.7798568Z","resourceUri":"` + extensionURI + `",
			 "quantity":7.0,"dimension":"pervote","effectiveStartTime":"2026-11-22T08:00:00Z","planId":"basic"},
			{"status":"Duplicate","messageTime":"0001-01-01T00:00:00","error":{"additionalInfo":{"acceptedMessage":{
			 "usageEventId":"a0","status":"Duplicate","messageTime":"2026-11-22T09:10:00Z","resourceUri":"` + extensionURI + `",
			 "quantity":2.0,"dimension":"pervote","effectiveStartTime":"2026-11-22T09:00:00Z","planId":"basic"}},
			 "message":"This usage event already exist.","code":"Conflict"},
			 "resourceUri":"` + extensionURI + `","quantity":2.0,"dimension":"pervote","effectiveStartTime":"2026-11-22T09:00:00Z","planId":"basic"},
			{"status":"Expired","messageTime":"0001-01-01T00:00:00","error":{"code":"Expired","message":"The usage event is expired."},
			 "resourceUri":"` + extensionURI + `","quantity":1.0,"dimension":"pervote","effectiveStartTime":"2026-11-20T08:00:00Z","planId":"basic"},
			{"status":"ResourceNotFound","messageTime":"0001-01-01T00:00:00","error":{"code":"ResourceNotFound","message":"The resource is not found.","target":"resourceId"},
			 "resourceId":"5bc4d4b1-2a32-4a3f-b1a2-0000aaaa1111","quantity":1.0,"dimension":"pervote","effectiveStartTime":"2026-11-22T08:00:00Z","planId":"basic"},
			{"status":"InvalidDimension","messageTime":"0001-01-01T00:00:00","error":{"code":"InvalidDimension","message":"The payload dimension is invalid.","target":"dimension"},
			 "resourceUri":"` + extensionURI + `","quantity":1.0,"dimension":"perfrog","effectiveStartTime":"2026-11-22T08:00:00Z","planId":"basic"}
		]}`
		h, seen := capture(reply(http.StatusOK, answer))
		s := newService(t, h)
		events := []metering.UsageEvent{
			event(7),
			metering.NewUsageEvent(extensionURI, "basic", "pervote", hour8.Add(time.Hour), 3),
			metering.NewUsageEvent(extensionURI, "basic", "pervote", hour8.Add(-48*time.Hour), 1),
			metering.NewUsageEvent("5bc4d4b1-2a32-4a3f-b1a2-0000aaaa1111", "basic", "pervote", hour8, 1),
			metering.NewUsageEvent(extensionURI, "basic", "perfrog", hour8, 1),
		}
		res, err := s.client.SendBatch(t.Context(), events)
		if err != nil {
			t.Fatalf("SendBatch: %v", err)
		}
		got := <-seen
		if got.path != "/api/batchUsageEvent" || got.query.Get("api-version") != metering.APIVersion {
			t.Errorf("request = %s ?%s", got.path, got.query.Encode())
		}
		var body struct {
			Request []map[string]any `json:"request"`
		}
		if err := json.Unmarshal(got.body, &body); err != nil || len(body.Request) != len(events) {
			t.Fatalf("body %s: want {\"request\":[%d events]} (%v)", got.body, len(events), err)
		}
		if body.Request[3]["resourceId"] != "5bc4d4b1-2a32-4a3f-b1a2-0000aaaa1111" || body.Request[3]["resourceUri"] != nil {
			t.Errorf("event 3 = %v, want resourceId only", body.Request[3])
		}

		wantStatus := []metering.Status{
			metering.StatusAccepted, metering.StatusDuplicate, metering.StatusExpired,
			metering.StatusResourceNotFound, metering.StatusInvalidDimension,
		}
		if len(res.Result) != len(wantStatus) || res.Count != 5 {
			t.Fatalf("results = %+v", res)
		}
		for i, want := range wantStatus {
			if res.Result[i].Status != want {
				t.Errorf("result %d status = %s, want %s", i, res.Result[i].Status, want)
			}
		}
		dup := res.Result[1]
		if acc, ok := dup.Accepted(); !ok || acc.Quantity != 2 || acc.UsageEventID != "a0" || !dup.MessageTime.IsZero() {
			t.Errorf("duplicate = %+v, accepted %+v %v", dup, acc, ok)
		}
		if e := res.Result[3].Error; e == nil || e.Target != "resourceId" {
			t.Errorf("ResourceNotFound error = %+v", e)
		}
		if e := res.Result[4].Error; e == nil || e.Target != "dimension" || e.Message != "The payload dimension is invalid." {
			t.Errorf("InvalidDimension error = %+v", e)
		}
	})

	t.Run("short answer is returned for matching by echo", func(t *testing.T) {
		s := newService(t, reply(http.StatusOK, `{"count":1,"result":[{"status":"Accepted","quantity":1}]}`))
		res, err := s.client.SendBatch(t.Context(), []metering.UsageEvent{event(1), event(2)})
		if err != nil || len(res.Result) != 1 {
			t.Errorf("SendBatch = %+v, %v; want the one result as answered", res, err)
		}
	})

	t.Run("refused batch", func(t *testing.T) {
		s := newService(t, reply(http.StatusBadRequest, `{"message":"Batch events request payload count is more than 25.","target":"batchUsageEventRequest","code":"BadArgument"}`))
		_, err := s.client.SendBatch(t.Context(), []metering.UsageEvent{event(1)})
		if !metering.IsBadRequest(err) || !strings.Contains(err.Error(), "POST batchUsageEvent: 400 Bad Request: Batch events") {
			t.Errorf("err = %v, want a bad request", err)
		}
	})
}

func TestUsageEvents(t *testing.T) {
	const answer = `[{"usageDate":"2026-11-21T00:00:00","usageResourceId":"5bc4d4b1-2a32-4a3f-b1a2-0000aaaa1111","dimension":"pervote",
		"planId":"basic","planName":"Basic","offerId":"azure-vote","offerName":"Azure Vote","offerType":"k8s",
		"azureSubscriptionId":"0b1f6471-1bf0-4dda-aec3-111122223333","reconStatus":"Accepted",
		"submittedQuantity":17.5,"processedQuantity":17.5,"submittedCount":3}]`

	t.Run("every parameter", func(t *testing.T) {
		h, seen := capture(reply(http.StatusOK, answer))
		s := newService(t, h)
		recs, err := s.client.UsageEvents(t.Context(), metering.UsageQuery{
			Start:               time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC),
			End:                 time.Date(2026, 11, 22, 13, 30, 0, 0, time.FixedZone("CET", 3600)),
			OfferID:             "azure-vote",
			PlanID:              "basic",
			Dimension:           "pervote",
			AzureSubscriptionID: "0b1f6471-1bf0-4dda-aec3-111122223333",
			ReconStatus:         metering.ReconAccepted,
		})
		if err != nil {
			t.Fatalf("UsageEvents: %v", err)
		}
		got := <-seen
		if got.method != http.MethodGet || got.path != "/api/usageEvents" || len(got.body) != 0 {
			t.Errorf("request = %s %s with body %q", got.method, got.path, got.body)
		}
		want := url.Values{
			"api-version":         {metering.APIVersion},
			"usageStartDate":      {"2026-11-21T00:00:00Z"},
			"UsageEndDate":        {"2026-11-22T12:30:00Z"},
			"offerId":             {"azure-vote"},
			"planId":              {"basic"},
			"dimension":           {"pervote"},
			"azureSubscriptionId": {"0b1f6471-1bf0-4dda-aec3-111122223333"},
			"reconStatus":         {"Accepted"},
		}
		if got.query.Encode() != want.Encode() {
			t.Errorf("query = %s\nwant    %s", got.query.Encode(), want.Encode())
		}
		if got.header.Get("Authorization") != "Bearer "+secretToken {
			t.Error("no bearer token on GET usageEvents")
		}
		if len(recs) != 1 {
			t.Fatalf("records = %+v", recs)
		}
		r := recs[0]
		if r.SubmittedQuantity != 17.5 || r.SubmittedCount != 3 || r.ReconStatus != metering.ReconAccepted ||
			r.OfferType != "k8s" || !r.UsageDate.Equal(time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("record = %+v", r)
		}
	})

	t.Run("only the start", func(t *testing.T) {
		h, seen := capture(reply(http.StatusOK, `[]`))
		s := newService(t, h)
		recs, err := s.client.UsageEvents(t.Context(), metering.UsageQuery{Start: hour8})
		if err != nil || recs == nil || len(recs) != 0 {
			t.Fatalf("UsageEvents = %v, %v; want an empty list", recs, err)
		}
		got := <-seen
		if q := got.query.Encode(); q != "api-version=2018-08-31&usageStartDate=2026-11-22T08%3A00%3A00Z" {
			t.Errorf("query = %s", q)
		}
	})

	t.Run("start required", func(t *testing.T) {
		s := newService(t, reply(http.StatusOK, `[]`))
		if _, err := s.client.UsageEvents(t.Context(), metering.UsageQuery{Dimension: "pervote"}); err == nil || !strings.Contains(err.Error(), "usageStartDate") {
			t.Errorf("err = %v, want a missing start", err)
		}
		if s.hits.Load() != 0 {
			t.Errorf("requests = %d, want none", s.hits.Load())
		}
	})

	t.Run("forbidden", func(t *testing.T) {
		s := newService(t, reply(http.StatusForbidden, bodyForbidden))
		if _, err := s.client.UsageEvents(t.Context(), metering.UsageQuery{Start: hour8}); !metering.IsForbidden(err) {
			t.Errorf("err = %v, want forbidden", err)
		}
	})
}

// TestTokenNeverPrinted drives every failing path and reads all that the
// client wrote and returned.
func TestTokenNeverPrinted(t *testing.T) {
	var errs []error
	var logs strings.Builder
	for _, h := range []http.HandlerFunc{
		reply(http.StatusForbidden, bodyForbidden),
		reply(http.StatusBadRequest, bodyMissingResource),
		reply(http.StatusInternalServerError, `{"message":"oops"}`),
		reply(http.StatusUnauthorized, ``, "WWW-Authenticate", `Bearer realm="x"`),
		// a service that echoes what it was sent must not lead the client to print it
		func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "bad header: "+r.Header.Get("Authorization"), http.StatusTeapot)
		},
		func(w http.ResponseWriter, r *http.Request) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		},
	} {
		s := newService(t, h)
		_, err := s.client.SendUsageEvent(t.Context(), event(1))
		errs = append(errs, err)
		_, err = s.client.SendBatch(t.Context(), []metering.UsageEvent{event(1)})
		errs = append(errs, err)
		_, err = s.client.UsageEvents(t.Context(), metering.UsageQuery{Start: hour8})
		errs = append(errs, err)
		logs.WriteString(s.logs.String())
	}
	for _, err := range errs {
		if err == nil {
			t.Fatal("a failing call returned no error")
		}
		if strings.Contains(err.Error(), secretToken) || strings.Contains(fmt.Sprintf("%+v", err), secretToken) {
			t.Errorf("error shows the token: %v", err)
		}
	}
	if logs.Len() == 0 {
		t.Fatal("nothing logged")
	}
	if strings.Contains(logs.String(), secretToken) {
		t.Errorf("log shows the token:\n%s", logs.String())
	}
	tok := metering.StaticToken(secretToken)
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("cred", "token", tok)
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%v %s %#v %+v", tok, tok, tok, tok), buf.String()} {
		if strings.Contains(s, secretToken) {
			t.Errorf("StaticToken printed itself: %s", s)
		}
	}
}

func TestTLSEndpoint(t *testing.T) {
	h, seen := capture(reply(http.StatusOK, bodyAccepted))
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	client, err := metering.NewClient(srv.URL+"/api/", metering.StaticToken(secretToken), &metering.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: srv.Client(), Retry: fastRetry()},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := client.SendUsageEvent(t.Context(), event(7)); err != nil || res.Status != metering.StatusAccepted {
		t.Fatalf("SendUsageEvent = %+v, %v", res, err)
	}
	if got := <-seen; got.path != "/api/usageEvent" || got.header.Get("Authorization") != "Bearer "+secretToken {
		t.Errorf("request %s, Authorization present %v", got.path, got.header.Get("Authorization") != "")
	}
}

func TestNewClientEndpoint(t *testing.T) {
	tests := []struct {
		endpoint string
		ok       bool
	}{
		{metering.DefaultEndpoint, true},
		{"https://marketplaceapi.microsoft.com/api/", true},
		{"http://127.0.0.1:8080/api", true},
		{"http://127.3.4.5:8080/api", true},
		{"http://localhost:8080/api", true},
		{"http://[::1]:8080/api", true},
		{"https://emulator.internal/api", true},
		{"http://marketplaceapi.microsoft.com/api", false},
		{"http://10.0.0.7:8080/api", false},
		{"http://localhost.example.com/api", false},
		{"", false},
		{"/api", false},
		{"ftp://marketplaceapi.microsoft.com/api", false},
		{"https://user:pw@marketplaceapi.microsoft.com/api", false},
		{"ftp://user:pw@marketplaceapi.microsoft.com/api", false},
		{"http://pwtoken@10.0.0.7/api", false},
		{"https://user:pw@host:badport/api", false},
		{"https://user:pw@marketplaceapi.microsoft.com/api?x=1", false},
		{"https://marketplaceapi.microsoft.com/api?api-version=1", false},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			c, err := metering.NewClient(tt.endpoint, metering.StaticToken("t"), nil)
			if (err == nil) != tt.ok {
				t.Fatalf("NewClient(%q) err = %v, want ok %v", tt.endpoint, err, tt.ok)
			}
			if err != nil && strings.Contains(tt.endpoint, "pw") && strings.Contains(err.Error(), "pw") {
				t.Errorf("error shows the password: %v", err)
			}
			if c != nil && strings.HasSuffix(c.Endpoint(), "/") {
				t.Errorf("Endpoint() = %q keeps a trailing slash", c.Endpoint())
			}
		})
	}
	if _, err := metering.NewClient(metering.DefaultEndpoint, nil, nil); err == nil {
		t.Error("NewClient without a credential succeeded")
	}
	_, err := metering.NewClient("http://10.0.0.7/api", metering.StaticToken("t"), nil)
	if err == nil || !strings.Contains(err.Error(), "https") {
		t.Errorf("err = %v, want it to ask for https", err)
	}
}

func TestIsTransient(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("bad config"), false},
		{"408", &metering.APIError{StatusCode: http.StatusRequestTimeout}, true},
		{"429", &metering.APIError{StatusCode: http.StatusTooManyRequests}, true},
		{"502", fmt.Errorf("report: %w", &metering.APIError{StatusCode: http.StatusBadGateway}), true},
		{"400", &metering.APIError{StatusCode: http.StatusBadRequest}, false},
		{"403", &metering.APIError{StatusCode: http.StatusForbidden}, false},
		{"transport", &metering.TransportError{Err: io.EOF}, true},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"deadline", context.DeadlineExceeded, true},
		{"url error", &url.Error{Op: "Post", URL: "https://x", Err: io.EOF}, true},
		{"no token", fmt.Errorf("x: %w", metering.ErrToken), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := metering.IsTransient(tt.err); got != tt.want {
				t.Errorf("IsTransient(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// ObserveTry sees every try of a call, retries included, by operation.
func TestObserveTry(t *testing.T) {
	var tries atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tries.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"usageEventId":"e","status":"Accepted","messageTime":"2026-11-22T09:00:00Z","quantity":1,"dimension":"pervote","effectiveStartTime":"2026-11-22T08:00:00Z","planId":"p"}`))
	}))
	defer srv.Close()
	type try struct {
		op     string
		status int
	}
	var mu sync.Mutex
	var seen []try
	c, err := metering.NewClient(srv.URL+"/api", metering.StaticToken("t"), &metering.ClientOptions{
		ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{RetryDelay: time.Millisecond, MaxRetryDelay: time.Millisecond}},
		ObserveTry: func(op string, status int, d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, try{op, status})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendUsageEvent(context.Background(), metering.NewUsageEvent("/subscriptions/s/x", "p", "pervote", time.Now().Add(-time.Hour), 1)); err != nil {
		t.Fatal(err)
	}
	if want := []try{{"usageEvent", 503}, {"usageEvent", 200}}; !slices.Equal(seen, want) {
		t.Fatalf("tries seen %v, want %v", seen, want)
	}
}

// CheckEndpoint is NewClient's own check, so an application can refuse a
// bad endpoint at start with the same rules; it never repeats the URL.
func TestCheckEndpointAgreesWithNewClient(t *testing.T) {
	for _, ep := range []string{metering.DefaultEndpoint, "http://127.0.0.1:8090/api", "https://metering.example/v1",
		"http://10.0.0.7/api", "https://user:s3cret@metering.example/api", "not a url", ""} {
		_, cerr := metering.NewClient(ep, metering.StaticToken("t"), nil)
		err := metering.CheckEndpoint(ep)
		if (err == nil) != (cerr == nil) {
			t.Errorf("%q: CheckEndpoint %v, NewClient %v", ep, err, cerr)
		}
		if err != nil && (strings.Contains(err.Error(), "s3cret") || ep != "" && strings.Contains(err.Error(), ep)) {
			t.Errorf("%q: the error repeats the URL: %v", ep, err)
		}
	}
	if !metering.IsLocalEndpoint("http://[::1]:8090/api") || metering.IsLocalEndpoint(metering.DefaultEndpoint) {
		t.Error("IsLocalEndpoint")
	}
}
