package test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"

	corev1 "k8s.io/api/core/v1"

	"github.com/azure-vote/azure-vote/internal/config"
)

// The AKS extension manager sets top-level values of its own (Azure.*);
// the schema takes them, and whatever else the platform adds with a
// capitalised key, while our own keys stay checked.
func TestPlatformValuesAccepted(t *testing.T) {
	ch := loadChart(t)
	for _, tc := range []struct {
		name     string
		settings []string
		wantErr  string
	}{
		{"extension manager", extensionSettings, ""},
		{"another platform key", []string{"Azure.Cluster.Cloud=AzureCloud", "AzureArc.enabled=false"}, ""},
		{"a typo of ours", []string{"titel=Vote"}, "titel"},
		{"a typo inside our keys", []string{"metering.dimensio=x"}, "dimensio"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals, err := chartutil.CoalesceValues(ch, setValues(t, tc.settings...))
			if err != nil {
				t.Fatal(err)
			}
			err = chartutil.ValidateAgainstSchema(ch, vals)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want one about %s", err, tc.wantErr)
			}
			if tc.wantErr == "" {
				mustInstall(t, setValues(t, tc.settings...))
			}
		})
	}
}

// Settings reach Helm with --set semantics: what the purchase form accepts
// must reach the app as the very string the customer typed, even 123 or
// true, which --set turns into a number and a boolean. The form refuses
// what cannot (null, which --set turns into "no value").
func TestFormValuesReachTheApp(t *testing.T) {
	elements := applicationElements(t)
	field := map[string]func(config.Config) string{
		"title":  func(c config.Config) string { return c.Title },
		"value1": func(c config.Config) string { return c.Vote1 },
		"value2": func(c config.Config) string { return c.Vote2 },
	}
	candidates := []string{"123", "true", "False", "0", "007", "1.5", "-1", "null", "Null", "Reset", "Dogs", "Hello World 1.0!"}
	for name, get := range field {
		for _, v := range candidates {
			accepted, why := formAccepts(t, elements, name, v)
			if !accepted {
				t.Logf("%s=%q: the form refuses it (%s)", name, v, why)
				continue
			}
			t.Run(name+"="+v, func(t *testing.T) {
				r, err := install(t, setValues(t, name+"="+v))
				if err != nil {
					t.Fatalf("the form accepts %s=%q, the chart refuses it: %v", name, v, err)
				}
				objs, err := decodeManifest(r.Manifest)
				if err != nil {
					t.Fatal(err)
				}
				env := frontEnv(t, rendered{Release: r, Objects: objs})
				cfg, err := config.FromEnv(func(k string) string { return env[k] })
				if err != nil {
					t.Fatalf("the app refuses it: %v", err)
				}
				if got := get(cfg); got != v {
					t.Errorf("the app gets %q, want %q", got, v)
				}
			})
		}
	}
}

// applicationElements is the purchase form's application step, by name.
func applicationElements(t *testing.T) map[string]uiElement {
	t.Helper()
	out := map[string]uiElement{}
	for _, s := range readUI(t).Parameters.Steps {
		if s.Name == "applicationDetails" {
			for _, e := range s.Elements {
				out[e.Name] = e
			}
		}
	}
	return out
}

// formAccepts applies a text box's regex and validations, as the portal
// does, with the other boxes at their defaults.
func formAccepts(t *testing.T, elements map[string]uiElement, name, value string) (bool, string) {
	t.Helper()
	e, ok := elements[name]
	if !ok {
		t.Fatalf("no form element %s", name)
	}
	var c struct {
		Regex       string `json:"regex"`
		Validations []struct {
			IsValid string `json:"isValid"`
			Message string `json:"message"`
		} `json:"validations"`
	}
	if err := json.Unmarshal(e.Constraints, &c); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(c.Regex).MatchString(value) {
		return false, "regex"
	}
	state := map[string]any{}
	for n, el := range elements {
		state[n] = el.DefaultValue
	}
	state[name] = value
	vars := map[string]any{"steps.applicationDetails": state}
	// A rule on another box may compare with this one (value2 with value1).
	for _, other := range elements {
		var oc struct {
			Validations []struct {
				IsValid string `json:"isValid"`
				Message string `json:"message"`
			} `json:"validations"`
		}
		_ = json.Unmarshal(other.Constraints, &oc)
		if other.Name != name {
			c.Validations = append(c.Validations, oc.Validations...)
		}
	}
	for _, v := range c.Validations {
		ok, err := evalUI(v.IsValid, vars)
		if err != nil {
			t.Fatalf("%s: %v", v.IsValid, err)
		}
		if ok != true {
			return false, v.Message
		}
	}
	return true, ""
}

// Helm used as a library, without the version flags its CLI is built with,
// assumes Kubernetes v1.20: the chart must render so, as the packaging
// tool and `go run helm.sh/helm/v3/cmd/helm template` render it.
func TestRendersWithHelmDefaults(t *testing.T) {
	if v := chartutil.DefaultCapabilities.KubeVersion.Version; v != "v1.20.0" {
		t.Logf("Helm's default Kubernetes version is now %s", v)
	}
	if kv := loadChart(t).Metadata.KubeVersion; kv != "" {
		t.Errorf("Chart.yaml kubeVersion %q: Helm without a cluster assumes %s and refuses to render", kv, chartutil.DefaultCapabilities.KubeVersion.Version)
	}
	in := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	in.DryRun, in.ClientOnly, in.ReleaseName, in.Namespace = true, true, releaseName, namespace
	if _, err := in.Run(loadChart(t), nil); err != nil {
		t.Errorf("render with Helm's defaults: %v", err)
	}
}

// The form lists GA Kubernetes versions; the API leaves isPreview out of
// them, so the filter must keep an entry without it.
func TestFormKubernetesVersionFilter(t *testing.T) {
	var expr string
	for _, s := range readUI(t).Parameters.Steps {
		for _, sec := range s.Elements {
			for _, e := range sec.Elements {
				if e.Name == "kubernetesVersion" {
					var c struct {
						AllowedValues string `json:"allowedValues"`
					}
					if err := json.Unmarshal(e.Constraints, &c); err != nil {
						t.Fatal(err)
					}
					expr = c.AllowedValues
				}
			}
		}
	}
	param, body, err := filterLambda(expr)
	if err != nil {
		t.Fatalf("kubernetesVersion allowedValues %q: %v", expr, err)
	}
	for _, tc := range []struct {
		entry map[string]any
		keep  bool
	}{
		{map[string]any{"version": "1.33"}, true}, // GA: no isPreview at all
		{map[string]any{"version": "1.32", "isPreview": false}, true},
		{map[string]any{"version": "1.34", "isPreview": true}, false},
	} {
		got, err := evalUI(body, map[string]any{param: tc.entry})
		if err != nil {
			t.Errorf("filter %q on %v: %v", body, tc.entry, err)
			continue
		}
		if got != tc.keep {
			t.Errorf("filter %q on %v = %v, want %v", body, tc.entry, got, tc.keep)
		}
	}
}

// filterLambda finds filter(<list>, (p) => <body>) in expr.
func filterLambda(expr string) (param, body string, err error) {
	m := regexp.MustCompile(`filter\(.*?, \((\w+)\) => `).FindStringSubmatchIndex(expr)
	if m == nil {
		return "", "", fmt.Errorf("no filter(..., (v) => ...)")
	}
	param = expr[m[2]:m[3]]
	depth := 0
	for i := m[1]; i < len(expr); i++ {
		switch expr[i] {
		case '(':
			depth++
		case ')':
			if depth == 0 {
				return param, expr[m[1]:i], nil
			}
			depth--
		}
	}
	return "", "", fmt.Errorf("unbalanced parentheses")
}

// The cluster choices of the original template that AKS still offers come
// back, wired into the cluster resource and asked by the form, and both
// resources use current API versions.
func TestClusterChoicesAndAPIVersions(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(bundleDir, readManifest(t).ClusterArmTemplate))
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Resources []struct {
			Type       string         `json:"type"`
			APIVersion string         `json:"apiVersion"`
			Properties map[string]any `json:"properties"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(raw, &tpl); err != nil {
		t.Fatal(err)
	}
	minVersion := map[string]string{
		"Microsoft.ContainerService/managedClusters":   "2025-10-01",
		"Microsoft.KubernetesConfiguration/extensions": "2025-03-01",
	}
	var cluster map[string]any
	for _, r := range tpl.Resources {
		if floor, ok := minVersion[r.Type]; ok && (r.APIVersion < floor || strings.Contains(r.APIVersion, "preview")) {
			t.Errorf("%s apiVersion %s: want a stable version from %s on", r.Type, r.APIVersion, floor)
		}
		if r.Type == "Microsoft.ContainerService/managedClusters" {
			cluster = r.Properties
		}
	}
	at := func(path ...any) string {
		var cur any = cluster
		for _, p := range path {
			switch k := p.(type) {
			case string:
				cur = cur.(map[string]any)[k]
			case int:
				cur = cur.([]any)[k]
			}
		}
		s, _ := cur.(string)
		return s
	}
	for param, path := range map[string][]any{
		"enablePrivateCluster": {"apiServerAccessProfile", "enablePrivateCluster"},
		"networkPlugin":        {"networkProfile", "networkPlugin"},
		"osDiskSizeGB":         {"agentPoolProfiles", 0, "osDiskSizeGB"},
		"enableRBAC":           {"enableRBAC"},
	} {
		if got := at(path...); !strings.Contains(got, "parameters('"+param+"')") {
			t.Errorf("cluster %v = %q, want it from parameter %s", path, got, param)
		}
		if _, ok := readUI(t).Parameters.Outputs[param]; !ok {
			t.Errorf("the form does not ask for %s", param)
		}
	}
	ui, err := os.ReadFile(filepath.Join(bundleDir, readManifest(t).UIDefinition))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range regexp.MustCompile(`managedClusters\?api-version=([\w-]+)|kubernetesVersions\?api-version=([\w-]+)`).FindAllStringSubmatch(string(ui), -1) {
		if v := v[1] + v[2]; v < minVersion["Microsoft.ContainerService/managedClusters"] {
			t.Errorf("the form asks AKS with api-version %s", v)
		}
	}
}

// The metrics port is the pods' own: the public Service does not publish
// it, Prometheus finds it by the pods' annotations or a ServiceMonitor.
func checkMetricsPort(t *testing.T, r rendered) {
	t.Helper()
	d := frontDeployment(t, r)
	front := container(t, d.Spec.Template.Spec, "front")
	port := envVar(t, front, "METRICS_PORT").Value
	i := slices.IndexFunc(front.Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" })
	if i < 0 || fmt.Sprint(front.Ports[i].ContainerPort) != port {
		t.Errorf("front ports %+v, want metrics on METRICS_PORT=%s", front.Ports, port)
	}
	for _, p := range named[corev1.Service](t, r, frontSvc).Spec.Ports {
		if fmt.Sprint(p.TargetPort.IntValue()) == port || p.TargetPort.String() == "metrics" {
			t.Errorf("the public Service publishes the metrics port: %+v", p)
		}
	}
	if a := d.Spec.Template.Annotations; a["prometheus.io/scrape"] == "true" && a["prometheus.io/port"] != port {
		t.Errorf("prometheus.io/port %q, METRICS_PORT %s", a["prometheus.io/port"], port)
	}
	// Long enough for the drain and then the in-flight requests.
	drain := envVar(t, front, "SHUTDOWN_DRAIN").Value
	var seconds int64
	if _, err := fmt.Sscanf(drain, "%ds", &seconds); err != nil {
		t.Fatalf("SHUTDOWN_DRAIN=%q", drain)
	}
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g < seconds+20 {
		t.Errorf("terminationGracePeriodSeconds %v with a %ds drain: the pod would be killed while it drains", g, seconds)
	}
}
