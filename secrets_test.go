package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/emulator"
	"github.com/azure-vote/azure-vote/metering/redisledger/redistest"
)

// Known secret values: whatever the app prints (its log at debug, its
// errors, pages, JSON, metrics, and the report command) must hold none.
const (
	redisSecret  = "Rds-s3cret-4f7a9"
	envSecret    = "Env-s3cret-81c2e"
	wrongSecret  = "Wrong-s3cret-0d6b"
	tokenSecret  = "Tok-s3cret-5e33a"
	resourceForS = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg/providers/Microsoft.KubernetesConfiguration/extensions/vote"
)

// requirePass makes rs ask for password on every new connection.
func requirePass(t *testing.T, rs *redistest.Server, password string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: rs.Addr(), MaxRetries: -1})
	defer c.Close()
	if err := c.ConfigSet(context.Background(), "requirepass", password).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestNoSecretInAnyOutput(t *testing.T) {
	var printed strings.Builder // everything the app said, to grep at the end
	see := func(what string, s string) { printed.WriteString(what + ": " + s + "\n") }

	// Settings that are refused: one line, naming the setting, without the secret.
	for _, env := range []map[string]string{
		{"REDIS": ":" + redisSecret + "@h:6379"},
		{"REDIS": "user:" + redisSecret + "@h"},
		{"REDIS": "redis//:" + redisSecret + "@h"},
		{"REDIS": "redis:/:" + redisSecret + "@h"},
		{"REDIS": "redis://:" + redisSecret + "@h:port"},
		{"REDIS": "redis://:" + redisSecret + "@h/x"},
		{"REDIS": "redis://:" + redisSecret + "@h?max_retries=2"},
		{"REDIS": "http://u:" + redisSecret + "@h"},
		{"REDIS": "h/x", "REDIS_PWD": envSecret},
		{"REDIS": "["},
		{"METERING_ENDPOINT": "ftp://user:" + tokenSecret + "@127.0.0.1/api"},
		{"METERING_ENDPOINT": "ftp://" + tokenSecret + "@127.0.0.1/api"},
		{"METERING_ENDPOINT": "https://" + tokenSecret + "@example.test/api"},
		{"METERING_ENDPOINT": "http://user:" + tokenSecret + "@10.0.0.1/api"},
	} {
		var stderr bytes.Buffer
		env["DATA_DIR"] = t.TempDir()
		// A setting that is accepted by mistake would serve until stopped.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := run(ctx, nil, func(k string) string { return env[k] }, &stderr)
		cancel()
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: err = %v, want one line", env, err)
			continue
		}
		name := "REDIS"
		if _, ok := env["METERING_ENDPOINT"]; ok {
			name = "METERING_ENDPOINT"
		}
		if !strings.Contains(err.Error(), name) {
			t.Errorf("err = %v, want one naming %s", err, name)
		}
		see("error", err.Error())
		see("stderr", stderr.String())
	}

	// The app on a Redis that wants a password, reporting to an emulator
	// with the fixed token, through an outage; then the report command.
	rs := redistest.Start(t)
	requirePass(t, rs, redisSecret)
	emu := emulator.New(emulator.Options{Plans: map[string][]string{"basic": {"pervote"}}, Resources: []string{resourceForS}})
	api := httptest.NewServer(emu)
	defer api.Close()
	env := map[string]string{
		"REDIS": "redis://:" + redisSecret + "@" + rs.Addr() + "/0", "REDIS_PWD": envSecret, "LOG_LEVEL": "debug",
		"METERING_ENDPOINT": api.URL + "/api", "EXTENSION_RESOURCE_ID": resourceForS, "PLAN_ID": "basic",
		"METERING_PRICE": "0.01",
	}
	m, logs := startMain(t, env)
	redis.SetLogger(redisLog{m.Logger}) // go-redis's own messages too, as main does
	fetch := func(method, path string, form url.Values) int {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, m.URL()+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		see(method+" "+path+" headers", strings.Join(headerLines(resp.Header), "\n"))
		see(method+" "+path, string(b))
		return resp.StatusCode
	}
	pages := func() {
		fetch("POST", "/", url.Values{"vote": {"Cats"}})
		fetch("POST", "/", url.Values{"vote": {"Birds"}})
		fetch("POST", "/?a=%zz", url.Values{"vote": {"Cats"}})
		for _, p := range []string{"/", "/usage", "/usage?window=7d", "/api/usage", "/metrics", "/healthz", "/readyz", "/nowhere"} {
			fetch("GET", p, nil)
		}
	}
	if code := fetch("POST", "/", url.Values{"vote": {"Dogs"}}); code != 200 {
		t.Fatalf("vote on a Redis with a password = %d", code)
	}
	pages()
	rs.Stop()
	pages()
	rs.Restart()
	requirePass(t, rs, redisSecret)
	waitFor(t, "Redis back", func() bool { return fetch("GET", "/readyz", nil) == 200 })
	pages()

	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"report"}, func(k string) string { return env[k] }, &stderr); err != nil {
		see("report error", err.Error())
	}
	see("report", stderr.String())

	// A wrong password: the app starts, is not ready, and says why without it.
	wrong := map[string]string{"REDIS": rs.Addr(), "REDIS_PWD": wrongSecret, "LOG_LEVEL": "debug"}
	m2, logs2 := startMain(t, wrong)
	for _, p := range []string{"/readyz", "/"} {
		resp, err := http.Get(m2.URL() + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 {
			t.Errorf("GET %s with a wrong password = %d", p, resp.StatusCode)
		}
		see("wrong password "+p, string(b))
	}
	see("log", logs.String())
	see("log with a wrong password", logs2.String())

	out := printed.String()
	if !strings.Contains(logs.String(), `"msg":"vote store unavailable`) || !strings.Contains(logs2.String(), "WRONGPASS") {
		t.Fatalf("the run did not go through the outage and the refusal it should have:\n%s", out)
	}
	for _, s := range []string{redisSecret, envSecret, wrongSecret, tokenSecret, string(metering.EmulatorToken)} {
		if i := strings.Index(out, s); i >= 0 {
			t.Errorf("a secret was printed: …%s…", out[max(0, i-200):min(len(out), i+100)])
		}
	}
}

func headerLines(h http.Header) []string {
	var lines []string
	for k, vs := range h {
		lines = append(lines, k+": "+strings.Join(vs, ", "))
	}
	return lines
}
