package metering

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// FuzzDecodeAnswer feeds any status and body to the client's decoding of
// the three operations' answers. Whatever the service (or a proxy in front
// of it) says: no panic; every error is typed, so the reporter can tell a
// refusal from an answer it could not read; a 200 that cannot be read is a
// TransportError, as the event may have been recorded; and no decoded text
// holds anything shaped like a token, as those texts are logged and shown.
// The corpus in testdata/fuzz runs with every go test.
func FuzzDecodeAnswer(f *testing.F) {
	f.Add(200, []byte(`{"usageEventId":"e1","status":"Accepted","messageTime":"2026-11-22T09:00:00Z","resourceUri":"/subscriptions/x","quantity":5,"dimension":"pervote","effectiveStartTime":"2026-11-22T08:00:00Z","planId":"basic"}`))
	f.Add(409, []byte(`{"additionalInfo":{"acceptedMessage":{"usageEventId":"e0","status":"Duplicate","quantity":4}},"message":"This usage event already exist.","code":"Conflict"}`))
	f.Add(400, []byte(`{"message":"One or more errors have occurred.","target":"usageEventRequest","details":[{"message":"The usageEventRequest must be within the last 24 hours","target":"effectiveStartTime","code":"BadArgument"}],"code":"BadArgument"}`))
	f.Add(403, []byte(`{"message":"Authorization token is invalid: Bearer eyJhbGciOi.eyJzdWIi.c2ln","code":"Forbidden"}`))
	f.Add(403, []byte(`{"message":"token Bearer\u0020s3cr3t was refused"}`))
	f.Add(502, []byte("<html><body>Bad gateway: Authorization: Bearer abc.def</body></html>"))
	f.Add(200, []byte(`{"count":2,"result":[{"status":"Accepted"},{"status":"Duplicate"},{"status":"Expired"}]}`))
	f.Add(200, []byte(`[{"usageDate":"2026-11-22T00:00:00Z","submittedQuantity":14,"processedQuantity":14,"reconStatus":"Accepted"}]`))
	f.Add(200, []byte(`null`))
	f.Add(200, []byte(`{"status":`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 599 {
			status = 100 + (status%500+500)%500
		}
		x := &exchanged{op: "POST usageEvent", status: status, header: http.Header{}, body: body, correlationID: "c"}
		if status >= 300 {
			x.detail = decodeDetail(body)
		}
		checkRedacted(t, x.detail)
		ev := NewUsageEvent("/subscriptions/x", "basic", "pervote", time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC), 5)
		_, err := x.eventResult(ev)
		checkError(t, status, err)
		_, err = x.batchResult()
		checkError(t, status, err)
		_, err = x.usageRecords()
		checkError(t, status, err)
	})
}

func checkError(t *testing.T, status int, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var api *APIError
	var tr *TransportError
	if !errors.As(err, &api) && !errors.As(err, &tr) {
		t.Errorf("untyped error %T: %v", err, err)
	}
	if status == http.StatusOK && !IsTransient(err) {
		t.Errorf("an unreadable 200 is not transient: %v", err)
	}
	if api != nil {
		checkRedacted(t, api.Detail)
	}
}

func checkRedacted(t *testing.T, d ErrorDetail) {
	t.Helper()
	for _, s := range []string{d.Code, d.Message, d.Target} {
		if tokenPattern.MatchString(s) {
			t.Errorf("a token-shaped text survived: %q", s)
		}
	}
	for _, sub := range d.Details {
		checkRedacted(t, sub)
	}
}
