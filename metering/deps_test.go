package metering_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The kit is imported by other people's programs: it must pull in none of
// the app's packages nor its heavy dependencies.
func TestKitImportsNothingOfTheApp(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/azure-vote/azure-vote/metering/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed only %v", deps)
	}
	for _, dep := range deps {
		switch {
		case strings.HasPrefix(dep, "github.com/azure-vote/azure-vote/") && !strings.HasPrefix(dep, "github.com/azure-vote/azure-vote/metering"),
			dep == "github.com/azure-vote/azure-vote",
			strings.HasPrefix(dep, "github.com/chromedp/"),
			strings.HasPrefix(dep, "github.com/prometheus/"),
			strings.HasPrefix(dep, "github.com/go-chi/"),
			strings.HasPrefix(dep, "github.com/redis/"),
			strings.HasPrefix(dep, "go.etcd.io/bbolt"):
			t.Errorf("the metering kit depends on %s", dep)
		}
	}
}
