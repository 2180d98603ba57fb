package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets the test binary serve as the reference process too, as the
// bench binary does: the bench starts os.Executable() with serve-reference.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == serveReferenceCmd {
		if err := serveReference(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The whole bench, briefly: it builds the app, runs every scenario with
// real processes, finds no loss, and reports every scenario and target.
func TestBenchEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the app; skipped with -short")
	}
	path := filepath.Join(t.TempDir(), "results.json")
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"-c", "4", "-d", "300ms", "-warmup", "100ms", "-json", path}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr.String())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Results) != len(allScenarios()) || len(r.Targets) != 7 {
		t.Fatalf("%d results, %d targets:\n%s", len(r.Results), len(r.Targets), stdout.String())
	}
	for _, res := range r.Results {
		if res.Server == serverCeiling {
			if res.OK == 0 || res.RedisCPUPerRequestUS == 0 {
				t.Errorf("%s: %+v", res.ID, res)
			}
			continue
		}
		if res.OK == 0 || res.Errors != 0 || res.PeakRSSBytes == 0 || res.CPUPerRequestUS == 0 {
			t.Errorf("%s: %+v", res.ID, res)
		}
		if res.Store == storeRedis && res.RedisCPUPerRequestUS == 0 {
			t.Errorf("%s: no Redis CPU", res.ID)
		}
		if (res.Op == opVote) != (res.Loss != nil) || (res.Loss != nil && !res.Loss.OK) {
			t.Errorf("%s: loss check %+v", res.ID, res.Loss)
		}
	}
	for _, tg := range r.Targets {
		if tg.Status == statusNA && !strings.HasPrefix(tg.Goal, "p99") {
			t.Errorf("target not judged: %+v", tg)
		}
	}
	if !strings.Contains(stdout.String(), "| target | measured | result |") {
		t.Fatalf("no target table:\n%s", stdout.String())
	}
}
