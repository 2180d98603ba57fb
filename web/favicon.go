package web

import (
	"io/fs"
	"net/http"
)

// favicon serves the icon browsers ask for by themselves at /favicon.ico.
func (s *Server) favicon(w http.ResponseWriter, r *http.Request) {
	icon, err := fs.ReadFile(s.opts.Assets, "static/favicon.ico")
	if err != nil {
		s.notFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "image/x-icon")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write(icon)
}
