package web

import (
	"bytes"
	"net/http"
	"time"
)

func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, data any) {
	buf := s.bufs.Get().(*bytes.Buffer)
	defer func() { buf.Reset(); s.bufs.Put(buf) }()
	if err := s.pages.ExecuteTemplate(buf, name, data); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writePage(w, buf.Bytes())
}

// pageHeaders are the headers every HTML page carries, besides those of
// securityHeaders.
func pageHeaders() http.Header {
	return http.Header{
		"Content-Type":            {"text/html; charset=utf-8"},
		"Cache-Control":           {"no-store"},
		"Content-Security-Policy": {"default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"},
	}
}

// writePage sends an HTML page. The header values are shared, not copied:
// net/http only reads them, and a later Set replaces a slice, never edits it.
func (s *Server) writePage(w http.ResponseWriter, page []byte) {
	h := w.Header()
	for k, v := range s.pageHeaders {
		h[k] = v
	}
	_, _ = w.Write(page)
}

// renderIndex writes the vote page with its counts and a fresh vote token,
// from the pre-rendered parts when there are some. A vote's page (votedAt
// set) also says which hour's usage the vote was counted in.
func (s *Server) renderIndex(w http.ResponseWriter, r *http.Request, counts map[string]int64, votedAt time.Time) {
	p := s.opts.Page
	token := newVoteToken()
	if s.votePage == nil {
		var note string
		if !votedAt.IsZero() {
			note = voteHour(votedAt)
		}
		s.render(w, r, "index.html", indexData{Page: p, Count1: counts[p.Vote1], Count2: counts[p.Vote2], Token: token, Note: note})
		return
	}
	b := s.pageBufs.Get().(*[]byte)
	page := s.votePage.appendTo((*b)[:0], token, counts[p.Vote1], counts[p.Vote2], votedAt)
	s.writePage(w, page)
	*b = page // keeps the grown buffer for the next page
	s.pageBufs.Put(b)
}
