package test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"sigs.k8s.io/yaml"
)

// bundleManifest is manifest.yaml, every field the packaging tool reads.
type bundleManifest struct {
	ApplicationName                 string `json:"applicationName"`
	Publisher                       string `json:"publisher"`
	Description                     string `json:"description"`
	Version                         string `json:"version"`
	HelmChart                       string `json:"helmChart"`
	ClusterArmTemplate              string `json:"clusterArmTemplate"`
	UIDefinition                    string `json:"uiDefinition"`
	RegistryServer                  string `json:"registryServer"`
	ExtensionRegistrationParameters struct {
		DefaultScope string `json:"defaultScope"`
		Namespace    string `json:"namespace"`
	} `json:"extensionRegistrationParameters"`
}

type armParameter struct {
	Type          string `json:"type"`
	DefaultValue  any    `json:"defaultValue"`
	AllowedValues []any  `json:"allowedValues"`
}

type armResource struct {
	Type       string            `json:"type"`
	Name       string            `json:"name"`
	Plan       map[string]string `json:"plan"`
	Properties struct {
		ExtensionType         string            `json:"extensionType"`
		ReleaseTrain          string            `json:"releaseTrain"`
		ConfigurationSettings map[string]string `json:"configurationSettings"`
	} `json:"properties"`
}

type armTemplate struct {
	Parameters map[string]armParameter `json:"parameters"`
	Variables  map[string]any          `json:"variables"`
	Resources  []armResource           `json:"resources"`
}

// uiElement is the part of a createUIDefinition element the checks need.
type uiElement struct {
	Name         string          `json:"name"`
	Type         string          `json:"type"`
	DefaultValue any             `json:"defaultValue"`
	Constraints  json.RawMessage `json:"constraints"`
	Elements     []uiElement     `json:"elements"`
}

type uiDefinition struct {
	Handler    string `json:"handler"`
	Version    string `json:"version"`
	Parameters struct {
		Basics []uiElement `json:"basics"`
		Steps  []struct {
			Name     string      `json:"name"`
			Elements []uiElement `json:"elements"`
		} `json:"steps"`
		Outputs map[string]string `json:"outputs"`
	} `json:"parameters"`
}

func readManifest(t *testing.T) bundleManifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(bundleDir, "manifest.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m bundleManifest
	if err := yaml.UnmarshalStrict(data, &m); err != nil {
		t.Fatalf("manifest.yaml: %v", err)
	}
	return m
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(bundleDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func readTemplate(t *testing.T) armTemplate {
	t.Helper()
	var tpl armTemplate
	readJSON(t, readManifest(t).ClusterArmTemplate, &tpl)
	return tpl
}

func readUI(t *testing.T) uiDefinition {
	t.Helper()
	var ui uiDefinition
	readJSON(t, readManifest(t).UIDefinition, &ui)
	return ui
}

func TestBundleManifest(t *testing.T) {
	m := readManifest(t)
	for field, v := range map[string]string{
		"applicationName": m.ApplicationName, "publisher": m.Publisher, "description": m.Description,
		"registryServer": m.RegistryServer,
	} {
		if strings.TrimSpace(v) == "" {
			t.Errorf("%s is empty", field)
		}
	}
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(m.Version) {
		t.Errorf("version %q is not #.#.#", m.Version)
	}
	if ch := loadChart(t); m.Version != ch.Metadata.Version {
		t.Errorf("bundle version %s, chart version %s: they must move together", m.Version, ch.Metadata.Version)
	}
	// As in every Microsoft sample: the bundle files beside the chart
	// folder, which helmChart names relative to them.
	if m.HelmChart != "./azure-vote-custom" {
		t.Errorf("helmChart %q, want \"./azure-vote-custom\", the chart folder beside manifest.yaml", m.HelmChart)
	}
	chartAbs, _ := filepath.Abs(filepath.Join(bundleDir, m.HelmChart))
	wantAbs, _ := filepath.Abs(chartDir)
	if chartAbs != wantAbs {
		t.Errorf("helmChart %q points to %s, want the chart %s", m.HelmChart, chartAbs, wantAbs)
	}
	for _, f := range []string{"manifest.yaml", "mainTemplate.json", "createUIDefinition.json"} {
		if _, err := os.Stat(filepath.Join(chartDir, f)); err == nil {
			t.Errorf("%s inside the chart folder: the bundle files belong beside it", f)
		}
	}
	for _, f := range []string{m.ClusterArmTemplate, m.UIDefinition} {
		if _, err := os.Stat(filepath.Join(bundleDir, f)); err != nil || !strings.HasPrefix(f, "./") {
			t.Errorf("%q: want an existing file relative to manifest.yaml (%v)", f, err)
		}
	}
	if !regexp.MustCompile(`^[a-z0-9]+\.azurecr\.io$`).MatchString(m.RegistryServer) {
		t.Errorf("registryServer %q is not an Azure Container Registry login server", m.RegistryServer)
	}
	p := m.ExtensionRegistrationParameters
	if p.DefaultScope != "cluster" {
		t.Errorf("defaultScope %q, want cluster", p.DefaultScope)
	}
	if !regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`).MatchString(p.Namespace) {
		t.Errorf("namespace %q: a cluster-scoped extension needs a valid namespace", p.Namespace)
	}
}

func TestMainTemplate(t *testing.T) {
	tpl := readTemplate(t)
	allowed := []string{"Microsoft.ContainerService/managedClusters", "Microsoft.KubernetesConfiguration/extensions"}
	var types []string
	var ext *armResource
	for i, r := range tpl.Resources {
		types = append(types, r.Type)
		if !slices.Contains(allowed, r.Type) {
			t.Errorf("resource type %s: a Kubernetes offer may deploy only %v", r.Type, allowed)
		}
		if r.Type == allowed[1] {
			ext = &tpl.Resources[i]
		}
	}
	slices.Sort(types)
	if !slices.Equal(types, allowed) {
		t.Fatalf("resources %v, want one of each of %v", types, allowed)
	}

	// Azure replaces these when the offer is published.
	for _, v := range []string{"plan-name", "plan-publisher", "plan-offerID", "releaseTrain", "clusterExtensionTypeName"} {
		if tpl.Variables[v] != "DONOTMODIFY" {
			t.Errorf("variable %s = %v, want DONOTMODIFY", v, tpl.Variables[v])
		}
	}
	wantPlan := map[string]string{
		"name": "[variables('plan-name')]", "publisher": "[variables('plan-publisher')]", "product": "[variables('plan-offerID')]",
	}
	if !maps.Equal(ext.Plan, wantPlan) {
		t.Errorf("extension plan %v, want %v", ext.Plan, wantPlan)
	}
	if ext.Properties.ExtensionType != "[variables('clusterExtensionTypeName')]" || ext.Properties.ReleaseTrain != "[variables('releaseTrain')]" {
		t.Errorf("extensionType %q releaseTrain %q: want the DONOTMODIFY variables", ext.Properties.ExtensionType, ext.Properties.ReleaseTrain)
	}

	// Each setting names a chart value and takes a template parameter whose
	// default is the chart's default and whose choices the schema accepts.
	values := defaultValues(t)
	param := regexp.MustCompile(`^\[parameters\('([^']+)'\)\]$`)
	if len(ext.Properties.ConfigurationSettings) == 0 {
		t.Fatal("no configurationSettings")
	}
	for key, expr := range ext.Properties.ConfigurationSettings {
		def, ok := lookupPath(values, key)
		if !ok {
			t.Errorf("configurationSettings %s: no such chart value", key)
			continue
		}
		m := param.FindStringSubmatch(expr)
		if m == nil {
			t.Errorf("configurationSettings %s = %q, want [parameters('...')]", key, expr)
			continue
		}
		p, ok := tpl.Parameters[m[1]]
		if !ok {
			t.Errorf("configurationSettings %s: no parameter %s", key, m[1])
			continue
		}
		if p.DefaultValue != nil && p.DefaultValue != def {
			t.Errorf("parameter %s defaults to %v, chart value %s to %v", m[1], p.DefaultValue, key, def)
		}
		for _, v := range p.AllowedValues {
			if err := validateValue(t, key, v); err != nil {
				t.Errorf("parameter %s allows %v, which the chart rejects: %v", m[1], v, err)
			}
		}
	}

	// A parameter nothing reads is a question the customer answers for nothing.
	raw, err := os.ReadFile(filepath.Join(bundleDir, readManifest(t).ClusterArmTemplate))
	if err != nil {
		t.Fatal(err)
	}
	for name := range tpl.Parameters {
		if !strings.Contains(string(raw), "parameters('"+name+"')") {
			t.Errorf("parameter %s is never used", name)
		}
	}
}

func TestUIDefinitionMatchesTemplate(t *testing.T) {
	ui := readUI(t)
	tpl := readTemplate(t)
	if ui.Handler != "Microsoft.Azure.CreateUIDef" || ui.Version != "0.1.2-preview" {
		t.Errorf("handler %q version %q", ui.Handler, ui.Version)
	}
	for out := range ui.Parameters.Outputs {
		if _, ok := tpl.Parameters[out]; !ok {
			t.Errorf("UI output %s is no template parameter", out)
		}
	}
	for name, p := range tpl.Parameters {
		if _, ok := ui.Parameters.Outputs[name]; !ok && p.DefaultValue == nil {
			t.Errorf("template parameter %s has no default and no UI output", name)
		}
	}
	// Every step or basics element an output reads must exist.
	elements := map[string]uiElement{}
	var walk func(prefix string, els []uiElement)
	walk = func(prefix string, els []uiElement) {
		for _, e := range els {
			elements[prefix+e.Name] = e
			walk(prefix+e.Name+".", e.Elements)
		}
	}
	walk("basics.", ui.Parameters.Basics)
	for _, s := range ui.Parameters.Steps {
		walk(s.Name+".", s.Elements)
	}
	ref := regexp.MustCompile(`steps\('([^']+)'\)\.([\w.]+)|basics\('([^']+)'\)`)
	for out, expr := range ui.Parameters.Outputs {
		for _, m := range ref.FindAllStringSubmatch(expr, -1) {
			path := m[1] + "." + m[2]
			if m[3] != "" {
				path = "basics." + m[3]
			}
			e, ok := elements[path]
			if !ok {
				t.Errorf("output %s reads %s, which is no element", out, path)
				continue
			}
			checkDropDown(t, out, e, tpl.Parameters[out])
		}
	}
}

// checkDropDown: a drop-down offers only values its template parameter
// allows, and its default is the parameter's default.
func checkDropDown(t *testing.T, out string, e uiElement, p armParameter) {
	t.Helper()
	if e.Type != "Microsoft.Common.DropDown" {
		return
	}
	var c struct {
		AllowedValues json.RawMessage `json:"allowedValues"`
	}
	if err := json.Unmarshal(e.Constraints, &c); err != nil {
		t.Errorf("%s: constraints: %v", e.Name, err)
		return
	}
	var choices []struct {
		Label string `json:"label"`
		Value any    `json:"value"`
	}
	if json.Unmarshal(c.AllowedValues, &choices) != nil {
		return // computed from an API call at run time
	}
	for _, ch := range choices {
		if len(p.AllowedValues) > 0 && !slices.Contains(p.AllowedValues, ch.Value) {
			t.Errorf("%s offers %v, which parameter %s does not allow (%v)", e.Name, ch.Value, out, p.AllowedValues)
		}
		// A drop-down's defaultValue is the label of the default choice.
		if ch.Label == e.DefaultValue && p.DefaultValue != nil && ch.Value != p.DefaultValue {
			t.Errorf("%s defaults to %v, parameter %s to %v", e.Name, ch.Value, out, p.DefaultValue)
		}
	}
}

// TestUIDefaultsAndRules: the form's defaults are the chart's, pass the
// form's own rules, and the form admits nothing the chart would refuse.
func TestUIDefaultsAndRules(t *testing.T) {
	ui := readUI(t)
	values := defaultValues(t)
	var app []uiElement
	for _, s := range ui.Parameters.Steps {
		if s.Name == "applicationDetails" {
			app = s.Elements
		}
	}
	byChartKey := map[string]string{"title": "title", "value1": "value1", "value2": "value2"}
	for _, e := range app {
		key, ok := byChartKey[e.Name]
		if !ok {
			continue
		}
		delete(byChartKey, e.Name)
		var c struct {
			Regex string `json:"regex"`
		}
		if err := json.Unmarshal(e.Constraints, &c); err != nil || c.Regex == "" {
			t.Errorf("%s: no regex constraint (%v)", e.Name, err)
			continue
		}
		re, err := regexp.Compile(c.Regex)
		if err != nil {
			t.Errorf("%s: regex %q: %v", e.Name, c.Regex, err)
			continue
		}
		if want, _ := lookupPath(values, key); e.DefaultValue != want {
			t.Errorf("%s defaults to %v, the chart to %v", e.Name, e.DefaultValue, want)
		}
		if s, _ := e.DefaultValue.(string); !re.MatchString(s) {
			t.Errorf("%s: its default %q fails its own regex", e.Name, s)
		}
		// Settings reach Helm as key=value pairs: a comma or an equals sign
		// would split or corrupt them, and "reset" is the reset button.
		for _, bad := range []string{"a,b", "a=b", "a{b}", `a\b`, strings.Repeat("x", 201)} {
			if re.MatchString(bad) {
				t.Errorf("%s: regex %q admits %q", e.Name, c.Regex, bad)
			}
		}
		if err := validateValue(t, key, "Hello World 1.0!"); err != nil {
			t.Errorf("%s: a value the form allows is refused by the chart: %v", e.Name, err)
		}
	}
	for e := range byChartKey {
		t.Errorf("no UI element %s", e)
	}
}

// validateValue checks one chart value against values.schema.json.
func validateValue(t *testing.T, key string, v any) error {
	t.Helper()
	ch := loadChart(t)
	vals, err := chartutil.CoalesceValues(ch, overlay(key, v))
	if err != nil {
		return err
	}
	return chartutil.ValidateAgainstSchema(ch, vals)
}
