package web

import (
	"net/url"
	"strings"
	"testing"
)

// Every answer, whatever its route or status, carries the headers that
// stop MIME sniffing and Referer leaks; pages also carry the CSP.
func TestEveryAnswerHasSecurityHeaders(t *testing.T) {
	f := newFixture(t, boltStore(t), defaultPage)
	for _, tc := range []struct {
		method, path string
		form         url.Values
		header       map[string]string
		code         int
	}{
		{"GET", "/", nil, nil, 200},
		{"POST", "/", url.Values{"vote": {"Cats"}}, nil, 200},
		{"POST", "/", url.Values{"vote": {"Birds"}}, nil, 400},
		{"POST", "/", url.Values{"vote": {"Cats"}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"PUT", "/", nil, nil, 405},
		{"GET", "/nowhere", nil, nil, 404},
		{"GET", "/static/style.css", nil, nil, 200},
		{"GET", "/static/nothing.css", nil, nil, 404},
		{"GET", "/usage", nil, nil, 200},
		{"GET", "/usage?window=1y", nil, nil, 400},
		{"GET", "/api/usage", nil, nil, 200},
		{"GET", "/metrics", nil, nil, 200},
		{"GET", "/healthz", nil, nil, 200},
		{"GET", "/readyz", nil, nil, 200},
	} {
		code, _, h := f.do(tc.method, tc.path, tc.form, tc.header)
		if code != tc.code {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, code, tc.code)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s %s (%d): X-Content-Type-Options %q, Referrer-Policy %q", tc.method, tc.path, code,
				h.Get("X-Content-Type-Options"), h.Get("Referrer-Policy"))
		}
		if strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'self'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("%s %s: CSP %q lacks %s", tc.method, tc.path, csp, want)
				}
			}
		}
	}
}

// /static/ serves the files the pages name and lists nothing.
func TestStaticListsNoDirectory(t *testing.T) {
	f := newFixture(t, boltStore(t), defaultPage)
	for _, p := range []string{"/static/", "/static", "/static/.", "/static//", "/static/./"} {
		code, body, _ := f.do("GET", p, nil, nil)
		if strings.Contains(body, "style.css") || (code != 404 && code != 301) {
			t.Errorf("GET %s = %d %q: want 404 and no listing", p, code, body)
		}
	}
}

// HEAD is answered wherever GET is, without a body: probes and uptime
// monitors use it.
func TestHeadOnGetRoutes(t *testing.T) {
	f := newFixture(t, boltStore(t), defaultPage)
	for _, p := range []string{"/", "/usage", "/api/usage", "/healthz", "/readyz", "/metrics", "/static/style.css"} {
		code, body, h := f.do("HEAD", p, nil, nil)
		if code != 200 || body != "" || h.Get("Content-Type") == "" {
			t.Errorf("HEAD %s = %d, %d bytes, Content-Type %q", p, code, len(body), h.Get("Content-Type"))
		}
	}
	if code, _, _ := f.do("HEAD", "/nowhere", nil, nil); code != 404 {
		t.Errorf("HEAD /nowhere = %d", code)
	}
}
