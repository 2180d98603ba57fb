package web

import (
	"context"
	"net/http"
	"time"
)

// healthz is liveness: the process answers. It never looks at the store, so
// a Redis outage does not get healthy pods restarted.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz is readiness: the store answers a ping, so traffic goes only to
// pods that can count votes; and not while draining (see Drain).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		s.writeError(w, r, unavailable("shutting down", nil))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if err := s.opts.Store.Ping(ctx); err != nil {
		s.writeError(w, r, unavailable("store not reachable", err))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}
