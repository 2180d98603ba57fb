package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestFormToken(t *testing.T) {
	for page, want := range map[string]string{
		`<form method="post"><input type="hidden" name="token" value="abc-123"><button name="vote" value="Cats">`: "abc-123",
		`<input value="x&amp;y" name="token" type="hidden">`:                                                      "x&y",
		`<input type="hidden" name="tokens" value="no"><input name="vote" value="Cats">`:                          "",
		`<form method="post"><button name="vote" value="Cats">Cats</button></form>`:                               "",
	} {
		if got := formToken([]byte(page)); got != want {
			t.Errorf("formToken(%q) = %q, want %q", page, got, want)
		}
	}
}

func TestFaultTable(t *testing.T) {
	var out bytes.Buffer
	err := writeFaultTable(&out, []faultResult{
		{Fault: "stall", Acked: 100, Stored: 103, Usage: 103, GaveUp: 3, Tokens: 0, NoTokens: 103, Recovery: 10200 * time.Millisecond},
		{Fault: "failover", Acked: 100, Stored: 90, Usage: 90, Tokens: 100, Recovery: 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| stall | 100 | 103 | 0 | 3 | 3 | 0 | 10.2 s | 0 of 103 |",
		"| failover | 100 | 90 | 10 | 0 | 0 | 0 | 0.1 s | 100 of 100 |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

// A fault run for real: the app and a durable Redis killed under load. No
// acknowledged vote may be lost, and votes flow again without a restart of
// the app.
func TestFaultKillRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the app; skipped with -short")
	}
	o, err := parseOptions([]string{"-faults", "-c", "4"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	f := &faultBench{opts: o, voters: o.Concurrency[0], log: &bytes.Buffer{}, tmp: t.TempDir()}
	if f.appBin, _, err = buildApp(t.Context(), f.tmp, false, f.log); err != nil {
		t.Fatal(err)
	}
	if f.redisBin, err = exec.LookPath("redis-server"); err != nil {
		t.Fatal(err)
	}
	res, err := f.killRedis(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if res.Acked == 0 || res.lost() != 0 || res.Usage != res.Stored || res.Recovery < restartDelay {
		t.Fatalf("after a SIGKILL of a Redis that fsyncs every write: %+v", res)
	}
	// Without a token a vote that failed may still have been stored, never
	// more of them than failed.
	if res.Stored > res.Acked+res.GaveUp {
		t.Errorf("stored %d, more than acknowledged %d and given up %d", res.Stored, res.Acked, res.GaveUp)
	}
}
