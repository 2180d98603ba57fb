package web

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// unusedGrace is how long a connection that has sent no request is given
// once Stop begins, before Stop closes it.
const unusedGrace = 500 * time.Millisecond

// Serving is srv serving on a listener in the background, until Stop.
type Serving struct {
	srv  *http.Server
	ln   net.Listener
	done chan error

	mu     sync.Mutex
	unused map[net.Conn]time.Time // connections without a request yet, by when they opened
	// nUnused is len(unused): while it is 0, as it mostly is under load,
	// a request's state changes skip the lock.
	nUnused atomic.Int64
}

// Serve starts srv on ln in the background.
func Serve(srv *http.Server, ln net.Listener) *Serving {
	s := &Serving{srv: srv, ln: ln, done: make(chan error, 1), unused: make(map[net.Conn]time.Time)}
	next := srv.ConnState
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew || s.nUnused.Load() > 0 {
			s.mu.Lock()
			if st == http.StateNew {
				s.unused[c] = time.Now()
			} else {
				delete(s.unused, c)
			}
			s.nUnused.Store(int64(len(s.unused)))
			s.mu.Unlock()
		}
		if next != nil {
			next(c, st)
		}
	}
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
//
// net/http's Shutdown waits 5 seconds for a connection that never sent a
// request (a client's spare from a dial race, a browser's preconnect);
// Stop closes those once they have stayed unused for unusedGrace, so that
// a stop takes as long as its requests, not 5 seconds more.
func (s *Serving) Stop(ctx context.Context) error {
	shut := make(chan error, 1)
	go func() { shut <- s.srv.Shutdown(ctx) }()
	tick := time.NewTicker(unusedGrace / 5)
	defer tick.Stop()
	var err error
	for waiting := true; waiting; {
		select {
		case err = <-shut:
			waiting = false
		case <-tick.C:
			s.closeUnused(time.Now().Add(-unusedGrace))
		}
	}
	if serr := <-s.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// closeUnused closes the connections without a request opened before t.
func (s *Serving) closeUnused(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c, opened := range s.unused {
		if opened.Before(t) {
			_ = c.Close()
			delete(s.unused, c)
		}
	}
	s.nUnused.Store(int64(len(s.unused)))
}
