package web

import "net/http"

// securityHeaders sets, on every answer (pages, static files, JSON,
// metrics, probes, errors, and the cross-origin refusal), the headers that
// do not depend on what is served: no MIME sniffing, and no Referer sent
// from our pages to anyone.
func securityHeaders(next http.Handler) http.Handler {
	// Shared, not copied per request: net/http only reads header values.
	nosniff, noReferrer := []string{"nosniff"}, []string{"no-referrer"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["X-Content-Type-Options"] = nosniff
		h["Referrer-Policy"] = noReferrer
		next.ServeHTTP(w, r)
	})
}
