package web

import (
	"net"
	"net/http"
	"sync"

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
	idle := &idleConns{max: max(1, limit/2), conns: make(map[net.Conn]struct{})}
	next := srv.ConnState
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		idle.track(c, st)
		if next != nil {
			next(c, st)
		}
	}
	return netutil.LimitListener(ln, limit)
}

// idleConns are the connections waiting for their next request.
type idleConns struct {
	max   int
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (ic *idleConns) track(c net.Conn, st http.ConnState) {
	ic.mu.Lock()
	if st != http.StateIdle {
		delete(ic.conns, c)
		ic.mu.Unlock()
		return
	}
	full := len(ic.conns) >= ic.max
	if !full {
		ic.conns[c] = struct{}{}
	}
	ic.mu.Unlock()
	if full {
		// The server's next read fails and it ends the connection, which
		// frees its slot in the listener.
		_ = c.Close()
	}
}
