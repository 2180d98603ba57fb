package metering_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/emulator"
)

// The scenarios here are answers a hostile (or merely undocumented) service
// may give after a send whose outcome was unknown. Each ends with every vote
// billed exactly once, on real Redis and bbolt, with the emulator checking
// its window before or after duplicates.

// act is what the hostile transport does with one try.
type act int

const (
	pass           act = iota // forward, answer as the emulator does
	recordThenDrop            // forward, then lose the answer
	dropBefore                // lose the request
	refuse403                 // answer 403 without forwarding
	refuseState               // answer 400 "Invalid usage state." without forwarding
	itemError                 // answer 200 with every batch item (or the event) refused
	reverse                   // forward, and reverse the batch's results
	stripAccepted             // forward, and drop the acceptedMessage of duplicates
	badTime                   // forward, and make the answer's times unreadable
	serverError               // answer 503 without forwarding
	throttle                  // answer 429 without forwarding
)

// hostile is a transport that does to each try what script says.
type hostile struct {
	mu     sync.Mutex
	script func(n int, op string) act // n counts tries from 1
	n      int
	itemSt metering.Status // for itemError
	skew   time.Duration   // the emulator's clock runs this far ahead of ours
	// next forwards a request; default: over the network.
	next func(*http.Request) (*http.Response, error)
}

func (h *hostile) Do(req *http.Request) (*http.Response, error) {
	h.mu.Lock()
	h.n++
	n := h.n
	h.mu.Unlock()
	a := h.script(n, req.URL.Path[strings.LastIndexByte(req.URL.Path, '/')+1:])
	if req.Method == http.MethodGet {
		a = pass // the records are read as they are
	}
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	synth := func(status int, v any) (*http.Response, error) {
		b, _ := json.Marshal(v)
		return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(bytes.NewReader(b)), Request: req}, nil
	}
	switch a {
	case dropBefore:
		return nil, errors.New("connection reset before the request was read")
	case serverError:
		return synth(http.StatusServiceUnavailable, map[string]string{"message": "The service is temporarily unavailable.", "code": "ServiceUnavailable"})
	case throttle:
		return synth(http.StatusTooManyRequests, map[string]string{"message": "Rate limit is exceeded.", "code": "TooManyRequests"})
	case refuse403:
		return synth(http.StatusForbidden, map[string]string{"message": "Client is not authorized for this usage resource.", "code": "Forbidden"})
	case refuseState:
		return synth(http.StatusBadRequest, map[string]any{"message": "One or more errors have occurred.", "code": "BadArgument",
			"details": []map[string]string{{"message": "Invalid usage state.", "code": "BadArgument"}}})
	case itemError:
		var events []metering.UsageEvent
		var batch metering.BatchRequest
		if json.Unmarshal(body, &batch) == nil && batch.Request != nil {
			events = batch.Request
		} else {
			var one metering.UsageEvent
			_ = json.Unmarshal(body, &one)
			return synth(http.StatusBadRequest, map[string]any{"message": "One or more errors have occurred.", "code": "BadArgument",
				"details": []map[string]string{{"message": "Invalid usage state.", "code": "BadArgument"}}})
		}
		res := metering.BatchResult{Count: len(events)}
		for _, e := range events {
			r := e.Echo(h.itemSt)
			r.Error = &metering.ErrorDetail{Code: string(h.itemSt), Message: "refused"}
			res.Result = append(res.Result, r)
		}
		return synth(http.StatusOK, res)
	}
	next := h.next
	if next == nil {
		next = http.DefaultTransport.RoundTrip
	}
	resp, err := next(req)
	if err != nil || a == pass {
		return resp, err
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch a {
	case recordThenDrop:
		return nil, errors.New("connection reset after the request was sent")
	case reverse:
		var res map[string]any
		if json.Unmarshal(got, &res) == nil {
			if items, ok := res["result"].([]any); ok {
				slices.Reverse(items)
				got, _ = json.Marshal(res)
			}
		}
	case stripAccepted:
		got = bytes.ReplaceAll(got, []byte(`"acceptedMessage"`), []byte(`"somethingElse"`))
	case badTime:
		got = bytes.ReplaceAll(got, []byte(`"messageTime":"`), []byte(`"messageTime":"yesterday `))
	}
	resp.Body = io.NopCloser(bytes.NewReader(got))
	resp.ContentLength = int64(len(got))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// hostileWorlds runs f on both stores and both check orders, with
// transport set as the client's.
func hostileWorlds(t *testing.T, h func() *hostile, f func(t *testing.T, w *world, h *hostile)) {
	for _, kind := range storeKinds {
		for _, dupFirst := range []bool{false, true} {
			name := kind + "/window-first"
			if dupFirst {
				name = kind + "/duplicate-first"
			}
			t.Run(name, func(t *testing.T) {
				hh := h()
				w := newWorld(t, kind, func(eo *emulator.Options, co *metering.ClientOptions) {
					eo.DuplicateBeforeWindow = dupFirst
					co.Transport = hh
					ours := eo.Now
					eo.Now = func() time.Time { return ours().Add(hh.skew) }
				})
				f(t, w, hh)
			})
		}
	}
}

// passEachHour runs a pass at 5 past every hour for n hours.
func (w *world) passEachHour(r *metering.Reporter, n int) {
	w.t.Helper()
	for range n {
		w.clock.Add(time.Hour)
		w.pass(r)
	}
}

// An unanswered send that reached the service, then refusals until the
// window is gone: the hours must be settled from the service's records,
// never carried (which billed 24 for 12).
func TestLostAnswerThenRefusal(t *testing.T) {
	refusals := []struct {
		name string
		a    act
		st   metering.Status
	}{
		{"403", refuse403, ""},
		{"400 invalid usage state", refuseState, ""},
		{"batch item Error", itemError, metering.StatusError},
		{"batch item ResourceNotFound", itemError, metering.StatusResourceNotFound},
		{"batch item ResourceNotActive", itemError, metering.StatusResourceNotActive},
	}
	for _, rf := range refusals {
		t.Run(rf.name, func(t *testing.T) {
			var broken = true
			hostileWorlds(t, func() *hostile {
				broken = true
				return &hostile{itemSt: rf.st, script: func(n int, _ string) act {
					switch {
					case n == 1:
						return recordThenDrop
					case broken:
						return rf.a
					}
					return pass
				}}
			}, func(t *testing.T, w *world, h *hostile) {
				w.vote(start.Add(time.Minute), 6)
				w.vote(start.Add(time.Hour+time.Minute), 6)
				w.clock.Set(start.Add(2*time.Hour + 5*time.Minute))
				r := w.reporter(w.store)
				w.pass(r)
				if n := len(w.emu.Events()); n != 2 {
					t.Fatalf("the first send recorded %d events, want 2", n)
				}
				w.passEachHour(r, 30) // refused all along, past the window
				h.mu.Lock()
				broken = false
				h.mu.Unlock()
				w.settle(r)
				recs := w.checkBooks()
				for _, h := range []time.Time{start, start.Add(time.Hour)} {
					if rec := recs[h]; rec.ResolvedBy != metering.ResolvedByRecords || rec.CarriedOut != 0 {
						t.Errorf("hour %s: %+v, want settled from the records, nothing carried", h, rec)
					}
				}
			})
		})
	}
}

// flakyCredential gives tokens that are already stale, so every try asks
// for one, and fails while failing is set.
type flakyCredential struct {
	mu      sync.Mutex
	failing bool
}

func (c *flakyCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failing {
		return azcore.AccessToken{}, errors.New("identity endpoint unreachable")
	}
	return azcore.AccessToken{Token: "t", ExpiresOn: time.Now().Add(-time.Minute)}, nil
}

// The token fails on the retry after a try that reached the service.
func TestLostAnswerThenTokenFailure(t *testing.T) {
	forEachStore(t, func(t *testing.T, w *world) {
		cred := &flakyCredential{}
		h := &hostile{script: func(n int, _ string) act {
			if n == 1 {
				cred.mu.Lock()
				cred.failing = true
				cred.mu.Unlock()
				return recordThenDrop
			}
			return pass
		}}
		client, err := metering.NewClient(w.client.Endpoint(), cred, &metering.ClientOptions{ClientOptions: azcore.ClientOptions{
			Transport: h, Retry: policy.RetryOptions{MaxRetries: 2, RetryDelay: time.Millisecond, MaxRetryDelay: time.Millisecond},
		}})
		if err != nil {
			t.Fatal(err)
		}
		r := w.newReporter(metering.ReporterOptions{Ledger: w.store, Sender: client, Grace: 5 * time.Minute})
		w.vote(start.Add(time.Minute), 12)
		w.clock.Set(start.Add(time.Hour + 5*time.Minute))
		w.pass(r)
		recs, _ := w.store.Records(context.Background(), dim)
		if rec := recs[0]; !rec.MaybeBilled || !strings.Contains(rec.LastError, "no token") {
			t.Fatalf("after a lost answer and a token failure: %+v", rec)
		}
		w.passEachHour(r, 30)
		cred.mu.Lock()
		cred.failing = false
		cred.mu.Unlock()
		w.settle(r)
		w.checkBooks()
	})
}

// An unanswered send, then the window closes before an answer can come:
// a service that checks its window first answers the resend Expired, which
// proves nothing (it billed 24 for 12). The service's clock runs ahead of
// ours here, so the resend lands inside our margin but outside its window.
func TestLostAnswerThenExpired(t *testing.T) {
	hostileWorlds(t, func() *hostile {
		return &hostile{skew: 15 * time.Minute, script: func(n int, _ string) act {
			switch {
			case n == 1:
				return recordThenDrop
			case n <= 4: // the call's retries
				return dropBefore
			}
			return pass
		}}
	}, func(t *testing.T, w *world, h *hostile) {
		w.vote(start.Add(time.Minute), 12)
		w.clock.Set(start.Add(23*time.Hour + 30*time.Minute))
		r := w.reporter(w.store)
		w.pass(r) // recorded, answer lost
		w.clock.Set(start.Add(23*time.Hour + 48*time.Minute))
		res := w.pass(r) // inside our margin, outside the service's window
		if res.Expired+res.Duplicate != 1 {
			t.Fatalf("resend: %+v, want Expired or Duplicate", res)
		}
		w.settle(r)
		w.checkBooks()
	})
}

// Batch results answered in reverse: matched by position they settled one
// hour with another's quantity (18 billed for 14).
func TestBatchAnswersOutOfOrder(t *testing.T) {
	hostileWorlds(t, func() *hostile {
		return &hostile{script: func(int, string) act { return reverse }}
	}, func(t *testing.T, w *world, h *hostile) {
		w.vote(start.Add(time.Minute), 4)
		w.vote(start.Add(time.Hour+time.Minute), 10)
		w.clock.Set(start.Add(2*time.Hour + 5*time.Minute))
		r := w.reporter(w.store)
		if res := w.pass(r); res.Accepted != 2 {
			t.Fatalf("pass: %+v", res)
		}
		w.settle(r)
		w.checkBooks()
	})
}

// Answers that cannot be trusted are resent a bounded number of times,
// then the hour is unresolved and settled from the records, never left
// inflight forever.
func TestUntrustworthyAnswers(t *testing.T) {
	for _, bad := range []struct {
		name string
		a    act
	}{{"duplicate without acceptedMessage", stripAccepted}, {"unreadable times", badTime}} {
		t.Run(bad.name, func(t *testing.T) {
			hostileWorlds(t, func() *hostile {
				return &hostile{script: func(n int, _ string) act {
					if n == 1 {
						return recordThenDrop
					}
					return bad.a
				}}
			}, func(t *testing.T, w *world, h *hostile) {
				w.vote(start.Add(time.Minute), 7)
				w.clock.Set(start.Add(time.Hour + 5*time.Minute))
				r := w.reporter(w.store)
				var res metering.PassResult
				for range metering.MaxBadAnswers + 1 {
					res = w.pass(r)
					w.clock.Add(time.Hour)
				}
				w.passEachHour(r, 24)
				w.settle(r)
				recs := w.checkBooks()
				if rec := recs[start]; rec.ResolvedBy != metering.ResolvedByRecords || rec.BadAnswers != 0 {
					t.Errorf("hour: %+v (last pass %+v)", rec, res)
				}
				if sent := w.emu.Stats().Count(emulator.EndpointUsageEvent, http.StatusConflict) +
					w.emu.Stats().Count(emulator.EndpointUsageEvent, http.StatusOK); sent > 3*(metering.MaxBadAnswers+1) {
					t.Errorf("%d answered sends: resends are not bounded", sent)
				}
			})
		})
	}
}

// A try lost before it reached the service, refusals until past the window,
// and a day with no other usage: the records show nothing yet, which proves
// nothing, so the hour is unresolved until an operator settles it.
func TestOperatorSettlesAnUnresolvedHour(t *testing.T) {
	forEachStore(t, func(t *testing.T, w *world) {
		broken := true
		h := &hostile{script: func(n int, _ string) act {
			switch {
			case n == 1:
				return dropBefore
			case broken:
				return refuse403
			}
			return pass
		}}
		client, err := metering.NewClient(w.client.Endpoint(), metering.StaticToken("t"), &metering.ClientOptions{ClientOptions: azcore.ClientOptions{
			Transport: h, Retry: policy.RetryOptions{MaxRetries: 1, RetryDelay: time.Millisecond, MaxRetryDelay: time.Millisecond},
		}})
		if err != nil {
			t.Fatal(err)
		}
		r := w.newReporter(metering.ReporterOptions{Ledger: w.store, Sender: client, Grace: 5 * time.Minute})
		w.vote(start.Add(time.Minute), 9)
		w.clock.Set(start.Add(time.Hour + 5*time.Minute))
		w.pass(r)
		w.passEachHour(r, 26)
		broken = false
		res := w.pass(r)
		if res.Unresolved != 1 {
			t.Fatalf("pass: %+v, want one unresolved hour", res)
		}
		recs, _ := w.store.Records(context.Background(), dim)
		if rec := recs[0]; rec.State != metering.StateUnresolved || !strings.Contains(rec.Unresolved, "no usage") {
			t.Fatalf("hour: %+v", rec)
		}
		if _, err := r.Settle(context.Background(), dim, start, metering.VerdictCarry, "", "ops"); err == nil {
			t.Error("a settlement without a reason was taken")
		}
		rec, err := r.Settle(context.Background(), dim, start, metering.VerdictCarry, "Partner Center shows no usage on 2026-11-20", "ops@example.com")
		if err != nil || rec.State != metering.StateExpired || rec.CarriedOut != 9 || rec.ResolvedBy != "ops@example.com" {
			t.Fatalf("Settle = %+v, %v", rec, err)
		}
		if _, err := r.Settle(context.Background(), dim, start, metering.VerdictAccepted, "again", "ops"); err == nil || !strings.Contains(err.Error(), "already settled") {
			t.Errorf("settling a settled hour: %v", err)
		}
		w.settle(r)
		w.checkBooks()
	})
}
