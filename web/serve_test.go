package web

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// A connection that never sends a request (a client's spare from a dial
// race) does not hold Stop: net/http alone would wait 5 seconds for it,
// past this stop's 3. A request under way still finishes.
func TestStopClosesConnectionsThatSentNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started, finish := make(chan struct{}), make(chan struct{})
	srv := NewHTTPServer(ln.Addr().String(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-finish
		_, _ = io.WriteString(w, "done")
	}))
	s := Serve(srv, ln)

	spare, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer spare.Close()
	answer := make(chan string, 1)
	go func() {
		res, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			answer <- err.Error()
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		answer <- string(b)
	}()
	<-started

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- s.Stop(ctx) }()
	time.Sleep(unusedGrace) // Stop is waiting on the request, and the spare ages
	close(finish)
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if got := <-answer; got != "done" {
		t.Fatalf("the request under way got %q", got)
	}
	if _, err := spare.Read(make([]byte, 1)); err == nil {
		t.Fatal("the spare connection is still open")
	}
}
