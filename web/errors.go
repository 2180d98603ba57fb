package web

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5/middleware"
)

// Error is an answer for the client: a status and a message meant for a
// person. Every failure a handler meets is turned into one in one place,
// writeError, so no stack or internal error text reaches a browser.
type Error struct {
	Status  int
	Message string
	Err     error // the cause, logged, never shown
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

func badRequest(msg string) *Error { return &Error{Status: http.StatusBadRequest, Message: msg} }

// unavailable is the answer when the store failed.
func unavailable(what string, err error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Message: what, Err: err}
}

// unconfirmedVote is the answer when the store failed during a vote. The
// store may have applied it all the same (a timeout says nothing of what
// the server did), so the answer never says it was not counted; with a
// token, sending it again is safe.
func unconfirmedVote(token string, err error) *Error {
	if token != "" {
		return unavailable("We could not confirm your vote: the vote store did not answer. Sending it again is safe: it is counted at most once.", err)
	}
	return unavailable("We could not confirm your vote: the vote store did not answer. It may still be counted: sent again, it may count twice.", err)
}

// writeError answers err as plain text and logs the cause of server-side failures.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Status: http.StatusInternalServerError, Message: "internal error", Err: err}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		e = &Error{Status: http.StatusRequestEntityTooLarge, Message: "request body too large"}
	}
	if e.Status >= 500 {
		s.log.Error(e.Message, "err", e.Err, "request_id", middleware.GetReqID(r.Context()))
		w.Header().Set("Retry-After", "2")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status)
	_, _ = w.Write([]byte(e.Message + "\n"))
}
