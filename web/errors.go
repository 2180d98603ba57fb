package web

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
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

// requestError is a request that could not be read: a malformed query or
// form, a body too large, too slow or cut short. It is always the client's
// doing, so it is answered 4xx and never logged as a server failure.
type requestError struct{ err error }

func (e requestError) Error() string { return "reading the request: " + e.err.Error() }
func (e requestError) Unwrap() error { return e.err }

// answer maps err to what the client is told. It is the one place where a
// failure becomes an HTTP status.
func answer(err error) *Error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &Error{Status: http.StatusRequestEntityTooLarge, Message: "request body too large", Err: err}
	}
	var re requestError
	if errors.As(err, &re) {
		var ne net.Error
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
			return &Error{Status: http.StatusRequestTimeout, Message: "request body not received in time", Err: err}
		case errors.Is(err, context.Canceled):
			// The client went away; the status is for the log only.
			return &Error{Status: http.StatusBadRequest, Message: "request cancelled", Err: err}
		}
		// url.ParseQuery's messages name the bad part ("invalid URL
		// escape \"%zz\"", "invalid semicolon separator in query"),
		// which is what the sender needs to fix it.
		return &Error{Status: http.StatusBadRequest, Message: "malformed request: " + re.err.Error(), Err: err}
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Status: http.StatusInternalServerError, Message: "internal error", Err: err}
}

// writeError answers err as plain text. Client errors are not logged here:
// the request line (at info) already records them, so a flood of bad
// requests cannot page anyone. A store outage is logged once by the
// store's watch, not once per request; other server failures are bugs and
// are logged as errors.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := answer(err)
	if e.Status >= 500 {
		level := slog.LevelError
		if e.Status == http.StatusServiceUnavailable {
			level = slog.LevelDebug
		}
		s.log.Log(r.Context(), level, e.Message, "err", e.Err, "request_id", requestID(w))
		w.Header().Set("Retry-After", "2")
	}
	if e.Status == http.StatusRequestTimeout || e.Status == http.StatusRequestEntityTooLarge {
		// The rest of the body is not worth reading: end the connection.
		w.Header().Set("Connection", "close")
	}
	s.writeErrorBody(w, r, e)
}
