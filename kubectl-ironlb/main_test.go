package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }

// plugin runs the plugin in-process against the test API server, as `kubectl ironlb ARGS`,
// and returns what it printed and its exit code.
func plugin(t *testing.T, kubeconfig string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	full := append([]string{"--kubeconfig", kubeconfig, "--request-timeout", "5s"}, args...)
	code = run(ctx, full, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), code
}

// mustContain checks that text holds each of wants, comparing with runs of spaces (table
// padding) and line breaks folded into one space.
func mustContain(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	flat := strings.Join(strings.Fields(text), " ")
	for _, w := range wants {
		if !strings.Contains(flat, strings.Join(strings.Fields(w), " ")) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

// removeIronlbObjects deletes every ironlb object, dropping pool finalizers, so the next
// test starts from an empty configuration.
func removeIronlbObjects(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for _, l := range []client.ObjectList{&ironlbv1.L2AdvertisementList{}, &ironlbv1.BGPAdvertisementList{},
		&ironlbv1.BGPPeerList{}, &ironlbv1.BFDProfileList{}, &ironlbv1.IPAddressPoolList{}} {
		if err := env.Client.List(ctx, l); err != nil {
			t.Fatal(err)
		}
		items, _ := metaItems(l)
		for _, o := range items {
			if len(o.GetFinalizers()) > 0 {
				o.SetFinalizers(nil)
				_ = env.Client.Update(ctx, o)
			}
			_ = env.Client.Delete(ctx, o)
		}
	}
}

func metaItems(l client.ObjectList) ([]client.Object, bool) {
	var out []client.Object
	switch l := l.(type) {
	case *ironlbv1.L2AdvertisementList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *ironlbv1.BGPAdvertisementList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *ironlbv1.BGPPeerList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *ironlbv1.BFDProfileList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *ironlbv1.IPAddressPoolList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	default:
		return nil, false
	}
	return out, true
}

// kubeconfigAs writes a copy of the admin kubeconfig that impersonates user, so a test
// sees what a user without ironlb's roles sees.
func kubeconfigAs(t *testing.T, user string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.AuthInfos {
		a.Impersonate = user
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// kubeconfigFor writes a kubeconfig pointing at server (no credentials).
func kubeconfigFor(t *testing.T, server string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	text := "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: " + server + "}\n" +
		"contexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPlainErrors(t *testing.T) {
	e := testenv.Require(t, env)
	cases := []struct {
		name, kubeconfig string
		args             []string
		want             string
	}{
		{"no cluster", kubeconfigFor(t, "https://127.0.0.1:1"), []string{"status"},
			"error: cannot reach the cluster at https://127.0.0.1:1: "},
		{"no kubeconfig", filepath.Join(t.TempDir(), "missing"), []string{"pools"}, "error: no cluster: "},
		{"no permission", kubeconfigAs(t, "nobody"), []string{"status"}, "error: no permission: "},
		{"unknown Service", e.Kubeconfig, []string{"explain", "svc", "-n", "default", "nope"},
			"error: Service default/nope not found (kubectl get svc -n default)"},
		{"not a Service", e.Kubeconfig, []string{"explain", "pod", "x"}, "error: explain knows Services only"},
		{"bad output", e.Kubeconfig, []string{"pools", "-o", "xml"}, `error: unknown output format "xml"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := plugin(t, c.kubeconfig, c.args...)
			t.Log(strings.TrimSpace(stderr))
			if code != 1 || !strings.HasPrefix(stderr, c.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want exit 1 and one line starting %q", code, stderr, c.want)
			}
		})
	}
}

// TestNoCRDs runs the plugin against a second API server that has no ironlb CRDs.
func TestNoCRDs(t *testing.T) {
	e := testenv.Require(t, env)
	bare := &envtest.Environment{BinaryAssetsDirectory: os.Getenv("KUBEBUILDER_ASSETS")}
	if bare.BinaryAssetsDirectory == "" {
		root, err := testenv.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		bare.BinaryAssetsDirectory = filepath.Join(root, "bin")
	}
	if _, err := bare.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = bare.Stop() }()
	user, err := bare.ControlPlane.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_ = e
	for _, args := range [][]string{{"status"}, {"pools"}, {"explain", "svc", "x"}} {
		_, stderr, code := plugin(t, path, args...)
		t.Log(strings.TrimSpace(stderr))
		if code != 1 || !strings.HasPrefix(stderr, "error: ironlb is not installed in this cluster") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
	_, stderr, code := plugin(t, path, "migrate", "metallb")
	t.Log(strings.TrimSpace(stderr))
	if code != 1 || !strings.HasPrefix(stderr, "error: no MetalLB configuration in the cluster") {
		t.Errorf("migrate: exit %d, stderr %q", code, stderr)
	}
}

func clientKey(name string) client.ObjectKey { return client.ObjectKey{Name: name} }
