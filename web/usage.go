package web

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/azure-vote/azure-vote/metering"
)

// UsageSource is the metering side as the usage page needs it.
type UsageSource interface {
	Usage(ctx context.Context, since time.Time) (Usage, error)
}

// Usage is what /usage shows and /api/usage returns.
type Usage struct {
	Mode      string `json:"mode"`   // local, azure or paused
	Detail    string `json:"detail"` // the resource and plan, or why reporting waits
	Dimension string `json:"dimension"`
	// Hours are the ledger, newest first.
	Hours      []metering.Record `json:"hours"`
	LastReport time.Time         `json:"lastReport,omitzero"`
}

func (s *Server) loadUsage(w http.ResponseWriter, r *http.Request) (Usage, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.StoreTimeout)
	defer cancel()
	u, err := s.opts.Usage.Usage(ctx, s.opts.Now().Add(-24*time.Hour))
	if err != nil {
		s.writeError(w, r, unavailable("The usage ledger is unavailable; try again in a moment.", err))
		return Usage{}, false
	}
	return u, true
}

func (s *Server) usagePage(w http.ResponseWriter, r *http.Request) {
	u, ok := s.loadUsage(w, r)
	if !ok {
		return
	}
	s.render(w, r, "usage.html", struct {
		Page
		Usage
	}{s.opts.Page, u})
}

func (s *Server) usageJSON(w http.ResponseWriter, r *http.Request) {
	u, ok := s.loadUsage(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(u)
}
