package web

import (
	"net/http"
	"net/url"
)

// readForm reads a posted form of at most maxFormBytes into r.PostForm
// (and the query into r.Form). Whatever cannot be read is a requestError;
// a field given twice is refused, as nothing says which of the two the
// sender meant, and the first one would silently win.
func readForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return requestError{err}
	}
	repeated, found := "", false
	for name, vs := range r.PostForm {
		if len(vs) > 1 && (!found || name < repeated) {
			repeated, found = name, true
		}
	}
	if found {
		return badRequest("form field " + quote(repeated) + " is given more than once")
	}
	return nil
}

// checkQuery refuses a request whose query string does not parse (a bad
// escape, a semicolon), on every route: handlers that read the query would
// otherwise silently drop the bad part and answer something else.
func (s *Server) checkQuery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "" {
			if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
				s.writeError(w, r, requestError{err})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
