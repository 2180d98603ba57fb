package test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// apiServer is the sliver of the Kubernetes API that Helm's lookup uses:
// discovery of the core group and GET of one Secret. It records the paths
// asked for.
type apiServer struct {
	secrets map[string]corev1.Secret // by name, in namespace

	mu   sync.Mutex
	hits []string
}

func (s *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits = append(s.hits, r.Method+" "+r.URL.Path)
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	secretsPath := "/api/v1/namespaces/" + namespace + "/secrets/"
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1":
		writeJSON(w, http.StatusOK, metav1.APIResourceList{
			TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
			GroupVersion: "v1",
			APIResources: []metav1.APIResource{{Name: "secrets", Namespaced: true, Kind: "Secret", Verbs: metav1.Verbs{"get"}}},
		})
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, secretsPath):
		name := strings.TrimPrefix(r.URL.Path, secretsPath)
		if sec, ok := s.secrets[name]; ok {
			sec.TypeMeta = metav1.TypeMeta{Kind: "Secret", APIVersion: "v1"}
			writeJSON(w, http.StatusOK, sec)
			return
		}
		writeJSON(w, http.StatusNotFound, metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status:   metav1.StatusFailure,
			Reason:   metav1.StatusReasonNotFound,
			Code:     http.StatusNotFound,
			Message:  `secrets "` + name + `" not found`,
		})
	default:
		http.NotFound(w, r)
	}
}

func (s *apiServer) asked(path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.hits {
		if h == "GET "+path {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// renderAgainst renders the chart with lookup talking to api, as an upgrade
// (`helm upgrade`) does against a live cluster.
func renderAgainst(t *testing.T, api *apiServer, vals map[string]any) map[string]string {
	t.Helper()
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)

	ch := loadChart(t)
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = *testKubeVersion(t)
	opts := chartutil.ReleaseOptions{Name: releaseName, Namespace: namespace, Revision: 2, IsUpgrade: true}
	renderVals, err := chartutil.ToRenderValues(ch, vals, opts, caps)
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.RenderWithClient(ch, renderVals, &rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return out
}

// TestRedisPasswordKeptOnUpgrade: the generated password is read back from
// the cluster on upgrade. A new one would lock the app out of its data until
// Redis restarted, and Redis keeps no password on disk to fall back on.
func TestRedisPasswordKeptOnUpgrade(t *testing.T) {
	existing := corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: redisName, Namespace: namespace},
		Data:       map[string][]byte{secretKey: []byte("kept-from-install")},
	}
	cases := []struct {
		name    string
		secrets map[string]corev1.Secret
		vals    map[string]any
		want    string // empty: a new random password
	}{
		{"secret exists", map[string]corev1.Secret{redisName: existing}, nil, "kept-from-install"},
		{"first install", nil, nil, ""},
		{"password supplied", map[string]corev1.Secret{redisName: existing}, overlay("redis.auth.password", "rotated"), "rotated"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api := &apiServer{secrets: tc.secrets}
			out := renderAgainst(t, api, tc.vals)
			objs, err := decodeManifest(out["azure-vote-custom/templates/secret.yaml"])
			if err != nil || len(objs) != 1 {
				t.Fatalf("secret.yaml: %d objects, %v", len(objs), err)
			}
			got := string(objs[0].Value.(*corev1.Secret).Data[secretKey])
			switch {
			case tc.want != "" && got != tc.want:
				t.Errorf("password %q, want %q", got, tc.want)
			case tc.want == "" && (len(got) != generatedPw || got == "kept-from-install"):
				t.Errorf("password %q, want a new random one of %d characters", got, generatedPw)
			}
			if tc.vals == nil && !api.asked("/api/v1/namespaces/"+namespace+"/secrets/"+redisName) {
				t.Error("the chart never looked for the existing secret")
			}
		})
	}
}
