package web

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// postRaw posts body exactly as given, with path's query as given.
func (f *fixture) postRaw(path, body string) (int, string) {
	f.t.Helper()
	req, err := http.NewRequest("POST", f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Whatever a client sends, a request it malformed is its error: a 4xx that
// says what is wrong, nothing stored, and nothing in the log above info, so
// no one can inflate the 5xx rate or page an operator with bad requests.
func TestMalformedRequestsAre4xx(t *testing.T) {
	f := newFixture(t, boltStore(t), defaultPage)
	for _, tc := range []struct {
		name, path, body string
		code             int
		msg              string
	}{
		{"bad escape in the body", "/", "vote=%zz", 400, `invalid URL escape "%zz"`},
		{"semicolon in the body", "/", "vote=Cats;x=1", 400, "semicolon"},
		{"bad escape in the query", "/?a=%zz", "vote=Cats", 400, `invalid URL escape "%zz"`},
		{"two votes", "/", "vote=Cats&vote=Dogs", 400, `form field "vote" is given more than once`},
		{"the same vote twice", "/", "vote=Cats&vote=Cats", 400, "given more than once"},
		{"too large", "/", "vote=" + strings.Repeat("x", maxFormBytes), 413, "request body too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := f.postRaw(tc.path, tc.body)
			if code != tc.code || !strings.Contains(body, tc.msg) {
				t.Fatalf("POST %s %q = %d %q, want %d %q", tc.path, tc.body, code, body, tc.code, tc.msg)
			}
		})
	}
	// A query that does not parse is refused on every route, rather than
	// read without its bad part.
	for _, p := range []string{"/?a=%zz", "/usage?window=%zz", "/api/usage?window=7d;x", "/healthz?x=%", "/metrics?name[]=%zz"} {
		if code, body, _ := f.do("GET", p, nil, nil); code != 400 || !strings.Contains(body, "malformed request") {
			t.Errorf("GET %s = %d %q, want 400", p, code, body)
		}
	}
	counts, err := f.store.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 0 || f.usage() != 0 {
		t.Fatalf("bad input changed the store: counts %v usage %v", counts, f.usage())
	}
	assertNothingAboveInfo(t, f.logs.String())
}

func assertNothingAboveInfo(t *testing.T, logs string) {
	t.Helper()
	for line := range strings.Lines(logs) {
		if !strings.Contains(line, `"level":"INFO"`) && !strings.Contains(line, `"level":"DEBUG"`) {
			t.Errorf("logged above info: %s", line)
		}
	}
}

// A body slower than the server's read timeout is the client's fault: 408,
// not a 500 and an error in the log.
func TestSlowBodyIs408(t *testing.T) {
	logs := &strings.Builder{}
	s, err := NewServer(Options{
		Page: defaultPage, Store: boltStore(t), Assets: os.DirFS(".."),
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = NewHTTPServer("", s.Handler())
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 9\r\n\r\nvote=")
	if err != nil {
		t.Fatal(err)
	}
	// The rest of the body never comes.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "not received in time") {
		t.Fatalf("slow body = %d %q, want 408", resp.StatusCode, body)
	}
	srv.Close() // flushes nothing more, but ends the handler before the log is read
	assertNothingAboveInfo(t, logs.String())
}
