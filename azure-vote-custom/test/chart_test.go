package test

import (
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint/support"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const (
	testDigest  = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	redisName   = releaseName + "-azure-vote-custom-redis"
	releaseID   = "azure-extensions-usage-release-identifier"
	secretKey   = "redis-password"
	frontSvc    = "azure-vote-custom-front"
	frontPort   = 8080
	redisPort   = 6379
	generatedPw = 32
)

// scenario is a value set that every structural and Marketplace check runs
// on, with checks of its own.
type scenario struct {
	name  string
	vals  map[string]any
	check func(t *testing.T, r rendered)
}

func scenarios() []scenario {
	return []scenario{
		{
			name: "defaults",
			vals: nil,
			check: func(t *testing.T, r rendered) {
				if n := len(all[policyv1.PodDisruptionBudget](r)); n != 0 {
					t.Errorf("%d PodDisruptionBudgets with one replica, want none", n)
				}
				pw := secretPassword(t, r)
				if len(pw) != generatedPw {
					t.Errorf("generated password has %d characters, want %d", len(pw), generatedPw)
				}
				sts := redisStatefulSet(t, r)
				if len(sts.Spec.VolumeClaimTemplates) != 1 {
					t.Fatalf("redis has %d claim templates, want 1", len(sts.Spec.VolumeClaimTemplates))
				}
				claim := sts.Spec.VolumeClaimTemplates[0]
				if got := claim.Spec.Resources.Requests.Storage().String(); got != "1Gi" {
					t.Errorf("redis claim size %s, want 1Gi", got)
				}
				if claim.Spec.StorageClassName != nil {
					t.Errorf("storageClassName %q, want the cluster default", *claim.Spec.StorageClassName)
				}
				args := strings.Join(container(t, sts.Spec.Template.Spec, "redis").Args, " ")
				if !strings.Contains(args, "--appendonly yes") || !strings.Contains(args, "--dir /data") {
					t.Errorf("redis args %q: want append-only persistence in /data", args)
				}
				svc := named[corev1.Service](t, r, frontSvc)
				if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
					t.Errorf("front service type %s, want LoadBalancer", svc.Spec.Type)
				}
				if !strings.Contains(r.Release.Info.Notes, "kubectl get service "+frontSvc) {
					t.Errorf("NOTES do not tell how to find the public IP:\n%s", r.Release.Info.Notes)
				}
				if !strings.Contains(r.Release.Info.Notes, "emulator") {
					t.Errorf("NOTES do not say usage goes to the emulator without a plan:\n%s", r.Release.Info.Notes)
				}
			},
		},
		{
			name: "digests",
			vals: overlay(
				"global.azure.images.frontend.digest", testDigest,
				"global.azure.images.backend.digest", testDigest,
			),
			check: func(t *testing.T, r rendered) {
				for _, w := range workloads(r) {
					for _, c := range w.Pod.Spec.Containers {
						if !strings.HasSuffix(c.Image, "@"+testDigest) {
							t.Errorf("%s %s: image %q is not pinned by digest", w.Kind, w.Name, c.Image)
						}
					}
				}
			},
		},
		{
			name: "three replicas",
			vals: overlay("replicaCount", 3),
			check: func(t *testing.T, r rendered) {
				d := frontDeployment(t, r)
				if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
					t.Errorf("replicas %v, want 3", d.Spec.Replicas)
				}
				pdb := one[policyv1.PodDisruptionBudget](t, r)
				if pdb.Spec.MinAvailable == nil || *pdb.Spec.MinAvailable != intstr.FromInt32(1) {
					t.Errorf("PDB minAvailable %v, want 1", pdb.Spec.MinAvailable)
				}
				sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
				if err != nil {
					t.Fatal(err)
				}
				if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
					t.Errorf("PDB selector %s does not select the front pods %v", sel, d.Spec.Template.Labels)
				}
				if sel.Matches(labels.Set(redisStatefulSet(t, r).Spec.Template.Labels)) {
					t.Errorf("PDB selector %s also selects the redis pod", sel)
				}
				if len(d.Spec.Template.Spec.TopologySpreadConstraints) == 0 {
					t.Error("no topology spread across nodes with several replicas")
				}
			},
		},
		{
			name: "supplied password",
			vals: overlay("redis.auth.password", "s3cret-Value"),
			check: func(t *testing.T, r rendered) {
				if pw := secretPassword(t, r); pw != "s3cret-Value" {
					t.Errorf("secret holds %q, want the supplied password", pw)
				}
			},
		},
		{
			name: "existing secret",
			vals: overlay("redis.auth.existingSecret", "vote-redis-auth", "redis.auth.existingSecretKey", "pw"),
			check: func(t *testing.T, r rendered) {
				if n := len(all[corev1.Secret](r)); n != 0 {
					t.Errorf("%d Secrets rendered with an existing secret, want none", n)
				}
				refs := []*corev1.EnvVarSource{
					envVar(t, container(t, frontDeployment(t, r).Spec.Template.Spec, "front"), "REDIS_PWD").ValueFrom,
					envVar(t, container(t, redisStatefulSet(t, r).Spec.Template.Spec, "redis"), "REDIS_PASSWORD").ValueFrom,
				}
				for _, ref := range refs {
					if ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != "vote-redis-auth" || ref.SecretKeyRef.Key != "pw" {
						t.Errorf("password read from %+v, want secret vote-redis-auth key pw", ref)
					}
				}
			},
		},
		{
			name: "no persistence, cluster only",
			vals: overlay("redis.persistence.enabled", false, "serviceType", "ClusterIP", "redis.appendonly", false),
			check: func(t *testing.T, r rendered) {
				sts := redisStatefulSet(t, r)
				if len(sts.Spec.VolumeClaimTemplates) != 0 {
					t.Error("claim template rendered with persistence disabled")
				}
				vols := sts.Spec.Template.Spec.Volumes
				if len(vols) != 1 || vols[0].Name != "data" || vols[0].EmptyDir == nil {
					t.Errorf("volumes %+v, want an emptyDir named data", vols)
				}
				if args := strings.Join(container(t, sts.Spec.Template.Spec, "redis").Args, " "); !strings.Contains(args, "--appendonly no") {
					t.Errorf("redis args %q, want --appendonly no", args)
				}
				if !strings.Contains(r.Release.Info.Notes, "kubectl port-forward service/"+frontSvc) {
					t.Errorf("NOTES do not tell how to reach a ClusterIP service:\n%s", r.Release.Info.Notes)
				}
			},
		},
		{
			name: "ServiceMonitor, private usage page, longer drain",
			vals: overlay(
				"metrics.port", 9464,
				"metrics.podAnnotations", false,
				"metrics.serviceMonitor.enabled", true,
				"metrics.serviceMonitor.labels", map[string]any{"release": "prometheus"},
				"usagePage", "private",
				"front.drainSeconds", 30,
			),
			check: func(t *testing.T, r rendered) {
				d := frontDeployment(t, r)
				if _, ok := d.Spec.Template.Annotations["prometheus.io/scrape"]; ok {
					t.Error("scrape annotations with metrics.podAnnotations false")
				}
				front := container(t, d.Spec.Template.Spec, "front")
				if got := envVar(t, front, "USAGE_PAGE").Value; got != "private" {
					t.Errorf("USAGE_PAGE=%q, want private", got)
				}
				if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g != 60 {
					t.Errorf("terminationGracePeriodSeconds %v, want 30 s of drain + 30", g)
				}
				svc := named[corev1.Service](t, r, releaseName+"-azure-vote-custom-metrics")
				if svc.Spec.Type != corev1.ServiceTypeClusterIP || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 9464 {
					t.Errorf("metrics Service %s %+v, want ClusterIP on 9464", svc.Spec.Type, svc.Spec.Ports)
				}
				checkService(t, svc, d.Spec.Template.Labels, 9464, "metrics")
				sm := one[serviceMonitor](t, r)
				sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
				if err != nil || !sel.Matches(labels.Set(svc.Labels)) {
					t.Errorf("ServiceMonitor selector %v does not select the metrics Service %v", sm.Spec.Selector, svc.Labels)
				}
				if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" || sm.Spec.Endpoints[0].Path != "/metrics" {
					t.Errorf("ServiceMonitor endpoints %+v", sm.Spec.Endpoints)
				}
				if sm.Labels["release"] != "prometheus" {
					t.Errorf("ServiceMonitor labels %v lack the extra ones", sm.Labels)
				}
				if !strings.Contains(r.Release.Info.Notes, "kubectl port-forward deployment/"+releaseName+"-azure-vote-custom-front") {
					t.Errorf("NOTES do not tell how to reach the private usage page:\n%s", r.Release.Info.Notes)
				}
			},
		},
		{
			name: "storage class and scheduling",
			vals: overlay(
				"redis.persistence.storageClass", "managed-csi-premium",
				"redis.persistence.size", "8Gi",
				"nodeSelector", map[string]any{"kubernetes.io/os": "linux"},
				"tolerations", []any{map[string]any{"key": "dedicated", "operator": "Equal", "value": "vote", "effect": "NoSchedule"}},
			),
			check: func(t *testing.T, r rendered) {
				claim := redisStatefulSet(t, r).Spec.VolumeClaimTemplates[0]
				if sc := claim.Spec.StorageClassName; sc == nil || *sc != "managed-csi-premium" {
					t.Errorf("storage class %v, want managed-csi-premium", sc)
				}
				if got := claim.Spec.Resources.Requests.Storage().String(); got != "8Gi" {
					t.Errorf("claim size %s, want 8Gi", got)
				}
				for _, w := range workloads(r) {
					if w.Pod.Spec.NodeSelector["kubernetes.io/os"] != "linux" || len(w.Pod.Spec.Tolerations) != 1 {
						t.Errorf("%s %s: scheduling values not applied", w.Kind, w.Name)
					}
				}
			},
		},
	}
}

func TestLint(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			l := action.NewLint()
			l.Strict = true
			l.Namespace = namespace
			res := l.Run([]string{chartDir}, sc.vals)
			for _, err := range res.Errors {
				t.Errorf("lint error: %v", err)
			}
			for _, m := range res.Messages {
				// Info (e.g. "icon is recommended") is advice, not a defect.
				if m.Severity > support.InfoSev {
					t.Errorf("lint: %s", m)
				}
			}
		})
	}
}

// TestRender renders each scenario, decodes every object strictly into its
// Kubernetes type and applies the checks every install must pass.
func TestRender(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			r := mustInstall(t, sc.vals)
			checkObjects(t, r)
			checkMarketplaceRules(t, r, sc.vals)
			checkSecurity(t, r)
			checkProbes(t, r)
			checkWiring(t, r)
			checkMetricsPort(t, r)
			sc.check(t, r)
		})
	}
}

// checkObjects: the expected set of objects, in the release's namespace,
// with the standard labels.
func checkObjects(t *testing.T, r rendered) {
	t.Helper()
	want := []string{"ConfigMap", "Deployment", "Service", "Service", "StatefulSet"}
	var got []string
	for _, o := range r.Objects {
		optional := o.Kind == "Secret" || o.Kind == "PodDisruptionBudget" || o.Kind == "ServiceMonitor" ||
			(o.Kind == "Service" && strings.HasSuffix(o.Name, "-metrics"))
		if !optional {
			got = append(got, o.Kind)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("rendered kinds %v, want %v (plus Secret and PodDisruptionBudget when enabled)", got, want)
	}
	for _, o := range r.Objects {
		meta := o.Value.(metav1.Object)
		if meta.GetNamespace() != namespace {
			t.Errorf("%s %s: namespace %q, want %q", o.Kind, o.Name, meta.GetNamespace(), namespace)
		}
		for _, l := range []string{
			"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
			"app.kubernetes.io/managed-by", "app.kubernetes.io/component", "helm.sh/chart",
		} {
			if meta.GetLabels()[l] == "" {
				t.Errorf("%s %s: no label %s", o.Kind, o.Name, l)
			}
		}
		if got := meta.GetLabels()["app.kubernetes.io/instance"]; got != releaseName {
			t.Errorf("%s %s: instance label %q, want %q", o.Kind, o.Name, got, releaseName)
		}
	}
}

// checkMarketplaceRules: the rules Marketplace applies to the rendered chart.
func checkMarketplaceRules(t *testing.T, r rendered, vals map[string]any) {
	t.Helper()
	wantImage := map[string]string{
		"front": imageRef(t, vals, "frontend"),
		"redis": imageRef(t, vals, "backend"),
	}
	ws := workloads(r)
	if len(ws) != 2 {
		t.Fatalf("%d workloads, want the front Deployment and the redis StatefulSet", len(ws))
	}
	for _, w := range ws {
		// Marketplace's billing finds the pods of an install by this label.
		if got := w.Pod.Labels[releaseID]; got != releaseName {
			t.Errorf("%s %s: pod label %s=%q, want %q", w.Kind, w.Name, releaseID, got, releaseName)
		}
		// Nothing may be fetched at run time from outside the bundle.
		if len(w.Pod.Spec.InitContainers) != 0 || len(w.Pod.Spec.EphemeralContainers) != 0 {
			t.Errorf("%s %s: init or ephemeral containers", w.Kind, w.Name)
		}
		for _, c := range w.Pod.Spec.Containers {
			if want, ok := wantImage[c.Name]; !ok || c.Image != want {
				t.Errorf("%s %s container %s: image %q, want %q from global.azure.images", w.Kind, w.Name, c.Name, c.Image, want)
			}
			if c.Resources.Requests.Cpu().IsZero() {
				t.Errorf("%s %s container %s: no CPU request", w.Kind, w.Name, c.Name)
			}
			cmd := strings.Join(append(slices.Clone(c.Command), c.Args...), " ")
			for _, bad := range []string{"://", "curl", "wget", "helm ", "kubectl"} {
				if strings.Contains(cmd, bad) {
					t.Errorf("%s %s container %s: command %q fetches or installs at run time (%q)", w.Kind, w.Name, c.Name, cmd, bad)
				}
			}
		}
	}
}

// checkSecurity: both pods run as non-root with the restricted profile.
func checkSecurity(t *testing.T, r rendered) {
	t.Helper()
	for _, w := range workloads(r) {
		spec := w.Pod.Spec
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			t.Errorf("%s %s: the service account token is mounted; the app never calls the API server", w.Kind, w.Name)
		}
		psc := spec.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
			t.Errorf("%s %s: pod securityContext %+v, want runAsNonRoot with a numeric non-zero user", w.Kind, w.Name, psc)
		}
		for _, c := range spec.Containers {
			sc := c.SecurityContext
			switch {
			case sc == nil:
				t.Errorf("%s/%s: no securityContext", w.Name, c.Name)
				continue
			case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
				t.Errorf("%s/%s: runAsNonRoot not set", w.Name, c.Name)
			case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
				t.Errorf("%s/%s: root filesystem writable", w.Name, c.Name)
			case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
				t.Errorf("%s/%s: privilege escalation allowed", w.Name, c.Name)
			case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0:
				t.Errorf("%s/%s: capabilities %+v, want drop ALL and add none", w.Name, c.Name, sc.Capabilities)
			case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
				t.Errorf("%s/%s: seccomp %+v, want RuntimeDefault", w.Name, c.Name, sc.SeccompProfile)
			case sc.Privileged != nil && *sc.Privileged:
				t.Errorf("%s/%s: privileged", w.Name, c.Name)
			}
		}
	}
}

// checkProbes: the front is ready only when its store answers and alive as
// long as its process serves; Redis is probed without a shell.
func checkProbes(t *testing.T, r rendered) {
	t.Helper()
	front := container(t, frontDeployment(t, r).Spec.Template.Spec, "front")
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		{"readiness", front.ReadinessProbe, "/readyz"},
		{"liveness", front.LivenessProbe, "/healthz"},
	} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("front %s probe %+v, want GET %s", p.name, p.probe, p.path)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port != intstr.FromString("http") {
			t.Errorf("front %s probe GET %s on %s, want %s on http", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
		}
	}
	redis := container(t, redisStatefulSet(t, r).Spec.Template.Spec, "redis")
	if p := redis.ReadinessProbe; p == nil || p.Exec == nil || !slices.Equal(p.Exec.Command, []string{"redis-cli", "ping"}) {
		t.Errorf("redis readiness probe %+v, want exec redis-cli ping", p)
	}
	if p := redis.LivenessProbe; p == nil || p.TCPSocket == nil {
		t.Errorf("redis liveness probe %+v, want a TCP check", p)
	}
	// redis-cli authenticates from REDISCLI_AUTH, so the probe needs it.
	if ref := envVar(t, redis, "REDISCLI_AUTH").ValueFrom; ref == nil || ref.SecretKeyRef == nil {
		t.Error("REDISCLI_AUTH is not read from the password secret")
	}
}

// checkWiring: services select the right pods and ports, the front reaches
// Redis through its service and with its password.
func checkWiring(t *testing.T, r rendered) {
	t.Helper()
	d := frontDeployment(t, r)
	sts := redisStatefulSet(t, r)
	front := container(t, d.Spec.Template.Spec, "front")
	redis := container(t, sts.Spec.Template.Spec, "redis")

	if !slices.ContainsFunc(front.Ports, func(p corev1.ContainerPort) bool { return p.Name == "http" && p.ContainerPort == frontPort }) {
		t.Errorf("front ports %+v, want http on %d", front.Ports, frontPort)
	}
	checkService(t, named[corev1.Service](t, r, frontSvc), d.Spec.Template.Labels, 80, "http")
	checkService(t, named[corev1.Service](t, r, redisName), sts.Spec.Template.Labels, redisPort, "redis")
	if sts.Spec.ServiceName != redisName {
		t.Errorf("StatefulSet serviceName %q, want %q", sts.Spec.ServiceName, redisName)
	}
	if got := envVar(t, front, "REDIS").Value; got != redisName+":6379" {
		t.Errorf("REDIS=%q, want %s:6379", got, redisName)
	}
	if got := envVar(t, front, "PORT").Value; got != "8080" {
		t.Errorf("PORT=%q, want 8080", got)
	}
	fromFront := envVar(t, front, "REDIS_PWD").ValueFrom
	fromRedis := envVar(t, redis, "REDIS_PASSWORD").ValueFrom
	if fromFront == nil || fromRedis == nil || fromFront.SecretKeyRef == nil || fromRedis.SecretKeyRef == nil ||
		*fromFront.SecretKeyRef != *fromRedis.SecretKeyRef {
		t.Errorf("front reads the password from %+v, redis from %+v: want the same secret key", fromFront, fromRedis)
	}
	if !slices.Contains(redis.Args, "$(REDIS_PASSWORD)") {
		t.Errorf("redis args %q do not require the password", redis.Args)
	}
	cm := named[corev1.ConfigMap](t, r, releaseName+"-azure-vote-custom-config")
	if !slices.ContainsFunc(front.EnvFrom, func(e corev1.EnvFromSource) bool {
		return e.ConfigMapRef != nil && e.ConfigMapRef.Name == cm.Name
	}) {
		t.Errorf("front does not read ConfigMap %s", cm.Name)
	}
	for _, s := range all[corev1.Secret](r) {
		if s.Name != redisName || len(s.Data[secretKey]) == 0 {
			t.Errorf("secret %s with keys %v, want %s with %s", s.Name, slices.Sorted(maps.Keys(s.Data)), redisName, secretKey)
		}
	}
}

func checkService(t *testing.T, svc *corev1.Service, podLabels map[string]string, port int32, target string) {
	t.Helper()
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(podLabels)) {
		t.Errorf("service %s selector %v does not select pods %v", svc.Name, svc.Spec.Selector, podLabels)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != port || svc.Spec.Ports[0].TargetPort != intstr.FromString(target) {
		t.Errorf("service %s ports %+v, want %d -> %s", svc.Name, svc.Spec.Ports, port, target)
	}
}

// TestImageLinesReadGlobalValues checks the template source, as Marketplace's
// packaging tool does: every image is spelled out from global.azure.images,
// so the tool can find, copy and re-point it.
func TestImageLinesReadGlobalValues(t *testing.T) {
	imageLine := regexp.MustCompile(`^\s*(?:-\s*)?image:\s*(.*)$`)
	// registry/image, then @digest or :tag of the same image key, no helpers.
	ref := `\{\{\s*\.Values\.global\.azure\.images\.%[1]s\.%[2]s\s*\}\}`
	used := map[string]bool{}
	ch := loadChart(t)
	for _, f := range ch.Templates {
		for i, line := range strings.Split(string(f.Data), "\n") {
			m := imageLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			key := regexp.MustCompile(`\.Values\.global\.azure\.images\.(\w+)\.registry`).FindStringSubmatch(m[1])
			if key == nil {
				t.Errorf("%s:%d: image %q does not read global.azure.images.<name>.registry", f.Name, i+1, m[1])
				continue
			}
			name := key[1]
			full := regexp.MustCompile(`^"?` + fmt.Sprintf(ref, name, "registry") + `/` + fmt.Sprintf(ref, name, "image") +
				`(?:\{\{\s*if\s+\.Values\.global\.azure\.images\.` + name + `\.digest\s*\}\}@` + fmt.Sprintf(ref, name, "digest") +
				`\{\{\s*else\s*\}\}:` + fmt.Sprintf(ref, name, "tag") + `\{\{\s*end\s*\}\}` +
				`|:` + fmt.Sprintf(ref, name, "tag") + `|@` + fmt.Sprintf(ref, name, "digest") + `)"?\s*$`)
			if !full.MatchString(m[1]) {
				t.Errorf("%s:%d: image %q is not registry/image with the tag or digest of global.azure.images.%s", f.Name, i+1, m[1], name)
			}
			used[name] = true
		}
	}
	images, ok := lookupPath(defaultValues(t), "global.azure.images")
	if !ok {
		t.Fatal("values.yaml has no global.azure.images")
	}
	for name := range images.(map[string]any) {
		if !used[name] {
			t.Errorf("global.azure.images.%s is used by no template: the bundle would ship an image nothing runs", name)
		}
	}
	if len(used) == 0 {
		t.Fatal("no image lines found in the templates")
	}
}

// TestChartContents: no packaged subcharts, no dependencies, and .helmignore
// keeps the bundle files and the tests out of the chart.
func TestChartContents(t *testing.T) {
	ch := loadChart(t)
	if len(ch.Metadata.Dependencies) != 0 || len(ch.Dependencies()) != 0 {
		t.Errorf("chart has dependencies %v; Marketplace wants every file unpacked in one chart", ch.Metadata.Dependencies)
	}
	if ch.Metadata.APIVersion != "v2" || ch.Metadata.Name != "azure-vote-custom" {
		t.Errorf("Chart.yaml apiVersion %q name %q, want v2 azure-vote-custom", ch.Metadata.APIVersion, ch.Metadata.Name)
	}
	err := filepath.WalkDir(chartDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if n := d.Name(); strings.HasSuffix(n, ".tgz") || strings.HasSuffix(n, ".tar.gz") {
			t.Errorf("archive %s in the chart folder; Marketplace rejects packed charts", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range ch.Raw {
		names = append(names, f.Name)
	}
	for _, n := range names {
		if slices.Contains([]string{"manifest.yaml", "mainTemplate.json", "createUIDefinition.json"}, n) || strings.HasPrefix(n, "test/") {
			t.Errorf("%s is packaged into the chart; .helmignore should leave it out", n)
		}
	}
	for _, want := range []string{"Chart.yaml", "values.yaml", "values.schema.json", "templates/NOTES.txt"} {
		if !slices.Contains(names, want) {
			t.Errorf("%s missing from the chart", want)
		}
	}
}

// TestSchema checks that values.schema.json rejects what would break the app
// or the offer, and accepts what Azure adds under global.
func TestSchema(t *testing.T) {
	ch := loadChart(t)
	cases := []struct {
		name    string
		vals    map[string]any
		wantErr string // a fragment of the error; empty means valid
	}{
		{"defaults", nil, ""},
		{"azure adds its own global keys", overlay(
			"global.azure.billingIdentifier", "x",
			"global.azure.identity.objectId", "y",
			"global.azure.marketplace.offerId", "z",
		), ""},
		{"digest with tag", overlay("global.azure.images.backend.digest", testDigest), ""},
		{"price and included as numbers", overlay("metering.price", 0.01, "metering.included", 1000), ""},
		{"price as a string", overlay("metering.price", "0.25"), ""},
		{"tiers", overlay("metering.tiers", "1000:0.01,10000:0.008"), ""},
		{"tiers without a price", overlay("metering.tiers", "1000"), "tiers"},
		{"replicaCount as a word", overlay("replicaCount", "three"), "/replicaCount"},
		{"no replicas", overlay("replicaCount", 0), "/replicaCount"},
		{"unknown key", overlay("titel", "Vote"), "titel"},
		{"unknown nested key", overlay("front.resource", map[string]any{}), "resource"},
		{"missing image tag", overlay("global.azure.images.frontend.tag", nil), "tag"},
		{"bad digest", overlay("global.azure.images.frontend.digest", "sha256:abc"), "/global/azure/images/frontend/digest"},
		{"image with a tag inside", overlay("global.azure.images.backend.image", "redis:7"), "/global/azure/images/backend/image"},
		{"unknown service type", overlay("serviceType", "Public"), "/serviceType"},
		{"bad service name", overlay("serviceNameFront", "Vote_Front"), "/serviceNameFront"},
		{"reset as a choice", overlay("value1", "Reset"), "/value1"},
		{"empty title", overlay("title", ""), "/title"},
		{"no cpu request", overlay("front.resources.requests.cpu", nil), "cpu"},
		{"bad memory limit", overlay("redis.resources.limits.memory", "lots"), "/redis/resources/limits/memory"},
		{"bad volume size", overlay("redis.persistence.size", "big"), "/redis/persistence/size"},
		{"grace in words", overlay("metering.grace", "5 minutes"), "/metering/grace"},
		{"plain http endpoint", overlay("metering.endpoint", "http://metering.example.com/api"), "/metering/endpoint"},
		{"endpoint without /api", overlay("metering.endpoint", "https://metering.example.com"), "/metering/endpoint"},
		{"dimension with a space", overlay("metering.dimension", "per vote"), "/metering/dimension"},
		{"schedule with four fields", overlay("metering.schedule", "5 * * *"), "/metering/schedule"},
		{"negative price", overlay("metering.price", -1), "/metering/price"},
		{"price in words", overlay("metering.price", "cheap"), "/metering/price"},
		{"log level", overlay("logLevel", "verbose"), "/logLevel"},
		{"showHost as a string", overlay("showHost", "yes"), "/showHost"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vals, err := chartutil.CoalesceValues(ch, tc.vals)
			if err != nil {
				t.Fatal(err)
			}
			err = chartutil.ValidateAgainstSchema(ch, vals)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("rejected: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("accepted; want an error about %s", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("error %q does not mention %s", err, tc.wantErr)
			}
		})
	}
}

// TestTemplateChecks: what the schema cannot say fails the install with a
// clear message instead of a crash-looping pod.
func TestTemplateChecks(t *testing.T) {
	cases := []struct {
		name    string
		vals    map[string]any
		wantErr string
	}{
		{"same choices", overlay("value1", "Tea", "value2", "Tea"), "value1 and value2 must differ"},
		{"usage button named like a choice", overlay("getvalue", "Dogs"), "getvalue must differ"},
		{"password and existing secret", overlay("redis.auth.password", "x", "redis.auth.existingSecret", "s"), "not both"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := install(t, tc.vals)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("install error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func secretPassword(t *testing.T, r rendered) string {
	t.Helper()
	s := named[corev1.Secret](t, r, redisName)
	return string(s.Data[secretKey])
}

func envVar(t *testing.T, c corev1.Container, name string) corev1.EnvVar {
	t.Helper()
	for _, e := range c.Env {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("container %s has no env %s", c.Name, name)
	return corev1.EnvVar{}
}
