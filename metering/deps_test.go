package metering_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const kit = "github.com/azure-vote/azure-vote/metering"

// The kit is imported by other people's programs: it must pull in none of
// the app's packages nor its heavy dependencies. Only a ledger on a store
// may import that store's client: go-redis in metering/redisledger (and its
// test helper), bbolt in metering/boltledger. The kit is a module of its
// own, so nothing outside metering/ may be imported.
func TestKitImportsNothingOfTheApp(t *testing.T) {
	cmd := exec.Command("go", "list", "-json=ImportPath,Deps", kit+"/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs int
	for {
		var p struct {
			ImportPath string
			Deps       []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs++
		if len(p.Deps) < 5 {
			t.Errorf("go list -deps listed only %v for %s", p.Deps, p.ImportPath)
		}
		for _, dep := range p.Deps {
			if reason := forbidden(p.ImportPath, dep); reason != "" {
				t.Errorf("%s depends on %s: %s", p.ImportPath, dep, reason)
			}
		}
	}
	if pkgs < 5 {
		t.Fatalf("go list found only %d packages under %s/...", pkgs, kit)
	}
}

// forbidden says why pkg may not depend on dep, or "" if it may.
func forbidden(pkg, dep string) string {
	within := func(p, root string) bool { return p == root || strings.HasPrefix(p, root+"/") }
	switch {
	case within(dep, "github.com/azure-vote/azure-vote") && !within(dep, kit):
		return "a package of the app"
	case within(dep, "github.com/chromedp"), within(dep, "github.com/prometheus"), within(dep, "github.com/go-chi"):
		return "a dependency of the app"
	case within(dep, "github.com/redis"):
		if !within(pkg, kit+"/redisledger") {
			return "only metering/redisledger may use go-redis"
		}
	case within(dep, "go.etcd.io/bbolt"):
		if !within(pkg, kit+"/boltledger") {
			return "only metering/boltledger may use bbolt"
		}
	}
	return ""
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

// Importing the kit pulls none of the app's dependencies into an ISV's
// module graph, not even the ones the app needs only for its tests.
func TestKitModuleRequiresNothingOfTheApp(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "all").Output()
	if err != nil {
		t.Fatalf("go list -m: %v\n%s", err, out)
	}
	mods := strings.Fields(string(out))
	if len(mods) < 5 || mods[0] != kit {
		t.Fatalf("go list -m all ran outside the kit's module: %v", mods)
	}
	for _, m := range mods {
		for _, app := range []string{"github.com/chromedp/", "github.com/prometheus/", "github.com/go-chi/", "github.com/azure-vote/azure-vote "} {
			if strings.HasPrefix(m+" ", app) {
				t.Errorf("the kit's module graph holds %s", m)
			}
		}
	}
}
