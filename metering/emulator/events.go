package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/azure-vote/azure-vote/metering"
)

// Messages of the service, verbatim (including its grammar).
const (
	msgOneOrMore  = "One or more errors have occurred."
	msgDuplicate  = "This usage event already exist."
	msgTime       = "The effective time provided is has expired or is in future."
	msgForbidden  = "Client is not authorized for this usage resource."
	msgDimension  = "The payload dimension is invalid."
	msgUsageState = "Invalid usage state."
	msgBatchCount = "Batch events request payload count is more than 25. Send at most 25 usage events per request."
)

// Targets of the request-level errors.
const (
	targetEvent = "usageEventRequest"
	targetBatch = "batchUsageEventRequest"
)

// noMessageTime is how the service writes the messageTime of an event it
// did not accept: zone-less, which strict RFC 3339 parsers reject, so the
// emulator writes it the same way to catch them.
const noMessageTime = "0001-01-01T00:00:00"

// incoming is a usage event as received. It reuses the wire type but keeps
// effectiveStartTime raw (the shallower field wins in encoding/json), so that
// a bad time is answered on its field, as the service does, rather than as a
// malformed body.
type incoming struct {
	metering.UsageEvent
	EffectiveStartTime json.RawMessage `json:"effectiveStartTime"`
}

// eventKey is what the service bills by: one event per resource, dimension
// and calendar hour (UTC). The plan is not part of it.
type eventKey struct {
	resource  string // lower case: ARM ids and GUIDs ignore case
	dimension string
	hour      int64 // Unix seconds of the start of the hour
}

func keyOf(ev metering.UsageEvent) eventKey {
	return eventKey{
		resource:  strings.ToLower(ev.Resource()),
		dimension: ev.Dimension,
		hour:      metering.HourOf(ev.EffectiveStartTime.Time).Unix(),
	}
}

func keyOfResult(r metering.EventResult) eventKey {
	return keyOf(metering.UsageEvent{ResourceID: r.ResourceID, ResourceURI: r.ResourceURI,
		Dimension: r.Dimension, EffectiveStartTime: r.EffectiveStartTime})
}

// outcome is the emulator's verdict on one event.
type outcome struct {
	status metering.Status
	// event is the event as parsed, echoed in a batch item.
	event metering.UsageEvent
	// accepted is, for Accepted, the new record; for Duplicate, the first
	// event accepted for the key.
	accepted metering.EventResult
	// problem explains any other status (one detail of the 400 body).
	problem metering.ErrorDetail
}

func failed(st metering.Status, ev metering.UsageEvent, target, format string, args ...any) outcome {
	return outcome{status: st, event: ev, problem: metering.ErrorDetail{
		Code: "BadArgument", Target: target, Message: fmt.Sprintf(format, args...)}}
}

// submit validates one event and records it if it is the first of its key.
// The caller holds e.mu, so that checking and recording the key are one step.
//
// Checks run in the order: resource, plan, dimension, quantity, time format,
// then time window and duplicate, in the order Options.DuplicateBeforeWindow
// chooses. Neither order is documented; a client must keep exactly-once
// under both, so the tests run both.
func (e *Emulator) submit(in incoming, now time.Time) outcome {
	ev := in.UsageEvent
	// The time is parsed first so that every failure can echo it, but a bad
	// one is reported in its turn.
	t, timeProblem := parseEffective(in.EffectiveStartTime)
	ev.EffectiveStartTime = metering.Time{Time: t}

	switch {
	case ev.ResourceID == "" && ev.ResourceURI == "":
		return failed(metering.StatusBadArgument, ev, "ResourceUri", "The resourceUri is required.")
	case ev.ResourceID != "" && ev.ResourceURI != "":
		return failed(metering.StatusBadArgument, ev, "resourceId", "Send either resourceId or resourceUri, not both.")
	case ev.ResourceID != "" && !isGUID(ev.ResourceID):
		return failed(metering.StatusBadArgument, ev, "resourceId", "The resourceId %q is not a GUID.", ev.ResourceID)
	case ev.ResourceURI != "" && metering.SubscriptionOf(ev.ResourceURI) == "":
		return failed(metering.StatusBadArgument, ev, "resourceUri",
			"The resourceUri %q is not an Azure resource id (/subscriptions/<id>/...).", ev.ResourceURI)
	}
	resource := strings.ToLower(ev.Resource())
	target := "resourceId"
	if ev.ResourceURI != "" {
		target = "resourceUri"
	}
	if e.resources != nil && !e.resources[resource] {
		return failed(metering.StatusResourceNotFound, ev, target, "The usage resource provided is invalid.")
	}
	if e.inactive[resource] {
		return failed(metering.StatusResourceNotActive, ev, target, msgUsageState)
	}

	var dims map[string]bool
	switch {
	case ev.PlanID == "":
		return failed(metering.StatusBadArgument, ev, "planId", "The planId is required.")
	case e.plans == nil:
		dims = e.dimensions
	default:
		var known bool
		if dims, known = e.plans[ev.PlanID]; !known {
			return failed(metering.StatusBadArgument, ev, "planId", "The payload plan is invalid.")
		}
	}
	switch {
	case ev.Dimension == "":
		return failed(metering.StatusBadArgument, ev, "dimension", "The dimension is required.")
	case dims != nil && !dims[ev.Dimension]:
		return failed(metering.StatusInvalidDimension, ev, "dimension", msgDimension)
	}
	if !(ev.Quantity > 0) || math.IsInf(ev.Quantity, 0) {
		return failed(metering.StatusInvalidQuantity, ev, "quantity", "The quantity passed is lower or equal to 0.")
	}

	if timeProblem != "" {
		return failed(metering.StatusBadArgument, ev, "effectiveStartTime", "%s", timeProblem)
	}

	outside := t.After(now) || t.Before(now.Add(-metering.Window))
	if outside && !e.dupFirst {
		return failed(metering.StatusExpired, ev, "effectiveStartTime", msgTime)
	}
	if i, dup := e.byKey[keyOf(ev)]; dup {
		first := e.events[i]
		first.Status = metering.StatusDuplicate
		return outcome{status: metering.StatusDuplicate, event: ev, accepted: first}
	}
	if outside {
		return failed(metering.StatusExpired, ev, "effectiveStartTime", msgTime)
	}

	res := ev.Echo(metering.StatusAccepted)
	res.UsageEventID = uuid.NewString()
	res.MessageTime = metering.Time{Time: now.UTC()}
	if err := e.persist(res); err != nil {
		e.log.Error("emulator: state file", slog.Any("error", err))
		return outcome{status: metering.StatusError, event: ev, problem: metering.ErrorDetail{
			Code: "InternalServerError", Message: "The event could not be stored; it was not recorded. Retry the request."}}
	}
	e.record(res)
	return outcome{status: metering.StatusAccepted, event: ev, accepted: res}
}

// parseEffective reads effectiveStartTime as sent, or says what is wrong with it.
func parseEffective(raw json.RawMessage) (time.Time, string) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, "The effectiveStartTime is required."
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, "The effectiveStartTime must be a string."
	}
	t, err := metering.ParseTime(s)
	if err != nil {
		return time.Time{}, fmt.Sprintf("The effectiveStartTime %q is not an ISO 8601 date-time.", s)
	}
	return t, ""
}

// isGUID reports whether s is a GUID in its hyphenated 36-character form,
// the only form the service writes.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// conflict is the error of a duplicate: the first accepted event, with
// status Duplicate.
func conflict(first metering.EventResult) *metering.ErrorDetail {
	return &metering.ErrorDetail{
		Code:           "Conflict",
		Message:        msgDuplicate,
		AdditionalInfo: &metering.AdditionalInfo{AcceptedMessage: &first},
	}
}

// badRequest is the service's 400 body for the given details.
func badRequest(target string, details ...metering.ErrorDetail) *metering.ErrorDetail {
	return &metering.ErrorDetail{Code: "BadArgument", Message: msgOneOrMore, Target: target, Details: details}
}

// usageEvent handles POST usageEvent.
func (e *Emulator) usageEvent(body []byte) answer {
	var in incoming
	if err := json.Unmarshal(body, &in); err != nil {
		return answer{http.StatusBadRequest, badRequest(targetEvent, metering.ErrorDetail{
			Code: "BadArgument", Target: targetEvent, Message: "The request body is not a valid usage event: " + err.Error()})}
	}

	now := e.now()
	e.mu.Lock()
	o := e.submit(in, now)
	e.mu.Unlock()

	switch o.status {
	case metering.StatusAccepted:
		return answer{http.StatusOK, o.accepted}
	case metering.StatusDuplicate:
		return answer{http.StatusConflict, conflict(o.accepted)}
	case metering.StatusError:
		return answer{http.StatusInternalServerError, &o.problem}
	}
	return answer{http.StatusBadRequest, badRequest(targetEvent, o.problem)}
}

// batchItem is an EventResult as the service writes it in a batch answer,
// where an event not accepted has the zone-less zero messageTime.
type batchItem struct {
	metering.EventResult
	MessageTime any `json:"messageTime"`
}

// batchAnswer is the 200 body of batchUsageEvent.
type batchAnswer struct {
	Count  int         `json:"count"`
	Result []batchItem `json:"result"`
}

// batchUsageEvent handles POST batchUsageEvent. The whole batch is judged
// under one lock, so two events of one key in it are Accepted then
// Duplicate, in order.
func (e *Emulator) batchUsageEvent(body []byte) answer {
	// Items stay raw so that one malformed event fails alone, as BadArgument.
	var req struct {
		Request []json.RawMessage `json:"request"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return answer{http.StatusBadRequest, &metering.ErrorDetail{Code: "BadArgument", Target: targetBatch,
			Message: `The request body must be an object {"request":[usage events]}: ` + err.Error()}}
	}
	switch n := len(req.Request); {
	case n == 0:
		return answer{http.StatusBadRequest, &metering.ErrorDetail{Code: "BadArgument", Target: targetBatch,
			Message: "Batch events request payload must contain at least one usage event."}}
	case n > metering.MaxBatch:
		return answer{http.StatusBadRequest, &metering.ErrorDetail{Code: "BadArgument", Target: targetBatch,
			Message: msgBatchCount}}
	}

	now := e.now()
	out := batchAnswer{Count: len(req.Request), Result: make([]batchItem, 0, len(req.Request))}
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, raw := range req.Request {
		var in incoming
		if err := json.Unmarshal(raw, &in); err != nil {
			detail := metering.ErrorDetail{Code: "BadArgument", Target: fmt.Sprintf("request[%d]", i),
				Message: "The usage event is malformed: " + err.Error()}
			out.Result = append(out.Result, batchItem{
				EventResult: metering.EventResult{Status: metering.StatusBadArgument, Error: badRequest(targetEvent, detail)},
				MessageTime: noMessageTime,
			})
			continue
		}
		out.Result = append(out.Result, itemOf(e.submit(in, now)))
	}
	if e.shuffle {
		e.rng.Shuffle(len(out.Result), func(i, j int) { out.Result[i], out.Result[j] = out.Result[j], out.Result[i] })
	}
	return answer{http.StatusOK, out}
}

// itemOf is the batch item of an outcome: the accepted record, or the event
// as sent with its status and error.
func itemOf(o outcome) batchItem {
	if o.status == metering.StatusAccepted {
		return batchItem{EventResult: o.accepted, MessageTime: o.accepted.MessageTime}
	}
	r := o.event.Echo(o.status)
	if o.status == metering.StatusDuplicate {
		r.Error = conflict(o.accepted)
	} else {
		r.Error = badRequest(targetEvent, o.problem)
	}
	return batchItem{EventResult: r, MessageTime: noMessageTime}
}

// targetOf is the target of request-level errors of an endpoint.
func targetOf(ep Endpoint) string {
	if ep == EndpointBatchUsageEvent {
		return targetBatch
	}
	return targetEvent
}

// readBody checks the content type and reads a body of at most MaxBodyBytes.
// A failure comes back as the answer to give.
func readBody(w http.ResponseWriter, r *http.Request, target string) ([]byte, *answer) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, &answer{http.StatusUnsupportedMediaType, &metering.ErrorDetail{Code: "UnsupportedMediaType", Target: target,
			Message: "The Content-Type must be application/json."}}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
			return nil, &answer{http.StatusRequestEntityTooLarge, &metering.ErrorDetail{Code: "RequestEntityTooLarge", Target: target,
				Message: "The request body is larger than " + strconv.Itoa(MaxBodyBytes) + " bytes."}}
		}
		return nil, &answer{http.StatusBadRequest, badRequest(target, metering.ErrorDetail{Code: "BadArgument", Target: target,
			Message: "The request body could not be read: " + err.Error()})}
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil, &answer{http.StatusBadRequest, badRequest(target, metering.ErrorDetail{Code: "BadArgument", Target: target,
			Message: "The " + target + " is required."})}
	}
	return body, nil
}
