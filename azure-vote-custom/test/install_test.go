package test

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/strvals"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// previousChart is the chart as the last release shipped it: upgrades start
// from there.
const previousChart = "testdata/chart-2.0.0"

// extensionSettings are values as the AKS extension manager applies them:
// its own Azure.* keys, the Marketplace identity under global.azure, the
// images pinned by digest at publication, and the customer's settings from
// the purchase form, all with --set semantics (so a title of 123 arrives as
// a number and true as a boolean).
var extensionSettings = []string{
	"Azure.Cluster.Region=westeurope",
	"Azure.Cluster.Distribution=aks",
	"Azure.Cluster.Type=managedclusters",
	"Azure.Extension.Name=vote",
	"Azure.Extension.ResourceId=/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks/providers/Microsoft.KubernetesConfiguration/extensions/vote",
	"Azure.Identity.Type=SystemAssigned",
	"Azure.proxySettings.isProxyEnabled=false",
	"global.azure.identity.clientId=11111111-1111-1111-1111-111111111111",
	"global.azure.marketplace.planId=standard",
	"global.azure.extension.resourceId=/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks/providers/Microsoft.KubernetesConfiguration/extensions/vote",
	"global.azure.images.frontend.digest=" + testDigest,
	"global.azure.images.backend.digest=" + testDigest,
	"title=123",
	"value1=true",
	"value2=Dogs",
	"serviceType=ClusterIP",
	"usagePage=private",
}

// setValues parses key=value settings exactly as `helm --set` does.
func setValues(t *testing.T, settings ...string) map[string]any {
	t.Helper()
	vals := map[string]any{}
	for _, s := range settings {
		if err := strvals.ParseInto(s, vals); err != nil {
			t.Fatalf("--set %s: %v", s, err)
		}
	}
	return vals
}

// helmOn is Helm's action configuration against the test's API server.
func helmOn(t *testing.T, k *kubeAPI, ns string) *action.Configuration {
	t.Helper()
	cfg := new(action.Configuration)
	if err := cfg.Init(k.RESTClientGetter(ns), ns, "secret", func(string, ...any) {}); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func helmInstall(t *testing.T, k *kubeAPI, ns string, ch *chart.Chart, vals map[string]any) (*release.Release, error) {
	t.Helper()
	in := action.NewInstall(helmOn(t, k, ns))
	in.ReleaseName, in.Namespace, in.CreateNamespace = releaseName, ns, true
	in.Timeout = time.Minute
	return in.Run(ch, vals)
}

func helmUpgrade(t *testing.T, k *kubeAPI, ns string, ch *chart.Chart, vals map[string]any) *release.Release {
	t.Helper()
	up := action.NewUpgrade(helmOn(t, k, ns))
	up.Namespace, up.Timeout = ns, time.Minute
	rel, err := up.Run(releaseName, ch, vals)
	if err != nil {
		t.Fatalf("upgrade to chart %s: %v", ch.Metadata.Version, err)
	}
	return rel
}

// TestInstallOnAPIServer installs, upgrades, rolls back and uninstalls the
// chart with Helm's library against a real kube-apiserver: every object is
// validated, defaulted and admitted by the server, and an error carries the
// server's own message.
func TestInstallOnAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver")
	}
	k := startKubeAPI(t)
	ctx := context.Background()

	t.Run("default values", func(t *testing.T) {
		const ns = "defaults"
		rel, err := helmInstall(t, k, ns, loadChart(t), nil)
		if err != nil {
			t.Fatalf("install: %v", err)
		}
		if rel.Info.Status != release.StatusDeployed {
			t.Fatalf("release %s", rel.Info.Status)
		}
		d := getDeployment(t, k, ns)
		front := container(t, d.Spec.Template.Spec, "front")
		if d.Spec.Template.Spec.TerminationGracePeriodSeconds == nil || *d.Spec.Template.Spec.TerminationGracePeriodSeconds <= 10 {
			t.Errorf("terminationGracePeriodSeconds %v: must outlast the 10 s drain", d.Spec.Template.Spec.TerminationGracePeriodSeconds)
		}
		if got := envValue(front, "SHUTDOWN_DRAIN"); got != "10s" {
			t.Errorf("SHUTDOWN_DRAIN=%q, want 10s", got)
		}
		svc, err := k.Client.CoreV1().Services(ns).Get(ctx, frontSvc, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 80 {
			t.Errorf("front Service %s %+v: want a LoadBalancer on port 80 only", svc.Spec.Type, svc.Spec.Ports)
		}
		sec, err := k.Client.CoreV1().Secrets(ns).Get(ctx, redisName, metav1.GetOptions{})
		if err != nil || len(sec.Data[secretKey]) != generatedPw {
			t.Errorf("password Secret: %v, %d characters", err, len(sec.Data[secretKey]))
		}
	})

	t.Run("extension manager values", func(t *testing.T) {
		const ns = "marketplace"
		if _, err := helmInstall(t, k, ns, loadChart(t), setValues(t, extensionSettings...)); err != nil {
			t.Fatalf("install: %v", err)
		}
		d := getDeployment(t, k, ns)
		front := container(t, d.Spec.Template.Spec, "front")
		for name, want := range map[string]string{"TITLE": "123", "VOTE1VALUE": "true", "VOTE2VALUE": "Dogs", "USAGE_PAGE": "private"} {
			if got := envValue(front, name); got != want {
				t.Errorf("%s=%q, want %q", name, got, want)
			}
		}
		sts, err := k.Client.AppsV1().StatefulSets(ns).Get(ctx, redisName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range append(d.Spec.Template.Spec.Containers, sts.Spec.Template.Spec.Containers...) {
			if !strings.HasSuffix(c.Image, "@"+testDigest) {
				t.Errorf("container %s: image %q, want it pinned by digest", c.Name, c.Image)
			}
		}
		cm, err := k.Client.CoreV1().ConfigMaps(ns).Get(ctx, releaseName+"-azure-vote-custom-config", metav1.GetOptions{})
		if err != nil || cm.Data["PLAN_ID"] != "standard" {
			t.Errorf("ConfigMap %v: %v", cm.Data, err)
		}
	})

	t.Run("upgrade from the previous chart, rollback, uninstall", func(t *testing.T) {
		const ns = "upgrade"
		prev, err := loader.Load(previousChart)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := helmInstall(t, k, ns, prev, nil); err != nil {
			t.Fatalf("install chart %s: %v", prev.Metadata.Version, err)
		}
		password := func() string {
			sec, err := k.Client.CoreV1().Secrets(ns).Get(ctx, redisName, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return string(sec.Data[secretKey])
		}
		before, stsBefore := password(), getStatefulSet(t, k, ns)

		// The server refuses a change to a StatefulSet's immutable fields;
		// comparing them says which one moved if it ever does.
		helmUpgrade(t, k, ns, loadChart(t), nil)
		if after := password(); after != before || len(after) != generatedPw {
			t.Errorf("the upgrade changed the Redis password: Redis keeps its old one until it restarts")
		}
		stsAfter := getStatefulSet(t, k, ns)
		for field, v := range map[string][2]any{
			"selector":             {stsBefore.Spec.Selector, stsAfter.Spec.Selector},
			"serviceName":          {stsBefore.Spec.ServiceName, stsAfter.Spec.ServiceName},
			"volumeClaimTemplates": {stsBefore.Spec.VolumeClaimTemplates, stsAfter.Spec.VolumeClaimTemplates},
			"podManagementPolicy":  {stsBefore.Spec.PodManagementPolicy, stsAfter.Spec.PodManagementPolicy},
		} {
			if !reflect.DeepEqual(v[0], v[1]) {
				t.Errorf("the upgrade changed the StatefulSet's %s:\n%+v\n%+v", field, v[0], v[1])
			}
		}

		helmUpgrade(t, k, ns, loadChart(t), setValues(t, "title=Rolled forward"))
		if got := envValue(container(t, getDeployment(t, k, ns).Spec.Template.Spec, "front"), "TITLE"); got != "Rolled forward" {
			t.Fatalf("TITLE=%q after the upgrade", got)
		}
		rb := action.NewRollback(helmOn(t, k, ns))
		rb.Version, rb.Timeout = 2, time.Minute
		if err := rb.Run(releaseName); err != nil {
			t.Fatalf("rollback: %v", err)
		}
		if got := envValue(container(t, getDeployment(t, k, ns).Spec.Template.Spec, "front"), "TITLE"); got != "Azure Vote Custom App" {
			t.Errorf("TITLE=%q after the rollback, want revision 2's", got)
		}
		if after := password(); after != before {
			t.Error("the rollback changed the Redis password")
		}

		un := action.NewUninstall(helmOn(t, k, ns))
		un.Timeout = time.Minute
		if _, err := un.Run(releaseName); err != nil {
			t.Fatalf("uninstall: %v", err)
		}
		if _, err := k.Client.AppsV1().Deployments(ns).Get(ctx, releaseName+"-azure-vote-custom-front", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("front Deployment after uninstall: %v, want not found", err)
		}
		left, err := k.Client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range left.Items {
			t.Errorf("Secret %s left after uninstall", s.Name)
		}
	})

	// A password Secret the release did not make (a `helm template`
	// render applied earlier, or one made by hand) is used as it is.
	t.Run("existing password secret", func(t *testing.T) {
		const ns = "adopt"
		if _, err := k.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		existing := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: redisName, Namespace: ns},
			Data:       map[string][]byte{secretKey: []byte("made-beforehand")},
		}
		if _, err := k.Client.CoreV1().Secrets(ns).Create(ctx, existing, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		rel, err := helmInstall(t, k, ns, loadChart(t), nil)
		if err != nil {
			t.Fatalf("install beside an existing password Secret: %v", err)
		}
		sec, err := k.Client.CoreV1().Secrets(ns).Get(ctx, redisName, metav1.GetOptions{})
		if err != nil || string(sec.Data[secretKey]) != "made-beforehand" {
			t.Errorf("password Secret after install: %v, %q", err, sec.Data[secretKey])
		}
		ref := envFrom(container(t, getDeployment(t, k, ns).Spec.Template.Spec, "front"), "REDIS_PWD")
		if ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != redisName || ref.SecretKeyRef.Key != secretKey {
			t.Errorf("REDIS_PWD from %+v, want the existing Secret", ref)
		}
		if !strings.Contains(rel.Info.Notes, "Password: secret "+redisName) {
			t.Errorf("NOTES do not name the password Secret:\n%s", rel.Info.Notes)
		}
		helmUpgrade(t, k, ns, loadChart(t), nil)
		if sec, _ := k.Client.CoreV1().Secrets(ns).Get(ctx, redisName, metav1.GetOptions{}); sec == nil || string(sec.Data[secretKey]) != "made-beforehand" {
			t.Error("the upgrade replaced the existing password Secret")
		}
	})

	// What only the server checks comes back with the server's message.
	t.Run("server-side validation", func(t *testing.T) {
		_, err := helmInstall(t, k, "refused", loadChart(t), overlay("nodeSelector", map[string]any{"not a label key!": "x"}))
		if err == nil || !strings.Contains(err.Error(), "nodeSelector") || !strings.Contains(err.Error(), "name part must consist of") {
			t.Errorf("install with an invalid label key: %v, want the server's validation message", err)
		}
	})
}

func getDeployment(t *testing.T, k *kubeAPI, ns string) *appsv1.Deployment {
	t.Helper()
	d, err := k.Client.AppsV1().Deployments(ns).Get(context.Background(), releaseName+"-azure-vote-custom-front", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func getStatefulSet(t *testing.T, k *kubeAPI, ns string) *appsv1.StatefulSet {
	t.Helper()
	s, err := k.Client.AppsV1().StatefulSets(ns).Get(context.Background(), redisName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func envFrom(c corev1.Container, name string) *corev1.EnvVarSource {
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
	if i < 0 {
		return nil
	}
	return c.Env[i].ValueFrom
}
