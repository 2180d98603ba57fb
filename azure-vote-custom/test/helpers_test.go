package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const (
	// chartDir is the chart, relative to this module.
	chartDir = ".."
	// repoRoot is the application's module, built by the Dockerfile, and
	// the CNAB bundle folder: manifest.yaml and the ARM files sit beside
	// the chart folder, as in Microsoft's samples.
	repoRoot  = "../.."
	bundleDir = repoRoot

	releaseName = "vote"
	namespace   = "azure-vote-custom"
)

// loadChart loads the chart as `helm package` and `helm install` see it,
// .helmignore applied.
func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	return ch
}

// defaultValues is values.yaml as a plain map.
func defaultValues(t *testing.T) map[string]any {
	t.Helper()
	vals, err := chartutil.ReadValuesFile(chartDir + "/values.yaml")
	if err != nil {
		t.Fatalf("read values.yaml: %v", err)
	}
	return vals.AsMap()
}

// install renders the chart as `helm install --dry-run` (or `helm
// template`) does without a cluster: values coalesced, schema checked,
// templates rendered, NOTES too. No Kubernetes version is given: Helm then
// assumes its own default, as the packaging tool and `go run helm template`
// do.
func install(t *testing.T, vals map[string]any) (*release.Release, error) {
	t.Helper()
	cfg := &action.Configuration{Log: func(string, ...any) {}}
	in := action.NewInstall(cfg)
	in.DryRun = true
	in.ClientOnly = true
	in.ReleaseName = releaseName
	in.Namespace = namespace
	return in.Run(loadChart(t), vals)
}

// object is one rendered Kubernetes object, decoded into its API type.
type object struct {
	Source string // template file that produced it
	Kind   string
	Name   string
	Value  any // *corev1.Service, *appsv1.Deployment, ...
}

// rendered is a release's objects.
type rendered struct {
	Release *release.Release
	Objects []object
}

// newObject returns the API type and version of every kind the chart may
// produce. A kind missing here fails the tests, so a new template gets the
// strict checks too.
func newObject(kind string) (apiVersion string, v any, ok bool) {
	switch kind {
	case "ConfigMap":
		return "v1", new(corev1.ConfigMap), true
	case "Secret":
		return "v1", new(corev1.Secret), true
	case "Service":
		return "v1", new(corev1.Service), true
	case "Deployment":
		return "apps/v1", new(appsv1.Deployment), true
	case "StatefulSet":
		return "apps/v1", new(appsv1.StatefulSet), true
	case "PodDisruptionBudget":
		return "policy/v1", new(policyv1.PodDisruptionBudget), true
	case "ServiceMonitor":
		return "monitoring.coreos.com/v1", new(serviceMonitor), true
	}
	return "", nil, false
}

// serviceMonitor is the part of the Prometheus Operator's ServiceMonitor the
// chart writes; decoded strictly like the rest, so a misspelt field fails.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

var (
	docSeparator = regexp.MustCompile(`(?m)^---\s*$`)
	sourceLine   = regexp.MustCompile(`(?m)^# Source: (.+)$`)
)

// mustInstall renders vals and decodes every object strictly.
func mustInstall(t *testing.T, vals map[string]any) rendered {
	t.Helper()
	rel, err := install(t, vals)
	if err != nil {
		t.Fatalf("install: %v", err)
	}
	objs, err := decodeManifest(rel.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	return rendered{Release: rel, Objects: objs}
}

// decodeManifest splits a multi-document manifest and decodes each document
// into its API type, failing on unknown fields and duplicate keys: a typo in
// a template (e.g. "readinesProbe") is an error, not a silently dropped key.
func decodeManifest(manifest string) ([]object, error) {
	var objs []object
	for _, doc := range docSeparator.Split(manifest, -1) {
		source := ""
		if m := sourceLine.FindStringSubmatch(doc); m != nil {
			source = m[1]
		}
		if strings.TrimSpace(sourceLine.ReplaceAllString(doc, "")) == "" {
			continue
		}
		o, err := decodeStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		o.Source = source
		objs = append(objs, o)
	}
	return objs, nil
}

func decodeStrict(doc string) (object, error) {
	js, err := yaml.YAMLToJSONStrict([]byte(doc))
	if err != nil {
		return object{}, fmt.Errorf("yaml: %w", err)
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(js, &head); err != nil {
		return object{}, fmt.Errorf("read kind: %w", err)
	}
	apiVersion, v, ok := newObject(head.Kind)
	if !ok {
		return object{}, fmt.Errorf("kind %q (%s) has no strict check here; add it to newObject", head.Kind, head.Metadata.Name)
	}
	if head.APIVersion != apiVersion {
		return object{}, fmt.Errorf("%s %s: apiVersion %q, want %q", head.Kind, head.Metadata.Name, head.APIVersion, apiVersion)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return object{}, fmt.Errorf("%s %s: %w", head.Kind, head.Metadata.Name, err)
	}
	return object{Kind: head.Kind, Name: head.Metadata.Name, Value: v}, nil
}

// all returns the rendered objects of type T.
func all[T any](r rendered) []*T {
	var out []*T
	for _, o := range r.Objects {
		if v, ok := o.Value.(*T); ok {
			out = append(out, v)
		}
	}
	return out
}

// one returns the single rendered object of type T.
func one[T any](t *testing.T, r rendered) *T {
	t.Helper()
	objs := all[T](r)
	if len(objs) != 1 {
		var zero T
		t.Fatalf("rendered %d objects of type %T, want 1", len(objs), &zero)
	}
	return objs[0]
}

// named returns the rendered object of type T with the given name.
func named[T any](t *testing.T, r rendered, name string) *T {
	t.Helper()
	for _, o := range r.Objects {
		if v, ok := o.Value.(*T); ok && o.Name == name {
			return v
		}
	}
	var zero T
	t.Fatalf("no %T named %q rendered", &zero, name)
	return nil
}

// workload is a pod template with the object that owns it.
type workload struct {
	Kind, Name string
	Pod        corev1.PodTemplateSpec
}

func workloads(r rendered) []workload {
	var out []workload
	for _, d := range all[appsv1.Deployment](r) {
		out = append(out, workload{"Deployment", d.Name, d.Spec.Template})
	}
	for _, s := range all[appsv1.StatefulSet](r) {
		out = append(out, workload{"StatefulSet", s.Name, s.Spec.Template})
	}
	return out
}

// container returns the named container of a pod spec.
func container(t *testing.T, spec corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %q", name)
	return corev1.Container{}
}

// frontDeployment is the web front's Deployment.
func frontDeployment(t *testing.T, r rendered) *appsv1.Deployment {
	t.Helper()
	return named[appsv1.Deployment](t, r, releaseName+"-azure-vote-custom-front")
}

// redisStatefulSet is the Redis StatefulSet.
func redisStatefulSet(t *testing.T, r rendered) *appsv1.StatefulSet {
	t.Helper()
	return named[appsv1.StatefulSet](t, r, releaseName+"-azure-vote-custom-redis")
}

// overlay builds a values map from dotted paths, as `--set` would:
// overlay("a.b", 1, "c", "x") is {a: {b: 1}, c: "x"}. A nil value removes the
// key from the chart's defaults.
func overlay(kv ...any) map[string]any {
	out := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		path := strings.Split(kv[i].(string), ".")
		m := out
		for _, p := range path[:len(path)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[path[len(path)-1]] = kv[i+1]
	}
	return out
}

// lookupPath returns the value at a dotted path of a values map.
func lookupPath(vals map[string]any, path string) (any, bool) {
	var cur any = vals
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// imageRef is the reference the chart must build from an image's values.
func imageRef(t *testing.T, vals map[string]any, name string) string {
	t.Helper()
	coalesced, err := chartutil.CoalesceValues(loadChart(t), vals)
	if err != nil {
		t.Fatal(err)
	}
	img, ok := lookupPath(coalesced.AsMap(), "global.azure.images."+name)
	if !ok {
		t.Fatalf("no global.azure.images.%s", name)
	}
	m := img.(map[string]any)
	ref := fmt.Sprintf("%v/%v", m["registry"], m["image"])
	if d, _ := m["digest"].(string); d != "" {
		return ref + "@" + d
	}
	return fmt.Sprintf("%s:%v", ref, m["tag"])
}
