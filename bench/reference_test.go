package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/azure-vote/azure-vote/internal/store"
	"github.com/azure-vote/azure-vote/metering/redisledger/redistest"
)

func newReference(t *testing.T, rdb *redis.Client) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(&reference{rdb: rdb, vote1: vote1, vote2: vote2})
	t.Cleanup(srv.Close)
	return srv
}

// The reference under load stores exactly the votes it acknowledges, in
// the app's layout: the loss check reads it as it reads the app.
func TestReferenceStoresEveryAcknowledgedVote(t *testing.T) {
	rs := redistest.Start(t)
	srv := newReference(t, rs.Client())
	res, err := runLoad(t.Context(), loadSpec{
		URL: srv.URL + "/", Method: http.MethodPost, Forms: voteForms(),
		Concurrency: 4, Warmup: 20 * time.Millisecond, Duration: 150 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.OKTotal == 0 || res.ErrorsTotal != 0 {
		t.Fatalf("%d ok, %d errors (first: %s)", res.OKTotal, res.ErrorsTotal, res.FirstError)
	}
	votes, usage, err := redisCounts(t.Context(), rs.Client())
	if err != nil {
		t.Fatal(err)
	}
	lc := lossCheck{Acked: res.OKTotal, Votes: votes, Usage: usage}
	if !lc.holds() {
		t.Fatalf("loss check: %s", lc)
	}
}

// The app's store and the reference keep votes and usage under the same
// keys, so one loss check reads both.
func TestReferenceSharesTheStoreLayout(t *testing.T) {
	rs := redistest.Start(t)
	ro, err := store.ParseRedisAddr(rs.Addr(), "")
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewRedis(ro, store.Options{})
	defer st.Close()
	for range 3 {
		if _, err := st.Vote(t.Context(), vote1, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	srv := newReference(t, rs.Client())
	body := postVote(t, srv.URL, vote2)
	if !strings.Contains(body, `<div id="results">Cats - 3 | Dogs - 1</div>`) {
		t.Fatalf("reference page:\n%s", body)
	}
	votes, usage, err := redisCounts(t.Context(), rs.Client())
	if err != nil {
		t.Fatal(err)
	}
	if votes != 4 || usage != 4 {
		t.Fatalf("redis holds %d votes, %d usage; want 4 and 4", votes, usage)
	}
	if n, err := parseResults([]byte(body)); err != nil || n != 4 {
		t.Fatalf("results line of the reference page: %d, %v", n, err)
	}
}

func TestReferenceRefusesUnknownChoices(t *testing.T) {
	rs := redistest.Start(t)
	srv := newReference(t, rs.Client())
	for _, form := range []string{"vote=Birds", "vote=", "other=Cats"} {
		resp, err := http.Post(srv.URL+"/", "application/x-www-form-urlencoded", strings.NewReader(form))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %s", form, resp.Status)
		}
	}
	if n, err := rs.Client().Exists(t.Context(), votesKey, hoursKey).Result(); err != nil || n != 0 {
		t.Fatalf("refused votes wrote %d keys (%v)", n, err)
	}
}

func postVote(t *testing.T, base, choice string) string {
	t.Helper()
	resp, err := http.Post(base+"/", "application/x-www-form-urlencoded", strings.NewReader("vote="+choice))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("vote %s: %s", choice, resp.Status)
	}
	return string(body)
}
