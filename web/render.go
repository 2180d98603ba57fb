package web

import (
	"bytes"
	"net/http"
)

func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, data any) {
	buf := s.bufs.Get().(*bytes.Buffer)
	defer func() { buf.Reset(); s.bufs.Put(buf) }()
	if err := s.pages.ExecuteTemplate(buf, name, data); err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	_, _ = w.Write(buf.Bytes())
}
