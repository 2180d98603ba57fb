package web

import (
	"bytes"
	"html/template"
	"os"
	"strconv"
	"testing"
	"time"
)

// The pre-rendered vote page is byte for byte what the template renders.
func TestPrerenderedIndexMatchesTheTemplate(t *testing.T) {
	pages, err := template.New("").Funcs(templateFuncs()).ParseFS(os.DirFS(".."), "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, page := range []Page{
		defaultPage,
		{Title: `<b>"Tea" & co</b>`, Vote1: "Tea", Vote2: "Coffee", GetValue: "Usage", Dimension: "per<vote>"},
	} {
		p, err := prerenderIndex(pages, page)
		if err != nil || p == nil {
			t.Fatalf("prerender %+v: %v %v", page, p, err)
		}
		for _, c := range [][2]int64{{0, 0}, {3, 5}, {1234567, 89}} {
			for _, votedAt := range []time.Time{{}, time.Date(2026, 11, 22, 23, 40, 0, 0, time.UTC)} {
				var note string
				if !votedAt.IsZero() {
					note = voteHour(votedAt)
				}
				var want bytes.Buffer
				token := newVoteToken()
				if err := pages.ExecuteTemplate(&want, "index.html", indexData{Page: page, Count1: c[0], Count2: c[1], Note: note, Token: token}); err != nil {
					t.Fatal(err)
				}
				if got := p.appendTo(nil, token, c[0], c[1], votedAt); !bytes.Equal(got, want.Bytes()) {
					t.Fatalf("counts %v, voted at %v:\n%s\nwant\n%s", c, votedAt, got, want.Bytes())
				}
			}
		}
	}
	// A page whose text holds a mark cannot be cut safely: it is rendered per request.
	odd := defaultPage
	odd.Title = "Poll " + strconv.FormatInt(mark1, 10)
	if p, err := prerenderIndex(pages, odd); err != nil || p != nil {
		t.Fatalf("prerender with a mark in the title = %v, %v", p, err)
	}
	odd2 := defaultPage
	odd2.Vote1 = markToken
	if p, err := prerenderIndex(pages, odd2); err != nil || p != nil {
		t.Fatalf("prerender with the token mark as a choice = %v, %v", p, err)
	}
	f := newFixture(t, boltStore(t), odd)
	if code, body := f.vote("Cats"); code != 200 || !bytes.Contains([]byte(body), []byte("Cats - 1 | Dogs - 0")) {
		t.Fatalf("vote on the fallback path = %d %s", code, body)
	}
}

func TestVoteHour(t *testing.T) {
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 11, 22, 23, 40, 0, 0, time.FixedZone("CET", 3600)), "22:00–23:00"},
		{time.Date(2026, 11, 22, 23, 40, 0, 0, time.UTC), "23:00–00:00"},
		{time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC), "09:00–10:00"},
	} {
		if got := voteHour(tc.at); got != tc.want || len(got) != len(hourSpan) {
			t.Errorf("voteHour(%v) = %q, want %q", tc.at, got, tc.want)
		}
	}
}
