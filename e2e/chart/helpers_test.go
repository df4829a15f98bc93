// Package chart tests the Helm chart in charts/ironlb, the manifests generated from it in
// config/, the images and the README's install steps: rendering, schema, least-privilege
// RBAC, container flags against the real binaries, and install, upgrade and uninstall
// against a real kube-apiserver. Every test needs bin/helm (make tools) and skips with
// -short.
package chart

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/ironlb/ironlb/internal/repo"
)

// Namespace and Release are what the README and config/ use.
const (
	Namespace = "ironlb-system"
	Release   = "ironlb"
)

// toggle is one set of values the chart must render, pass its schema, apply and run with.
type toggle struct {
	name string
	set  []string // helm --set arguments
}

// toggles turns every value the chart has a switch for, at least once.
var toggles = []toggle{
	{"defaults", nil},
	{"layer2 only", []string{"speaker.bgp.enabled=false"}},
	{"bgp only", []string{"speaker.layer2.enabled=false"}},
	{"existing memberlist secret and port", []string{"speaker.layer2.memberlist.existingSecret=my-gossip-key", "speaker.layer2.memberlist.port=7947"}},
	{"class and log level", []string{"loadBalancerClass=example.com/ironlb", "logLevel=debug"}},
	{"pod monitors, alerts and dashboard", []string{"metrics.podMonitor.enabled=true", "metrics.podMonitor.labels.release=prom", "metrics.prometheusRule.enabled=true", "metrics.grafanaDashboard.enabled=true"}},
	{"service monitors", []string{"metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.interval=1m"}},
	{"plain-HTTP metrics", []string{"metrics.secure=false", "metrics.podMonitor.enabled=true"}},
	{"metrics certificate and CA", []string{"metrics.serviceMonitor.enabled=true", "metrics.tls.certSecret=ironlb-metrics-tls",
		"metrics.tls.ca.secret.name=ironlb-metrics-tls", "metrics.tls.ca.secret.key=ca.crt", "metrics.tls.serverName=ironlb-metrics.ironlb-system.svc", "speaker.layer2.enabled=false"}},
	{"examples", []string{"examples.pool.enabled=true", "examples.pool.addresses={198.18.100.0/28,2001:db8:100::/124}", "examples.pool.avoidBuggyIPs=true",
		"examples.l2Advertisement.enabled=true", "examples.l2Advertisement.interfaces={eth0}", "examples.bgpAdvertisement.enabled=true"}},
	{"one replica without CRD upgrade or status policy", []string{"controller.replicas=1", "crds.upgrade=false", "speaker.statusPolicy.enabled=false"}},
	{"controller without the speaker Pod check", []string{"controller.bgpConditionChecksSpeakerPods=false"}},
	{"extra args and placement", []string{"controller.extraArgs={--workers=4}", "speaker.extraArgs={--refresh-interval=30s}",
		"controller.nodeSelector.role=infra", "speaker.priorityClassName=system-node-critical", "controller.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=role",
		"controller.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists"}},
	{"names and images", []string{"fullnameOverride=lb", "image.registry=registry.example.com:5000/ironlb", "image.tag=1.2.3", "image.pullPolicy=Always", "image.pullSecrets={regcred}"}},
}

// root is the repository root.
func root(t testing.TB) string {
	t.Helper()
	r, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// bin returns the path of a program in bin/, skipping under -short and failing (with the
// make target that builds it) when it is missing.
func bin(t testing.TB, name, target string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("chart tests run bin/helm and the built binaries; skipped with -short")
	}
	p := filepath.Join(root(t), "bin", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is missing: run `make %s`", p, target)
	}
	return p
}

// chartDir is charts/ironlb.
func chartDir(t testing.TB) string { return filepath.Join(root(t), "charts", "ironlb") }

// helmEnv keeps Helm's cache, config and data out of the user's home.
func helmEnv(t testing.TB) []string {
	t.Helper()
	dir := t.TempDir()
	return append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(dir, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(dir, "config"),
		"HELM_DATA_HOME="+filepath.Join(dir, "data"),
	)
}

// helm runs bin/helm and returns stdout; stderr is in the error.
func helm(t testing.TB, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin(t, "helm", "tools"), args...)
	cmd.Env = helmEnv(t)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

// setArgs turns --set values into helm arguments.
func setArgs(set []string) []string {
	var args []string
	for _, s := range set {
		args = append(args, "--set", s)
	}
	return args
}

// render runs helm template with the README's release and namespace and returns the
// manifest text.
func render(t testing.TB, set ...string) string {
	t.Helper()
	out, err := helm(t, append([]string{"template", Release, chartDir(t), "--namespace", Namespace}, setArgs(set)...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// parse splits a multi-document manifest into objects, skipping empty documents.
func parse(t testing.TB, manifest string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := parseManifest(manifest)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func parseManifest(manifest string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

// find returns the objects of a kind.
func find(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// one returns the only object of a kind, converted into a typed object.
func one[T any](t testing.TB, objs []*unstructured.Unstructured, kind string) *T {
	t.Helper()
	found := find(objs, kind)
	if len(found) != 1 {
		t.Fatalf("rendered %d objects of kind %s, want 1", len(found), kind)
	}
	return convert[T](t, found[0])
}

func convert[T any](t testing.TB, u *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}
