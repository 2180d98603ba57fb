package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/azure-vote/azure-vote/metering/redisledger/redistest"
)

// A Redis outage under load is two lines above info, its start and its end
// with the count of failed calls in between, not one error line per
// request: a 5 s outage once wrote 91k of them.
func TestRedisOutageIsLoggedOnce(t *testing.T) {
	rs := redistest.Start(t)
	m, logs := startMain(t, map[string]string{"REDIS": rs.Addr()})
	if code, _ := postVote(t, m.URL(), "Cats"); code != 200 {
		t.Fatalf("vote = %d", code)
	}
	rs.Stop()

	const workers, each = 8, 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range workers {
		wg.Go(func() {
			for i := range each {
				var resp *http.Response
				var err error
				if i%2 == 0 {
					resp, err = http.PostForm(m.URL()+"/", url.Values{"vote": {"Dogs"}})
				} else {
					resp, err = http.Get(m.URL() + "/")
				}
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				mu.Lock()
				codes[resp.StatusCode]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if codes[503] != workers*each {
		t.Fatalf("answers with Redis down: %v, want %d × 503", codes, workers*each)
	}
	rs.Restart()
	waitFor(t, "a vote after Redis is back", func() bool { code, _ := postVote(t, m.URL(), "Cats"); return code == 200 })
	// Whatever else is logged is flushed by now: the app writes its log
	// straight to the buffer in tests.

	var above, requests int
	var down, up []map[string]any
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		switch rec["msg"] {
		case "request":
			requests++
		case "vote store unavailable; requests that need it answer 503 until it is back":
			down = append(down, rec)
		case "vote store available again":
			up = append(up, rec)
		}
		if lvl := rec["level"]; lvl != "INFO" && lvl != "DEBUG" {
			above++
		}
	}
	if len(down) != 1 || len(up) != 1 {
		t.Fatalf("store went away %d times and came back %d times in the log, want once each:\n%s", len(down), len(up), logs)
	}
	if n, _ := up[0]["failed_calls"].(float64); n < workers*each {
		t.Errorf("failed_calls = %v, want at least %d", up[0]["failed_calls"], workers*each)
	}
	// The two lines, and at most a metering line or two that a reporting
	// pass may have written meanwhile.
	if above > 4 {
		t.Errorf("%d lines above info for one outage:\n%s", above, logs)
	}
	if requests < workers*each {
		t.Errorf("%d request lines for %d requests", requests, workers*each)
	}
}
