package web

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// serveLimited serves the app with at most limit connections.
func serveLimited(t *testing.T, limit int) string {
	t.Helper()
	s, err := NewServer(Options{Page: defaultPage, Store: boltStore(t), Assets: os.DirFS("..")})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewHTTPServer("", s.Handler())
	go func() { _ = srv.Serve(LimitConnections(srv, ln, limit)) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// keepAlive is a client connection that has had one answer and stays open.
func keepAlive(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := bufio.NewReader(c)
	if code := ask(t, c, r); code != 200 {
		t.Fatalf("GET /healthz = %d", code)
	}
	return c, r
}

func ask(t *testing.T, c net.Conn, r *bufio.Reader) int {
	t.Helper()
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// closedByServer reports whether the server ended c: a read ends in EOF
// rather than waiting.
func closedByServer(c net.Conn, r *bufio.Reader, wait time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, err := r.ReadByte()
	return errors.Is(err, io.EOF)
}

// Idle keep-alives may hold at most half the connections: one more going
// idle is closed, the others stay usable. Which one is closed depends on
// the order the server sees them go idle, which a client cannot see.
func TestIdleKeepAlivesAreBounded(t *testing.T) {
	addr := serveLimited(t, 4)
	type conn struct {
		c net.Conn
		r *bufio.Reader
	}
	var conns []conn
	for range 3 {
		c, r := keepAlive(t, addr)
		conns = append(conns, conn{c, r})
	}
	var open []conn
	deadline := time.Now().Add(5 * time.Second)
	for len(open) == 0 || len(open) == 3 {
		open = open[:0]
		for _, k := range conns {
			if !closedByServer(k.c, k.r, 50*time.Millisecond) {
				open = append(open, k)
			}
		}
		if len(open) == 3 && time.Now().After(deadline) {
			t.Fatal("a third idle connection was kept, with room for two")
		}
	}
	if len(open) != 2 {
		t.Fatalf("%d idle connections kept, want 2", len(open))
	}
	for _, k := range open {
		if ask(t, k.c, k.r) != 200 {
			t.Fatal("a kept connection does not serve")
		}
	}
}

// Past the bound a new connection waits until one closes, then is served.
func TestConnectionsAreBounded(t *testing.T) {
	addr := serveLimited(t, 2)
	var held []net.Conn
	for range 2 { // connections that say nothing hold their slots
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	c, err := net.Dial("tcp", addr) // the kernel queues it
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := r.ReadByte(); err == nil {
		t.Fatal("a third connection was served with room for two")
	}
	held[0].Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after a slot freed: %v %v", resp, err)
	}
}
