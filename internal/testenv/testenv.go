// Package testenv starts a real etcd and kube-apiserver (built from Go modules into bin/ by
// `make lab-tools`) with ironlb's CRDs installed, for integration tests. Tests talk to the
// same API server code that a cluster runs, so CEL rules, defaulting, status subresources
// and conflicts behave as they do for users.
package testenv

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/repo"
)

// Env is a running API server with ironlb's CRDs.
type Env struct {
	// Config is an admin connection to the API server.
	Config *rest.Config
	// Client is a controller-runtime client with the core and ironlb types registered.
	Client client.Client
	// Scheme holds the core and ironlb types.
	Scheme *runtime.Scheme
	// Kubeconfig is the path of an admin kubeconfig file, for kubectl.
	Kubeconfig string

	env *envtest.Environment
	dir string
}

// RepoRoot finds the repository root (the folder holding go.mod and api/) from the working
// directory, so tests in any package find bin/ and config/.
func RepoRoot() (string, error) { return repo.Root() }

// Start launches etcd and kube-apiserver and installs the CRDs from config/crd/bases.
func Start() (*Env, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(root, "bin")
	}
	for _, name := range []string{"etcd", "kube-apiserver", "kubectl"} {
		if _, err := os.Stat(filepath.Join(assets, name)); err != nil {
			return nil, fmt.Errorf("%s not found in %s: run `make lab-tools` (it builds the lab's Kubernetes binaries from Go modules)", name, assets)
		}
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := ironlbv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{crdDir(root)},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	// Lab addresses only (198.18.0.0/15, 2001:db8::/32), dual-stack, and room for the
	// thousands of Services (and their NodePorts) that the benchmarks create.
	apiserver := env.ControlPlane.GetAPIServer().Configure()
	apiserver.Set("service-cluster-ip-range", "198.19.0.0/16,2001:db8:ffff::/108")
	apiserver.Set("service-node-port-range", "20000-50000")
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting etcd and kube-apiserver from %s: %w", assets, err)
	}
	e := &Env{Config: cfg, Scheme: scheme, env: env}
	if err := e.writeKubeconfig(); err != nil {
		_ = env.Stop()
		return nil, err
	}
	if e.Client, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		_ = e.Stop()
		return nil, err
	}
	return e, nil
}

func (e *Env) writeKubeconfig() error {
	user, err := e.env.ControlPlane.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding an admin user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return err
	}
	if e.dir, err = os.MkdirTemp("", "ironlb-testenv-"); err != nil {
		return err
	}
	e.Kubeconfig = filepath.Join(e.dir, "kubeconfig")
	return os.WriteFile(e.Kubeconfig, data, 0o600)
}

// Stop ends the API server and etcd and removes their files.
func (e *Env) Stop() error {
	err := e.env.Stop()
	if e.dir != "" {
		_ = os.RemoveAll(e.dir)
	}
	return err
}

// Kubectl runs the real kubectl against the API server, with stdin as its input, and returns
// what it printed: tests check the text a user would read.
func (e *Env) Kubectl(ctx context.Context, stdin string, args ...string) (stdout, stderr string, err error) {
	bin := filepath.Join(e.env.BinaryAssetsDirectory, "kubectl")
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", e.Kubeconfig}, args...)...)
	cmd.Stdin = bytes.NewBufferString(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// Main runs a test package against one shared API server: it starts it, stores it in *env,
// runs the tests and stops it. With -short the API server is not started and the package's
// integration tests must skip themselves (see Require).
func Main(m *testing.M, env **Env) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	e, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	*env = e
	code := m.Run()
	if err := e.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv: stopping:", err)
	}
	return code
}

// Require skips an integration test under -short and otherwise returns the shared API server.
func Require(t testing.TB, env *Env) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs the API server (run without -short)")
	}
	if env == nil {
		t.Fatal("testenv.Main did not start the API server; call it from TestMain")
	}
	return env
}

func crdDir(root string) string {
	if d := os.Getenv("IRONLB_CRD_DIR"); d != "" {
		return d
	}
	return filepath.Join(root, "config", "crd", "bases")
}
