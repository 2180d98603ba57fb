package main

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/azure-vote/azure-vote/metering"
	"github.com/azure-vote/azure-vote/metering/redisledger"
	"github.com/azure-vote/azure-vote/metering/redisledger/redistest"
)

// The example stays short enough to read at a glance, and it works: run
// against a real redis-server, it bills the widgets' hour to the emulator.
func TestWidgets(t *testing.T) {
	f, err := os.Open("main.go")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	code, inFunc := 0, false
	for s := bufio.NewScanner(f); s.Scan(); {
		line := strings.TrimSpace(s.Text())
		inFunc = inFunc || strings.HasPrefix(line, "func main()")
		if inFunc && line != "" && !strings.HasPrefix(line, "//") {
			code++
		}
	}
	if code == 0 || code >= 30 {
		t.Errorf("main has %d lines of code; the example promises under 30", code)
	}

	srv := redistest.Start(t)
	cmd := exec.Command("go", "run", ".")
	cmd.Env = append(os.Environ(), "REDIS_ADDR="+srv.Addr())
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "accepted 1 of 1" {
		t.Fatalf("go run: %v\n%s", err, out)
	}
	recs, err := redisledger.New(srv.Client(), redisledger.Options{Prefix: "{widgets}:"}).Records(t.Context(), "widgets")
	if err != nil || len(recs) != 1 || recs[0].Counted != 3 || recs[0].State != metering.StateAccepted || recs[0].Reported != 3 {
		t.Fatalf("ledger = %+v, %v; want one hour of 3 widgets, accepted", recs, err)
	}
}
