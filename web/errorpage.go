package web

import (
	"bytes"
	"net/http"
	"strings"
)

// errorPageData is what templates/error.html renders.
type errorPageData struct {
	Page
	Status     int
	StatusText string
	Message    string
}

// writeErrorBody writes e's status and message: a page in the app's look,
// with a way back, for a browser; plain text for scripts and the API.
func (s *Server) writeErrorBody(w http.ResponseWriter, r *http.Request, e *Error) {
	if wantsPage(r) {
		buf := s.bufs.Get().(*bytes.Buffer)
		defer func() { buf.Reset(); s.bufs.Put(buf) }()
		err := s.pages.ExecuteTemplate(buf, "error.html", errorPageData{
			Page: s.opts.Page, Status: e.Status, StatusText: http.StatusText(e.Status), Message: e.Message,
		})
		if err == nil {
			h := w.Header()
			for k, v := range s.pageHeaders {
				h[k] = v
			}
			w.WriteHeader(e.Status)
			_, _ = w.Write(buf.Bytes())
			return
		}
		s.log.Error("error page", "err", err)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status)
	_, _ = w.Write([]byte(e.Message + "\n"))
}

// wantsPage reports whether the client reads HTML: a browser, outside the
// API.
func wantsPage(r *http.Request) bool {
	return !strings.HasPrefix(r.URL.Path, "/api/") && strings.Contains(r.Header.Get("Accept"), "text/html")
}

// notFound answers a path no route has.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, &Error{Status: http.StatusNotFound, Message: "There is no page here."})
}
