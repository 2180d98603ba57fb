package web

import (
	"context"
	"errors"
	"net"
	"net/http"
)

// Serving is srv serving on a listener in the background, until Stop.
type Serving struct {
	srv  *http.Server
	ln   net.Listener
	done chan error
}

// Serve starts srv on ln in the background.
func Serve(srv *http.Server, ln net.Listener) *Serving {
	s := &Serving{srv: srv, ln: ln, done: make(chan error, 1)}
	go func() { s.done <- srv.Serve(ln) }()
	return s
}

// Addr is the address served on.
func (s *Serving) Addr() net.Addr { return s.ln.Addr() }

// Handler is the handler served.
func (s *Serving) Handler() http.Handler { return s.srv.Handler }

// Failed delivers the error that ended serving early, if it ends before Stop.
func (s *Serving) Failed() <-chan error { return s.done }

// Stop closes the listener, lets in-flight requests finish until ctx ends,
// and waits for serving to end. A clean stop returns nil.
func (s *Serving) Stop(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
