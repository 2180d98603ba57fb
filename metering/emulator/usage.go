package emulator

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/azure-vote/azure-vote/metering"
)

// reconStatuses are the values GET usageEvents accepts for reconStatus.
const reconStatuses = "Submitted, Accepted, Rejected, Mismatch, TestHeaders, DryRun"

// usageKey groups accepted events into the rows of GET usageEvents.
type usageKey struct {
	day       int64 // Unix seconds of the UTC midnight
	resource  string
	dimension string
	plan      string
}

// usageEvents handles GET usageEvents: the accepted events aggregated per
// day, resource, dimension and plan. A row is reconStatus Accepted once all
// its events are processed (Options.ProcessingDelay after acceptance), and
// Submitted until then, its processedQuantity counting only processed ones.
func (e *Emulator) usageEvents(r *http.Request) answer {
	q := r.URL.Query()
	invalid := func(target, msg string) answer {
		return answer{http.StatusBadRequest, badRequest("usageEventsRequest",
			metering.ErrorDetail{Code: "BadArgument", Target: target, Message: msg})}
	}

	startRaw := param(q, "usageStartDate")
	if startRaw == "" {
		return invalid("usageStartDate", "The usageStartDate is required.")
	}
	start, err := metering.ParseTime(startRaw)
	if err != nil {
		return invalid("usageStartDate", "The usageStartDate is not an ISO 8601 date or date-time.")
	}
	end := e.now()
	if endRaw := param(q, "UsageEndDate"); endRaw != "" {
		if end, err = metering.ParseTime(endRaw); err != nil {
			return invalid("UsageEndDate", "The UsageEndDate is not an ISO 8601 date or date-time.")
		}
	}
	first, last := metering.DayOf(start), metering.DayOf(end)
	if last.Before(first) {
		return invalid("UsageEndDate", "The UsageEndDate is before the usageStartDate.")
	}
	recon := param(q, "reconStatus")
	if recon != "" && !slices.ContainsFunc(strings.Split(reconStatuses, ", "), func(s string) bool { return strings.EqualFold(s, recon) }) {
		return invalid("reconStatus", "The reconStatus must be one of "+reconStatuses+".")
	}
	offer, plan, dimension, subscription := param(q, "offerId"), param(q, "planId"), param(q, "dimension"), param(q, "azureSubscriptionId")
	if offer != "" && !strings.EqualFold(offer, e.offerID) {
		return answer{http.StatusOK, []metering.UsageRecord{}}
	}
	now := e.now()

	e.mu.Lock()
	defer e.mu.Unlock()
	rows := map[usageKey]*metering.UsageRecord{}
	for _, ev := range e.events {
		day := metering.DayOf(ev.EffectiveStartTime.Time)
		sub := metering.SubscriptionOf(ev.ResourceURI)
		if day.Before(first) || day.After(last) ||
			(plan != "" && ev.PlanID != plan) ||
			(dimension != "" && ev.Dimension != dimension) ||
			(subscription != "" && !strings.EqualFold(sub, subscription)) {
			continue
		}
		resource := cmp.Or(ev.ResourceURI, ev.ResourceID)
		k := usageKey{day: day.Unix(), resource: strings.ToLower(resource), dimension: ev.Dimension, plan: ev.PlanID}
		row := rows[k]
		if row == nil {
			row = &metering.UsageRecord{
				UsageDate:           metering.Time{Time: day},
				UsageResourceID:     resource,
				Dimension:           ev.Dimension,
				PlanID:              ev.PlanID,
				PlanName:            ev.PlanID,
				OfferID:             e.offerID,
				OfferName:           e.offerID,
				OfferType:           offerType(ev),
				AzureSubscriptionID: sub,
				ReconStatus:         metering.ReconAccepted,
			}
			rows[k] = row
		}
		row.SubmittedQuantity += ev.Quantity
		row.SubmittedCount++
		if now.Sub(ev.MessageTime.Time) >= e.processingDelay {
			row.ProcessedQuantity += ev.Quantity
		} else {
			row.ReconStatus = metering.ReconSubmitted
		}
	}

	out := make([]metering.UsageRecord, 0, len(rows))
	for _, row := range rows {
		if recon == "" || strings.EqualFold(recon, string(row.ReconStatus)) {
			out = append(out, *row)
		}
	}
	slices.SortFunc(out, func(a, b metering.UsageRecord) int {
		return cmp.Or(a.UsageDate.Compare(b.UsageDate.Time),
			strings.Compare(a.UsageResourceID, b.UsageResourceID),
			strings.Compare(a.Dimension, b.Dimension),
			strings.Compare(a.PlanID, b.PlanID))
	})
	return answer{http.StatusOK, out}
}

// param reads a query parameter by name, ignoring case as the service does
// (its own documents spell usageStartDate and UsageEndDate differently).
func param(q url.Values, name string) string {
	if v := q.Get(name); v != "" {
		return v
	}
	for k, v := range q {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// offerType guesses the offer's type from the resource's form: SaaS bills a
// subscription id, Azure Applications (managed and Kubernetes apps) an ARM id.
func offerType(ev metering.EventResult) string {
	if ev.ResourceURI != "" {
		return "AzureApplication"
	}
	return "SaaS"
}
