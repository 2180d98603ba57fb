package web

import (
	"bytes"
	"encoding/csv"
	"net/http"
	"strings"
	"testing"
)

// The ledger's CSV export: one row per hour of the window, newest first,
// in the JSON's field names, and no cell a spreadsheet would run.
func TestUsageCSV(t *testing.T) {
	u := sampleUsage()
	u.Hours[1].LastError = "=HYPERLINK(\"http://evil\")"
	srv, _ := usageServer(t, u.source())
	for _, path := range []string{"/api/usage.csv?window=48h", "/api/usage?window=48h&format=csv"} {
		code, body, h := fetch(t, srv.URL+path)
		if code != 200 || h.Get("Content-Type") != "text/csv; charset=utf-8" ||
			h.Get("Content-Disposition") != `attachment; filename="usage-pervote-20261122T0830Z-48h.csv"` {
			t.Fatalf("%s = %d %s %s", path, code, h.Get("Content-Type"), h.Get("Content-Disposition"))
		}
		rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 8 || strings.Join(rows[0][:5], ",") != "hour,dimension,state,status,counted" {
			t.Fatalf("%d rows, header %v", len(rows), rows[0])
		}
		col := map[string]int{}
		for i, name := range rows[0] {
			col[name] = i
		}
		if r := rows[1]; r[col["hour"]] != "2026-11-22T08:00:00Z" || r[col["state"]] != "open" || r[col["status"]] != "open" || r[col["counted"]] != "2" {
			t.Errorf("open hour row %v", r)
		}
		if r := rows[2]; r[col["status"]] != "failed" || r[col["lastError"]] != `'=HYPERLINK("http://evil")` {
			t.Errorf("failed hour row %v", r)
		}
		if r := rows[3]; r[col["usageEventId"]] != "11111111-2222-3333-4444-555555555555" || r[col["reported"]] != "5" {
			t.Errorf("accepted hour row %v", r)
		}
	}
	if code, body, _ := fetch(t, srv.URL+"/api/usage.csv?window=1y"); code != 400 || !strings.Contains(body, "unknown window") {
		t.Errorf("bad window = %d %q", code, body)
	}
}

// A browser gets errors as a page in the app's look, with a way back;
// scripts and the API get plain text, with the same status.
func TestErrorPages(t *testing.T) {
	srv, _ := usageServer(t, sampleUsage().source())
	ask := func(path, accept string) (int, string, http.Header) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String(), resp.Header
	}
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	code, body, h := ask("/usage?window=1y", browser)
	if code != 400 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || h.Get("Content-Security-Policy") == "" {
		t.Fatalf("page error = %d %s", code, h.Get("Content-Type"))
	}
	for _, want := range []string{`<link rel="stylesheet" href="/static/style.css">`, `<p class="status">400</p>`,
		`<p class="message" id="error-message">unknown window &#34;1y&#34;; use 24h, 48h or 7d</p>`, `<a class="button button4" id="back" href="/">Back to voting</a>`} {
		if !strings.Contains(body, want) {
			t.Errorf("error page lacks %s", want)
		}
	}
	if code, body, _ := ask("/no/such/page", browser); code != 404 || !strings.Contains(body, `id="back"`) {
		t.Errorf("404 page = %d %s", code, body)
	}
	if code, body, h := ask("/usage?window=1y", ""); code != 400 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") || !strings.Contains(body, "unknown window") {
		t.Errorf("plain error = %d %s %q", code, h.Get("Content-Type"), body)
	}
	if code, _, h := ask("/api/usage?window=1y", browser); code != 400 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Errorf("API error = %d %s", code, h.Get("Content-Type"))
	}
	code, icon, h := ask("/favicon.ico", "")
	if code != 200 || h.Get("Content-Type") != "image/x-icon" || !strings.HasPrefix(icon, "\x00\x00\x01\x00") {
		t.Errorf("/favicon.ico = %d %s", code, h.Get("Content-Type"))
	}
}

// After a vote the page says which hour's usage it was counted in.
func TestVoteNote(t *testing.T) {
	srv, _ := usageServer(t, sampleUsage().source())
	resp, err := http.PostForm(srv.URL+"/", map[string][]string{"vote": {"Cats"}})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	resp.Body.Close()
	want := `<p id="vote-note">Your vote counts as one unit of <code>pervote</code> for the UTC hour 08:00–09:00, reported once the hour has closed.</p>`
	if !strings.Contains(b.String(), want) {
		t.Errorf("the vote's page lacks its note:\n%s", b.String())
	}
	if _, page, _ := fetch(t, srv.URL+"/"); strings.Contains(page, "vote-note") {
		t.Error("the page without a vote has a vote note")
	}
}
