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
	writePage(w, buf.Bytes())
}

// writePage sends an HTML page with the headers every page carries.
func writePage(w http.ResponseWriter, page []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	_, _ = w.Write(page)
}

// renderIndex writes the vote page with its counts, from the pre-rendered
// parts when there are some.
func (s *Server) renderIndex(w http.ResponseWriter, r *http.Request, counts map[string]int64) {
	p := s.opts.Page
	if s.votePage == nil {
		s.render(w, r, "index.html", indexData{Page: p, Count1: counts[p.Vote1], Count2: counts[p.Vote2]})
		return
	}
	buf := s.bufs.Get().(*bytes.Buffer)
	defer func() { buf.Reset(); s.bufs.Put(buf) }()
	page := s.votePage.appendTo(buf.AvailableBuffer(), counts[p.Vote1], counts[p.Vote2])
	writePage(w, page)
}
