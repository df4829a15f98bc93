package chart

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ironlb/ironlb/internal/testenv"
)

// startAPIServer starts a kube-apiserver (internal/testenv) for one test, with the
// stand-in monitoring CRDs and, if withIronlbCRDs, ironlb's CRDs from config/crd/bases.
// Without them it is a cluster ironlb was never installed on.
func startAPIServer(t *testing.T, withIronlbCRDs bool) *testenv.Env {
	t.Helper()
	bin(t, "kubectl", "lab-tools")
	dir := t.TempDir()
	// Stand-ins for the Prometheus Operator's CRDs, so the API server accepts the chart's
	// PodMonitors, ServiceMonitors and PrometheusRules. They check nothing inside spec.
	var b strings.Builder
	for _, k := range []struct{ Kind, Plural, Singular string }{
		{"PodMonitor", "podmonitors", "podmonitor"},
		{"ServiceMonitor", "servicemonitors", "servicemonitor"},
		{"PrometheusRule", "prometheusrules", "prometheusrule"},
	} {
		fmt.Fprintf(&b, "---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: %s.monitoring.coreos.com\nspec:\n  group: monitoring.coreos.com\n  scope: Namespaced\n  names: {kind: %s, plural: %s, singular: %s, listKind: %sList}\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}\n", k.Plural, k.Kind, k.Plural, k.Singular, k.Kind)
	}
	if err := os.WriteFile(filepath.Join(dir, "monitoring.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if withIronlbCRDs {
		files, _ := filepath.Glob(filepath.Join(root(t), "config", "crd", "bases", "*.yaml"))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Setenv("IRONLB_CRD_DIR", dir)
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Log(err)
		}
	})
	return env
}

// kubectl runs bin/kubectl against env and fails the test on an error.
func kubectl(t *testing.T, env *testenv.Env, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, errOut, err := env.Kubectl(ctx, stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// helmOn runs bin/helm against env.
func helmOn(t *testing.T, env *testenv.Env, args ...string) string {
	t.Helper()
	out, err := helm(t, append(args, "--kubeconfig", env.Kubeconfig)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDryRunServer sends the chart's output with every toggle, and the kustomize tree in
// config/, to a real API server with kubectl apply --dry-run=server: every object must
// pass the server's validation (schemas, CEL rules, field names).
func TestDryRunServer(t *testing.T) {
	env := startAPIServer(t, true)
	kubectl(t, env, "", "create", "namespace", Namespace)
	for _, tg := range toggles {
		t.Run(tg.name, func(t *testing.T) {
			out := kubectl(t, env, render(t, tg.set...), "apply", "--dry-run=server", "--validate=strict", "-f", "-")
			if !strings.Contains(out, "deployment.apps/") || !strings.Contains(out, "daemonset.apps/") {
				t.Errorf("dry run did not reach the workloads:\n%s", out)
			}
		})
	}
	t.Run("config kustomization", func(t *testing.T) {
		out := kubectl(t, env, "", "apply", "--dry-run=server", "--validate=strict", "-k", filepath.Join(root(t), "config"))
		for _, want := range []string{"customresourcedefinition.apiextensions.k8s.io/ipaddresspools.ironlb.io", "clusterrole.rbac.authorization.k8s.io/ironlb-speaker", "deployment.apps/ironlb-controller", "daemonset.apps/ironlb-speaker"} {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl apply -k config/ did not apply %s:\n%s", want, out)
			}
		}
	})
}

func exists(t *testing.T, env *testenv.Env, args ...string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, errOut, err := env.Kubectl(ctx, "", append([]string{"get"}, args...)...)
	if err != nil && !strings.Contains(errOut, "NotFound") {
		t.Fatalf("kubectl get %v: %v\n%s", args, err, errOut)
	}
	return err == nil
}

// TestHelmLifecycle installs, upgrades and uninstalls the chart on an API server that
// never had ironlb, and checks the promises of the README: CRDs come from the chart and
// are upgraded by it, the chart itself creates no memberlist key (the controller does, and
// no controller runs here), and CRDs and pools survive
// turning things off and helm uninstall.
func TestHelmLifecycle(t *testing.T) {
	env := startAPIServer(t, false)
	crds := []string{"bfdprofiles.ironlb.io", "bgpadvertisements.ironlb.io", "bgppeers.ironlb.io", "ipaddresspools.ironlb.io", "l2advertisements.ironlb.io"}

	// An "older" chart whose IPAddressPool CRD differs, so the upgrade has a CRD change
	// to bring.
	old := filepath.Join(t.TempDir(), "ironlb")
	if err := os.CopyFS(old, os.DirFS(chartDir(t))); err != nil {
		t.Fatal(err)
	}
	poolCRD := filepath.Join(old, "crds", "ironlb.io_ipaddresspools.yaml")
	data, err := os.ReadFile(poolCRD)
	if err != nil {
		t.Fatal(err)
	}
	const categories = "    categories:\n    - ironlb\n"
	if !strings.Contains(string(data), categories) {
		t.Fatalf("%s has no categories: [ironlb]; update this test", poolCRD)
	}
	if err := os.WriteFile(poolCRD, []byte(strings.Replace(string(data), categories, "    categories:\n    - ironlb-old\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	poolCategories := func() string {
		return kubectl(t, env, "", "get", "crd", "ipaddresspools.ironlb.io", "-o", "jsonpath={.spec.names.categories}")
	}
	example := []string{"--set", "examples.pool.enabled=true", "--set", "examples.pool.addresses={198.18.100.0/28}"}

	// Install.
	helmOn(t, env, append([]string{"install", Release, old, "--namespace", Namespace, "--create-namespace"}, example...)...)
	for _, crd := range crds {
		if !exists(t, env, "crd", crd) {
			t.Fatalf("helm install did not create CRD %s", crd)
		}
	}
	if got := poolCategories(); !strings.Contains(got, "ironlb-old") {
		t.Fatalf("installed pool CRD categories %s, want the old chart's", got)
	}
	if !exists(t, env, "ipaddresspool", "default") || !exists(t, env, "-n", Namespace, "deployment", "ironlb-controller") || !exists(t, env, "-n", Namespace, "daemonset", "ironlb-speaker") {
		t.Fatal("helm install did not create the example pool, the Deployment or the DaemonSet")
	}
	if exists(t, env, "-n", Namespace, "secret", "ironlb-memberlist") {
		t.Fatal("helm install created the memberlist Secret; only the controller may")
	}
	kubectl(t, env, "apiVersion: ironlb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: mine}\nspec: {addresses: [198.18.101.0/28]}\n", "apply", "-f", "-")

	// Upgrade to the current chart with changed values and without the example.
	helmOn(t, env, "upgrade", Release, chartDir(t), "--namespace", Namespace, "--set", "logLevel=debug")
	if got := poolCategories(); got != `["ironlb"]` {
		t.Errorf("helm upgrade did not upgrade the pool CRD: categories %s", got)
	}
	args := kubectl(t, env, "", "-n", Namespace, "get", "deployment", "ironlb-controller", "-o", "jsonpath={.spec.template.spec.containers[0].args}")
	if !strings.Contains(args, "--log-level=debug") {
		t.Errorf("upgrade did not change the controller's arguments: %s", args)
	}
	if !exists(t, env, "ipaddresspool", "default") {
		t.Error("turning the example pool off deleted it")
	}

	// Turning CRD upgrades off deletes nothing.
	helmOn(t, env, "upgrade", Release, chartDir(t), "--namespace", Namespace, "--set", "crds.upgrade=false")
	for _, crd := range crds {
		if !exists(t, env, "crd", crd) {
			t.Errorf("crds.upgrade=false deleted CRD %s", crd)
		}
	}

	// Uninstall: the programs go, the CRDs and the pools stay.
	helmOn(t, env, "uninstall", Release, "--namespace", Namespace)
	if exists(t, env, "-n", Namespace, "deployment", "ironlb-controller") {
		t.Error("helm uninstall left the Deployment")
	}
	for _, crd := range crds {
		if !exists(t, env, "crd", crd) {
			t.Errorf("helm uninstall deleted CRD %s", crd)
		}
	}
	for _, pool := range []string{"default", "mine"} {
		if !exists(t, env, "ipaddresspool", pool) {
			t.Errorf("helm uninstall deleted pool %s", pool)
		}
	}

	// Install again over what was kept, with the example pool it adopts.
	helmOn(t, env, append([]string{"install", Release, chartDir(t), "--namespace", Namespace}, example...)...)
	if status := helmOn(t, env, "status", Release, "--namespace", Namespace); !strings.Contains(status, "STATUS: deployed") {
		t.Errorf("reinstall is not deployed:\n%s", status)
	}
}

// readmeSteps returns the shell code blocks of the README's "Install with Helm" section.
func readmeSteps(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## Install with Helm\n")
	if !ok {
		t.Fatal(`README.md has no "## Install with Helm" section`)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	var steps []string
	for {
		_, rest, ok := strings.Cut(section, "\n```sh\n")
		if !ok {
			break
		}
		block, after, ok := strings.Cut(rest, "\n```\n")
		if !ok {
			t.Fatal("an unterminated code block in the README's install section")
		}
		steps = append(steps, block)
		section = after
	}
	if len(steps) == 0 {
		t.Fatal("the README's install section has no ```sh block")
	}
	return strings.Join(steps, "\n")
}

// TestREADMEInstall runs the README's "Install with Helm" shell blocks, word for word,
// against an API server that never had ironlb, with REGISTRY set to a throwaway
// registry (bin/ironlb-image registry) standing in for the user's. It then checks that
// what a real cluster needs is there: the release, the images in the registry under the
// names the chart uses, a pool and an advertisement.
func TestREADMEInstall(t *testing.T) {
	steps := readmeSteps(t)
	imageTool := bin(t, "ironlb-image", "tools")
	env := startAPIServer(t, false)

	reg := exec.Command(imageTool, "registry", "-addr", "127.0.0.1:0")
	stdout, err := reg.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Process.Kill(); _ = reg.Wait() })
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	addr = strings.TrimSpace(addr)
	registry := addr + "/ironlb"

	cmd := exec.Command("bash", "-euo", "pipefail", "-c", steps)
	cmd.Dir = root(t)
	cmd.Env = append(helmEnv(t),
		"PATH="+filepath.Join(root(t), "bin")+string(os.PathListSeparator)+os.Getenv("PATH"),
		"KUBECONFIG="+env.Kubeconfig,
		"REGISTRY="+registry,
	)
	out, err := cmd.CombinedOutput()
	t.Logf("README steps:\n%s\noutput:\n%s", steps, out)
	if err != nil {
		t.Fatalf("the README's install steps failed: %v", err)
	}

	if status := helmOn(t, env, "status", Release, "--namespace", Namespace); !strings.Contains(status, "STATUS: deployed") {
		t.Errorf("release not deployed:\n%s", status)
	}
	version := appVersion(t)
	for _, w := range []struct{ kind, name, image string }{
		{"deployment", "ironlb-controller", "ironlb-controller"},
		{"daemonset", "ironlb-speaker", "ironlb-speaker"},
	} {
		got := kubectl(t, env, "", "-n", Namespace, "get", w.kind, w.name, "-o", "jsonpath={.spec.template.spec.containers[0].image}")
		if want := registry + "/" + w.image + ":" + version; got != want {
			t.Errorf("%s runs image %s, want %s", w.name, got, want)
		}
		resp, err := http.Get("http://" + addr + "/v2/ironlb/" + w.image + "/tags/list")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if !strings.Contains(string(body), `"`+version+`"`) {
			t.Errorf("the registry has no %s:%s (tags: %s)", w.image, version, body)
		}
	}
	pools := strings.Fields(kubectl(t, env, "", "get", "ipaddresspools", "-o", "jsonpath={.items[*].metadata.name}"))
	ads := strings.Fields(kubectl(t, env, "", "get", "l2advertisements", "-o", "jsonpath={.items[*].metadata.name}"))
	if len(pools) == 0 || len(ads) == 0 || !slices.Contains(ads, "default") {
		t.Errorf("after the README's steps: pools %v, L2 advertisements %v", pools, ads)
	}
}
