package web

import (
	"io"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/azure-vote/azure-vote/internal/store"
	"github.com/azure-vote/azure-vote/metering/redisledger/redistest"
)

var tokenInput = regexp.MustCompile(`<input type="hidden" name="token" value="([A-Z2-7]{26})">`)

// pageToken returns the vote token of a rendered vote page.
func pageToken(t *testing.T, body string) string {
	t.Helper()
	m := tokenInput.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("page has no vote token:\n%s", body)
	}
	return m[1]
}

// A vote form sent twice with its token is counted once, billed once, and
// answered both times with the counts and a new token for the next vote.
func TestVoteTokenCountsOnce(t *testing.T) {
	f := newFixture(t, boltStore(t), defaultPage)
	_, page, _ := f.do("GET", "/", nil, nil)
	tok := pageToken(t, page)
	seen := map[string]bool{tok: true}
	for i := range 3 {
		code, body, _ := f.do("POST", "/", url.Values{"vote": {"Cats"}, "token": {tok}}, nil)
		if code != 200 || !strings.Contains(body, "Cats - 1 | Dogs - 0") {
			t.Fatalf("send %d of one form = %d %s", i+1, code, body)
		}
		next := pageToken(t, body)
		if seen[next] {
			t.Fatalf("a page reused token %s", next)
		}
		seen[next] = true
	}
	if got := f.usage(); got != 1 {
		t.Fatalf("usage = %v after one form sent three times, want 1", got)
	}
	// The used token with another choice is still the same vote; a page's
	// new token counts; a vote without one always counts.
	_, body, _ := f.do("POST", "/", url.Values{"vote": {"Dogs"}, "token": {tok}}, nil)
	if code, _, _ := f.do("POST", "/", url.Values{"vote": {"Dogs"}, "token": {pageToken(t, body)}}, nil); code != 200 {
		t.Fatalf("vote with a new page's token = %d", code)
	}
	for range 2 {
		f.vote("Dogs")
	}
	if _, body, _ = f.do("GET", "/", nil, nil); !strings.Contains(body, "Cats - 1 | Dogs - 3") || f.usage() != 4 {
		t.Fatalf("counts %s usage %v, want Cats 1, Dogs 3, usage 4", body, f.usage())
	}
	_, metrics, _ := f.do("GET", "/metrics", nil, nil)
	if !strings.Contains(metrics, `azure_vote_votes_total{choice="Cats"} 1`) {
		t.Errorf("a repeated token was counted in votes_total:\n%s", metrics)
	}
}

func TestBadVoteTokenChangesNothing(t *testing.T) {
	f := newFixture(t, boltStore(t), defaultPage)
	for _, tc := range []struct {
		name  string
		token []string
		msg   string
	}{
		{"too short", []string{"ABC"}, "16 to 64 characters"},
		{"too long", []string{strings.Repeat("A", 65)}, "16 to 64 characters"},
		{"key-shaped", []string{"x:votes:{azure-vote}"}, "only letters, digits"},
		{"spaces", []string{"ABCDEFGHIJKLMNOP QRS"}, "only letters, digits"},
		{"two tokens", []string{"ABCDEFGHIJKLMNOPQRST", "ABCDEFGHIJKLMNOPQRSU"}, `form field "token" is given more than once`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := f.do("POST", "/", url.Values{"vote": {"Cats"}, "token": tc.token}, nil)
			if code != 400 || !strings.Contains(body, tc.msg) {
				t.Fatalf("= %d %q, want 400 %q", code, body, tc.msg)
			}
		})
	}
	if f.usage() != 0 {
		t.Fatalf("a refused token changed usage to %v", f.usage())
	}
	// Tokens other clients make are fine if they fit: a UUID, say.
	code, _, _ := f.do("POST", "/", url.Values{"vote": {"Cats"}, "token": {"0f8fad5b-d9cb-469f-a165-70867728950e"}}, nil)
	if code != 200 || f.usage() != 1 {
		t.Fatalf("vote with a UUID token = %d, usage %v", code, f.usage())
	}
}

// The case tokens exist for: Redis applies a vote but its answer never
// arrives. The voter is told the vote could not be confirmed and that
// sending it again is safe, and sending it again does not count it twice.
func TestVoteWithLostAnswerIsSafeToResend(t *testing.T) {
	rs := redistest.Start(t)
	proxy := startAnswerDropper(t, rs.Addr())
	ro, err := store.ParseRedisAddr(proxy.addr, "")
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewRedis(ro, store.Options{})
	t.Cleanup(func() { st.Close() })
	f := newFixture(t, st, defaultPage)
	_, page, _ := f.do("GET", "/", nil, nil)
	// A first vote loads the store's script into Redis: otherwise the
	// answer lost would be Redis asking for it, with nothing applied.
	code, page, _ := f.do("POST", "/", url.Values{"vote": {"Cats"}, "token": {pageToken(t, page)}}, nil)
	if code != 200 {
		t.Fatalf("first vote = %d", code)
	}
	form := url.Values{"vote": {"Cats"}, "token": {pageToken(t, page)}}

	proxy.drop.Store(true)
	code, body, _ := f.do("POST", "/", form, nil)
	if code != 503 || !strings.Contains(body, "could not confirm your vote") || !strings.Contains(body, "Sending it again is safe") {
		t.Fatalf("vote with its answer lost = %d %q", code, body)
	}
	if got := rs.Client().HGet(t.Context(), "azure-vote:votes", "Cats").Val(); got != "2" {
		t.Fatalf("Redis holds Cats = %q: the lost answer's vote should have been applied", got)
	}
	proxy.drop.Store(false)
	code, body, _ = f.do("POST", "/", form, nil)
	if code != 200 || !strings.Contains(body, "Cats - 2 | Dogs - 0") {
		t.Fatalf("the same form sent again = %d %s", code, body)
	}
	if got := f.usage(); got != 2 {
		t.Fatalf("usage = %v, want 2: the resent vote was billed twice", got)
	}
}

// answerDropper is a TCP proxy to Redis that, while drop is set, passes
// commands on and throws the answers away.
type answerDropper struct {
	addr string
	drop atomic.Bool
}

func startAnswerDropper(t *testing.T, target string) *answerDropper {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &answerDropper{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			t.Cleanup(func() { c.Close(); s.Close() })
			wg.Go(func() { _, _ = io.Copy(s, c); s.Close() })
			wg.Go(func() {
				buf := make([]byte, 32<<10)
				for {
					n, err := s.Read(buf)
					if n > 0 && !p.drop.Load() {
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						c.Close()
						return
					}
				}
			})
		}
	})
	return p
}
