package metering

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// APIVersion is the only version of the Metering Service API.
const APIVersion = "2018-08-31"

// Scope is the OAuth2 scope of the Metering Service API (v2 form of the
// audience 20e940b3-4c77-4b0b-9a53-9e16a1b010a7).
const Scope = "20e940b3-4c77-4b0b-9a53-9e16a1b010a7/.default"

// DefaultEndpoint is the production base URL.
const DefaultEndpoint = "https://marketplaceapi.microsoft.com/api"

// MaxBatch is the most events one batchUsageEvent call accepts.
const MaxBatch = 25

// Window is how far back an event's effectiveStartTime may lie.
const Window = 24 * time.Hour

// Status is the outcome the service gives one usage event.
type Status string

// The statuses of the API. A single usageEvent only ever answers Accepted (200)
// or Duplicate (in a 409 body); a batch answers any of them per event.
const (
	StatusAccepted              Status = "Accepted"
	StatusExpired               Status = "Expired"
	StatusDuplicate             Status = "Duplicate"
	StatusError                 Status = "Error"
	StatusResourceNotFound      Status = "ResourceNotFound"
	StatusResourceNotAuthorized Status = "ResourceNotAuthorized"
	StatusResourceNotActive     Status = "ResourceNotActive"
	StatusInvalidDimension      Status = "InvalidDimension"
	StatusInvalidQuantity       Status = "InvalidQuantity"
	StatusBadArgument           Status = "BadArgument"
)

// Time is a UTC instant as the API writes it. The service is loose about the
// form (with or without "Z", with 0 to 7 fractional digits, and
// "0001-01-01T00:00:00" for "none"), so decoding accepts all of them and
// encoding always writes RFC 3339 in UTC.
type Time struct{ time.Time }

// layouts the service has been seen to write; the first is what we send.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.9999999", "2006-01-02"}

// ParseTime reads a time in any form the API uses; a zone-less time is UTC.
func ParseTime(s string) (time.Time, error) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("metering: %q is not an ISO 8601 time", s)
}

// MarshalJSON writes the time in RFC 3339, UTC, whole seconds when it has no fraction.
func (t Time) MarshalJSON() ([]byte, error) {
	return json.Marshal(t.UTC().Format(time.RFC3339Nano))
}

// UnmarshalJSON reads any of the forms the API writes.
func (t *Time) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("metering: time: %w", err)
	}
	p, err := ParseTime(s)
	if err != nil {
		return err
	}
	t.Time = p
	return nil
}

// UsageEvent is one hour of one dimension's usage of one resource.
// Exactly one of ResourceID (a GUID: SaaS, managed app resourceUsageId) and
// ResourceURI (an ARM id: Kubernetes app extension, managed resource group)
// is set; NewUsageEvent picks the right one.
type UsageEvent struct {
	ResourceID         string  `json:"resourceId,omitempty"`
	ResourceURI        string  `json:"resourceUri,omitempty"`
	Quantity           float64 `json:"quantity"`
	Dimension          string  `json:"dimension"`
	EffectiveStartTime Time    `json:"effectiveStartTime"`
	PlanID             string  `json:"planId"`
}

// Resource is the id or URI the event is for, whichever is set.
func (e UsageEvent) Resource() string {
	if e.ResourceURI != "" {
		return e.ResourceURI
	}
	return e.ResourceID
}

// IsResourceURI reports whether a configured resource is an ARM path, sent as
// resourceUri, rather than a GUID, sent as resourceId.
func IsResourceURI(resource string) bool {
	return strings.HasPrefix(strings.ToLower(resource), "/subscriptions/")
}

// NewUsageEvent builds the event for an hour, putting resource in resourceUri
// or resourceId by its form and truncating the hour to its start in UTC.
func NewUsageEvent(resource, planID, dimension string, hour time.Time, quantity float64) UsageEvent {
	e := UsageEvent{
		Quantity:           quantity,
		Dimension:          dimension,
		EffectiveStartTime: Time{HourOf(hour)},
		PlanID:             planID,
	}
	if IsResourceURI(resource) {
		e.ResourceURI = resource
	} else {
		e.ResourceID = resource
	}
	return e
}

// Echo is the service's record of e with status st, as it answers an event
// without adding its own fields (id, message time).
func (e UsageEvent) Echo(st Status) EventResult {
	return EventResult{
		Status:             st,
		ResourceID:         e.ResourceID,
		ResourceURI:        e.ResourceURI,
		Quantity:           e.Quantity,
		Dimension:          e.Dimension,
		EffectiveStartTime: e.EffectiveStartTime,
		PlanID:             e.PlanID,
	}
}

// HourOf is the start, in UTC, of the calendar hour holding t: the key the
// service bills by.
func HourOf(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }

// DayOf is the UTC midnight starting t's day: the unit in which GET
// usageEvents reports.
func DayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// SubscriptionOf is the Azure subscription id of an ARM resource path
// (/subscriptions/<id>/...), or "" if resource is not one.
func SubscriptionOf(resource string) string {
	if !IsResourceURI(resource) {
		return ""
	}
	id, _, _ := strings.Cut(resource[len("/subscriptions/"):], "/")
	return id
}

// EventResult is the service's record of one event: the 200 body of
// usageEvent, an item of a batch answer, or the acceptedMessage of a duplicate.
type EventResult struct {
	UsageEventID       string       `json:"usageEventId,omitempty"`
	Status             Status       `json:"status"`
	MessageTime        Time         `json:"messageTime"`
	ResourceID         string       `json:"resourceId,omitempty"`
	ResourceURI        string       `json:"resourceUri,omitempty"`
	Quantity           float64      `json:"quantity"`
	Dimension          string       `json:"dimension"`
	EffectiveStartTime Time         `json:"effectiveStartTime"`
	PlanID             string       `json:"planId"`
	Error              *ErrorDetail `json:"error,omitempty"`
	// Unanswered counts tries of the call before the one this answers that
	// got no definitive answer (set by Client.SendUsageEvent, never sent):
	// this result speaks only for its own try, and any of those may have
	// been recorded.
	Unanswered int `json:"-"`
}

// Accepted is the event the service has billed for this result's key, and
// whether there is one: the result itself when Accepted, the acceptedMessage
// when Duplicate.
func (r EventResult) Accepted() (EventResult, bool) {
	switch r.Status {
	case StatusAccepted:
		return r, true
	case StatusDuplicate:
		if r.Error != nil && r.Error.AdditionalInfo != nil && r.Error.AdditionalInfo.AcceptedMessage != nil {
			return *r.Error.AdditionalInfo.AcceptedMessage, true
		}
	}
	return EventResult{}, false
}

// ErrorDetail is the API's error object: the body of a 400, 403 or 409, the
// error of a batch item, and each of their details.
type ErrorDetail struct {
	Code           string          `json:"code"`
	Message        string          `json:"message"`
	Target         string          `json:"target,omitempty"`
	Details        []ErrorDetail   `json:"details,omitempty"`
	AdditionalInfo *AdditionalInfo `json:"additionalInfo,omitempty"`
}

// AdditionalInfo carries, for a duplicate, the event that was accepted first.
type AdditionalInfo struct {
	AcceptedMessage *EventResult `json:"acceptedMessage,omitempty"`
}

// BatchRequest is the body of batchUsageEvent.
type BatchRequest struct {
	Request []UsageEvent `json:"request"`
}

// BatchResult is the 200 body of batchUsageEvent: a result per event, in no
// documented order.
type BatchResult struct {
	Count  int           `json:"count"`
	Result []EventResult `json:"result"`
	// Unanswered is EventResult.Unanswered for the whole batch.
	Unanswered int `json:"-"`
}

// ReconStatus is the service's reconciliation state of recorded usage.
type ReconStatus string

// Values of reconStatus.
const (
	ReconSubmitted ReconStatus = "Submitted"
	ReconAccepted  ReconStatus = "Accepted"
	ReconRejected  ReconStatus = "Rejected"
	ReconMismatch  ReconStatus = "Mismatch"
)

// UsageRecord is one row of GET usageEvents: what the service recorded for a
// resource, dimension and date.
type UsageRecord struct {
	UsageDate           Time        `json:"usageDate"`
	UsageResourceID     string      `json:"usageResourceId"`
	Dimension           string      `json:"dimension"`
	PlanID              string      `json:"planId"`
	PlanName            string      `json:"planName"`
	OfferID             string      `json:"offerId"`
	OfferName           string      `json:"offerName"`
	OfferType           string      `json:"offerType"`
	AzureSubscriptionID string      `json:"azureSubscriptionId"`
	ReconStatus         ReconStatus `json:"reconStatus"`
	SubmittedQuantity   float64     `json:"submittedQuantity"`
	ProcessedQuantity   float64     `json:"processedQuantity"`
	SubmittedCount      int         `json:"submittedCount"`
}

// UsageQuery holds the query parameters of GET usageEvents. Start is required.
type UsageQuery struct {
	Start               time.Time   // usageStartDate
	End                 time.Time   // UsageEndDate; zero means today
	OfferID             string      // offerId
	PlanID              string      // planId
	Dimension           string      // dimension
	AzureSubscriptionID string      // azureSubscriptionId
	ReconStatus         ReconStatus // reconStatus
}

// Header names the service reads and echoes.
const (
	HeaderRequestID     = "x-ms-requestid"
	HeaderCorrelationID = "x-ms-correlationid"
)
