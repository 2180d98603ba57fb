package web

import (
	"net"
	"net/http"
	"sync/atomic"

	"golang.org/x/net/netutil"
)

// LimitConnections bounds what clients can hold open on srv, so that
// memory stays flat whatever they do (each connection costs its goroutine
// and buffers, some 10-20 KB):
//
//   - at most limit connections are open at once; more wait in the kernel's
//     accept queue until one closes (netutil.LimitListener);
//   - at most half of them idle between requests: a connection that goes
//     idle above that is closed, so idle keep-alives can never take the
//     slots new clients need. The client simply opens a new one.
//
// It returns the listener to serve srv on. limit <= 0 sets none.
func LimitConnections(srv *http.Server, ln net.Listener, limit int) net.Listener {
	if limit <= 0 {
		return ln
	}
	idle := &idleConns{max: int64(max(1, limit/2))}
	next := srv.ConnState
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		idle.track(c, st)
		if next != nil {
			next(c, st)
		}
	}
	return idleTracking{netutil.LimitListener(ln, limit)}
}

// idleTracking gives each connection it accepts the flag idleConns keeps.
type idleTracking struct{ net.Listener }

func (l idleTracking) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &trackedConn{Conn: c}, nil
}

// trackedConn is a connection that knows whether idleConns counts it.
type trackedConn struct {
	net.Conn
	idle bool // set and read only by its ConnState calls, which come in turn
}

// idleConns counts the connections waiting for their next request. Every
// request changes its connection's state twice: a count and a flag of the
// connection's own keep that free of locks and maps.
type idleConns struct {
	max int64
	n   atomic.Int64
}

func (ic *idleConns) track(c net.Conn, st http.ConnState) {
	tc, ok := c.(*trackedConn)
	if !ok { // not from idleTracking: nothing to count
		return
	}
	if st != http.StateIdle {
		if tc.idle {
			tc.idle = false
			ic.n.Add(-1)
		}
		return
	}
	if ic.n.Add(1) > ic.max {
		ic.n.Add(-1)
		// The server's next read fails and it ends the connection, which
		// frees its slot in the listener.
		_ = c.Close()
		return
	}
	tc.idle = true
}
