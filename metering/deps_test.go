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

// The usage package is what an ISV's own usage page reuses: it imports the
// standard library and metering only, so it adds nothing to metering's
// dependencies but standard packages.
func TestUsageImportsOnlyMetering(t *testing.T) {
	const kit, pkg = "github.com/azure-vote/azure-vote/metering", "github.com/azure-vote/azure-vote/metering/usage"
	list := func(args ...string) []string {
		out, err := exec.Command("go", append([]string{"list"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %v: %v\n%s", args, err, out)
		}
		return strings.Fields(string(out))
	}
	std := map[string]bool{}
	for _, p := range list("std") {
		std[p] = true
	}
	for _, p := range list("-f", `{{join .Imports "\n"}}`, pkg) {
		if !std[p] && p != kit {
			t.Errorf("%s imports %s", pkg, p)
		}
	}
	own := map[string]bool{kit: true}
	for _, p := range list("-deps", kit) {
		own[p] = true
	}
	for _, p := range list("-deps", pkg) {
		if !own[p] && !std[p] && p != pkg {
			t.Errorf("%s depends on %s, which metering does not", pkg, p)
		}
	}
}
