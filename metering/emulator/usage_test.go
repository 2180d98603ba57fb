package emulator_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/emulator"
)

func TestUsageEvents(t *testing.T) {
	e := newEnv(t, strictOptions())
	for _, ev := range []map[string]any{
		event("effectiveStartTime", "2026-11-21T11:00:00Z", "quantity", 2),
		event("effectiveStartTime", "2026-11-21T23:00:00Z", "quantity", 3),
		event("effectiveStartTime", "2026-11-22T09:00:00Z", "quantity", 4),
		event("effectiveStartTime", "2026-11-22T10:00:00Z", "quantity", 1),
		event("effectiveStartTime", "2026-11-22T08:00:00Z", "quantity", 7, "planId", "premium", "resourceUri", absent{}, "resourceId", resourceID),
		event("effectiveStartTime", "2026-11-22T09:00:00Z", "quantity", 1.5, "dimension", "perhour"),
	} {
		wantStatus(t, e.post(t, "usageEvent", ev), http.StatusOK)
	}
	// A duplicate adds nothing.
	wantStatus(t, e.post(t, "usageEvent", event("quantity", 100)), http.StatusConflict)

	day21 := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	day22 := day21.AddDate(0, 0, 1)
	type row struct {
		day                       time.Time
		resource, dimension, plan string
		quantity                  float64
		count                     int
	}
	uriVote21 := row{day21, resourceURI, "pervote", "basic", 5, 2}
	uriHour22 := row{day22, resourceURI, "perhour", "basic", 1.5, 1}
	uriVote22 := row{day22, resourceURI, "pervote", "basic", 5, 2}
	idVote22 := row{day22, resourceID, "pervote", "premium", 7, 1}

	cases := []struct {
		name, query string
		want        []row
	}{
		{"from the first day, to today by default", "usageStartDate=2026-11-21", []row{uriVote21, uriHour22, uriVote22, idVote22}},
		{"date-time start", "usageStartDate=2026-11-21T15:00:00Z", []row{uriVote21, uriHour22, uriVote22, idVote22}},
		{"today only", "usageStartDate=2026-11-22", []row{uriHour22, uriVote22, idVote22}},
		{"end date", "usageStartDate=2026-11-21&UsageEndDate=2026-11-21", []row{uriVote21}},
		{"parameter names in any case", "usagestartdate=2026-11-21&usageenddate=2026-11-21", []row{uriVote21}},
		{"later days", "usageStartDate=2026-11-23&UsageEndDate=2026-11-30", nil},
		{"plan", "usageStartDate=2026-11-21&planId=premium", []row{idVote22}},
		{"dimension", "usageStartDate=2026-11-21&dimension=perhour", []row{uriHour22}},
		{"subscription", "usageStartDate=2026-11-21&azureSubscriptionId=" + subscription, []row{uriVote21, uriHour22, uriVote22}},
		{"other subscription", "usageStartDate=2026-11-21&azureSubscriptionId=00000000-0000-0000-0000-000000000000", nil},
		{"offer", "usageStartDate=2026-11-22&offerId=azure-vote-emulator", []row{uriHour22, uriVote22, idVote22}},
		{"other offer", "usageStartDate=2026-11-22&offerId=contoso", nil},
		{"recon status accepted", "usageStartDate=2026-11-22&reconStatus=Accepted", []row{uriHour22, uriVote22, idVote22}},
		{"recon status rejected", "usageStartDate=2026-11-22&reconStatus=Rejected", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, http.MethodGet, "/usageEvents?api-version="+metering.APIVersion+"&"+tc.query, "")
			wantStatus(t, r, http.StatusOK)
			got := decode[[]metering.UsageRecord](t, r)
			if got == nil {
				t.Fatalf("body %s, want a JSON array", r.body)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d rows, want %d: %s", len(got), len(tc.want), r.body)
			}
			for i, w := range tc.want {
				g := got[i]
				if !g.UsageDate.Equal(w.day) || g.UsageResourceID != w.resource || g.Dimension != w.dimension ||
					g.PlanID != w.plan || g.PlanName != w.plan || g.SubmittedQuantity != w.quantity ||
					g.ProcessedQuantity != w.quantity || g.SubmittedCount != w.count ||
					g.ReconStatus != metering.ReconAccepted || g.OfferID != emulator.DefaultOfferID || g.OfferName != emulator.DefaultOfferID {
					t.Errorf("row %d = %+v, want %+v", i, g, w)
				}
				wantSub := ""
				if w.resource == resourceURI {
					wantSub = subscription
				}
				if g.AzureSubscriptionID != wantSub {
					t.Errorf("row %d azureSubscriptionId = %q, want %q", i, g.AzureSubscriptionID, wantSub)
				}
			}
		})
	}
}

func TestUsageEventsRefused(t *testing.T) {
	cases := []struct{ name, query, target string }{
		{"no start", "", "usageStartDate"},
		{"bad start", "usageStartDate=yesterday", "usageStartDate"},
		{"bad end", "usageStartDate=2026-11-21&UsageEndDate=soon", "UsageEndDate"},
		{"end before start", "usageStartDate=2026-11-21&UsageEndDate=2026-11-20", "UsageEndDate"},
		{"unknown recon status", "usageStartDate=2026-11-21&reconStatus=Maybe", "reconStatus"},
	}
	e := newEnv(t, emulator.Options{OfferID: "contoso"})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, http.MethodGet, "/usageEvents?api-version="+metering.APIVersion+"&"+tc.query, "")
			wantBadRequest(t, r, "usageEventsRequest", tc.target, tc.target)
		})
	}
}

func TestUsageEventsOfferID(t *testing.T) {
	e := newEnv(t, emulator.Options{OfferID: "contoso"})
	wantStatus(t, e.post(t, "usageEvent", event()), http.StatusOK)
	r := e.do(t, http.MethodGet, "/usageEvents?api-version="+metering.APIVersion+"&usageStartDate=2026-11-22&offerId=contoso", "")
	wantStatus(t, r, http.StatusOK)
	if got := decode[[]metering.UsageRecord](t, r); len(got) != 1 || got[0].OfferID != "contoso" || got[0].OfferType != "AzureApplication" {
		t.Errorf("rows = %s", r.body)
	}
}
