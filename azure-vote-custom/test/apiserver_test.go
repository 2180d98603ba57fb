package test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// apiServerModule builds kube-apiserver (a module of its own, so Kubernetes'
// dependency graph stays out of this one).
const apiServerModule = "apiserver"

// kubeAPI is a real Kubernetes API server with its own etcd, both on
// loopback ports, for the life of one test. Nothing runs pods: objects are
// validated, defaulted and admitted by the real server, and stored.
type kubeAPI struct {
	URL    string
	CAFile string
	Token  string
	Client *kubernetes.Clientset
	Config *rest.Config

	cacheDir string // Helm's discovery cache, the test's own
}

// startKubeAPI starts etcd and kube-apiserver and waits until the server is
// ready. etcd comes from Debian's etcd-server package; kube-apiserver is
// built from the Go module proxy (see buildAPIServer).
func startKubeAPI(t *testing.T) *kubeAPI {
	t.Helper()
	etcdBin, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatal("etcd is not installed: `make test` installs it, or: sudo apt-get install -y etcd-server")
	}
	apiserverBin := buildAPIServer(t)
	dir := t.TempDir()

	etcdPort, peerPort, apiPort := freePort(t), freePort(t), freePort(t)
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	etcdExited := startProcess(t, "etcd", etcdBin,
		"--name=chart-test",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=chart-test="+peerURL,
		"--log-level=error",
	)
	waitUntil(t, 30*time.Second, "etcd", etcdExited, func() error { return httpOK(http.DefaultClient, etcdURL+"/health", "") })

	certs := writeCerts(t, dir)
	token := "chart-tests-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	tokens := filepath.Join(dir, "tokens.csv")
	// token,user,uid,"group": system:masters may do everything.
	if err := os.WriteFile(tokens, []byte(token+`,chart-tests,chart-tests,"system:masters"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	apiURL := "https://127.0.0.1:" + strconv.Itoa(apiPort)
	apiExited := startProcess(t, "kube-apiserver", apiserverBin,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		// The kubernetes Service's endpoint would be this loopback address,
		// which the reconciler refuses; nothing here needs it.
		"--endpoint-reconciler-type=none",
		"--secure-port="+strconv.Itoa(apiPort),
		"--cert-dir="+filepath.Join(dir, "apiserver"),
		"--tls-cert-file="+certs.serverCert, "--tls-private-key-file="+certs.serverKey,
		"--client-ca-file="+certs.caFile,
		"--token-auth-file="+tokens,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+certs.saKey,
		"--service-account-signing-key-file="+certs.saKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--allow-privileged=false",
		// No controller manager makes default service accounts; nothing
		// here runs pods, so the admission that needs them is off.
		"--disable-admission-plugins=ServiceAccount",
		"--profiling=false",
		"--v=0",
	)
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(certs.caFile)
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	waitUntil(t, 90*time.Second, "kube-apiserver", apiExited, func() error { return httpOK(client, apiURL+"/readyz", token) })

	cfg := &rest.Config{Host: apiURL, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAFile: certs.caFile}, QPS: 100, Burst: 200}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &kubeAPI{URL: apiURL, CAFile: certs.caFile, Token: token, Client: cs, Config: cfg, cacheDir: filepath.Join(dir, "discovery")}
}

// RESTClientGetter is what Helm's action.Configuration connects with.
func (k *kubeAPI) RESTClientGetter(namespace string) genericclioptions.RESTClientGetter {
	f := genericclioptions.NewConfigFlags(false)
	f.APIServer, f.BearerToken, f.CAFile, f.Namespace = &k.URL, &k.Token, &k.CAFile, &namespace
	// Discovery is cached in the test's directory, never in ~/.kube.
	f.CacheDir = &k.cacheDir
	return f
}

// buildAPIServer returns the path of kube-apiserver, built from the module
// proxy with the version stamped as Kubernetes' release builds do: built as
// a dependency it would report v0.0.0-master, and Helm would refuse any
// chart with a kubeVersion. The packages come from the Go build cache; the
// linked binary is kept in the user cache directory, under a name that
// changes with the module's requirements and the Go release, so only the
// first run after a change links it (about a minute).
func buildAPIServer(t *testing.T) string {
	t.Helper()
	mod, err := os.ReadFile(filepath.Join(apiServerModule, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(apiServerModule, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*(?:require )?k8s\.io/kubernetes (v(\d+)\.(\d+)\.\d+\S*)`).FindSubmatch(mod)
	if m == nil {
		t.Fatalf("%s/go.mod requires no k8s.io/kubernetes version", apiServerModule)
	}
	const pkg = "k8s.io/component-base/version"
	ldflags := fmt.Sprintf("-X %[1]s.gitVersion=%[2]s -X %[1]s.gitMajor=%[3]s -X %[1]s.gitMinor=%[4]s", pkg, m[1], m[2], m[3])
	key := sha256.Sum256(slices.Concat(mod, sum, []byte(runtime.Version()+ldflags)))
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "azure-vote-chart-tests", fmt.Sprintf("kube-apiserver-%s-%x", m[1], key[:6]))
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	partial := fmt.Sprintf("%s.%d", bin, os.Getpid())
	cmd := exec.Command("go", "build", "-ldflags", ldflags, "-o", partial, "k8s.io/kubernetes/cmd/kube-apiserver")
	cmd.Dir = apiServerModule
	dieWithTest(cmd)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build kube-apiserver (in %s): %v\n%s", apiServerModule, err, out)
	}
	if err := os.Rename(partial, bin); err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-apiserver %s built in %s", m[1], time.Since(start).Round(time.Second))
	return bin
}

// startProcess runs a server for the life of the test; its output is shown
// only if the test fails. The channel closes if it exits.
func startProcess(t *testing.T, name, bin string, args ...string) <-chan struct{} {
	t.Helper()
	var out syncBuffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s output (last 4 KiB):\n%s", name, tail(out.String(), 4096))
		}
	})
	return exited
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func httpOK(c *http.Client, url, token string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

func waitUntil(t *testing.T, limit time.Duration, what string, exited <-chan struct{}, ready func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var err error
	for {
		if err = ready(); err == nil {
			return
		}
		select {
		case <-exited:
			t.Fatalf("%s exited: %v", what, err)
		case <-ctx.Done():
			t.Fatalf("%s not ready after %s: %v", what, limit, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

type certFiles struct {
	caFile, serverCert, serverKey, saKey string
}

// writeCerts makes what kube-apiserver needs to start: a CA, a serving
// certificate for 127.0.0.1 signed by it, and the service-account signing
// key.
func writeCerts(t *testing.T, dir string) certFiles {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "chart-tests-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srvKeyDER, _ := x509.MarshalECPrivateKey(srvKey)
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := certFiles{
		caFile:     filepath.Join(dir, "ca.crt"),
		serverCert: filepath.Join(dir, "apiserver.crt"),
		serverKey:  filepath.Join(dir, "apiserver.key"),
		saKey:      filepath.Join(dir, "sa.key"),
	}
	for path, block := range map[string]*pem.Block{
		f.caFile:     {Type: "CERTIFICATE", Bytes: caDER},
		f.serverCert: {Type: "CERTIFICATE", Bytes: srvDER},
		f.serverKey:  {Type: "EC PRIVATE KEY", Bytes: srvKeyDER},
		f.saKey:      {Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(saKey)},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}
