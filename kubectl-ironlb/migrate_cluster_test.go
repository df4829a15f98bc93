package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ironlb/ironlb/internal/testenv"
	"github.com/ironlb/ironlb/kubectl-ironlb/migrate"
)

// metallbCRDs are stand-ins for MetalLB's CRDs: the same group, names, versions and scope,
// with a schema that keeps every field, so the objects read back are the ones written.
func metallbCRDs() []*apiextensionsv1.CustomResourceDefinition {
	kinds := map[string][]string{"IPAddressPool": {"v1beta1"}, "L2Advertisement": {"v1beta1"}, "BGPAdvertisement": {"v1beta1"},
		"BGPPeer": {"v1beta1", "v1beta2"}, "BFDProfile": {"v1beta1"}, "Community": {"v1beta1"}}
	var out []*apiextensionsv1.CustomResourceDefinition
	for kind, versions := range kinds {
		plural := strings.ToLower(kind) + "s"
		if kind == "Community" {
			plural = "communities"
		}
		crd := &apiextensionsv1.CustomResourceDefinition{
			ObjectMeta: metav1.ObjectMeta{Name: plural + "." + migrate.MetalLBGroup},
			Spec: apiextensionsv1.CustomResourceDefinitionSpec{Group: migrate.MetalLBGroup, Scope: apiextensionsv1.NamespaceScoped,
				Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: kind, ListKind: kind + "List", Plural: plural, Singular: strings.ToLower(kind)}},
		}
		for i, v := range versions {
			crd.Spec.Versions = append(crd.Spec.Versions, apiextensionsv1.CustomResourceDefinitionVersion{
				Name: v, Served: true, Storage: i == len(versions)-1,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: ptr.To(true)}},
			})
		}
		out = append(out, crd)
	}
	return out
}

// TestMigrateFromCluster installs MetalLB's CRDs, creates the documented samples and the
// legacy ConfigMap in the cluster, and runs the plugin without -f: it reads them with the
// dynamic client, converts them, and checks the cluster's Services.
func TestMigrateFromCluster(t *testing.T) {
	e := testenv.Require(t, env)
	ctx := context.Background()
	crds := metallbCRDs()
	if _, err := envtest.InstallCRDs(e.Config, envtest.CRDInstallOptions{CRDs: crds}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = envtest.UninstallCRDs(e.Config, envtest.CRDInstallOptions{CRDs: crds}) })
	for _, ns := range []string{"metallb-system", "demo"} {
		_ = e.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	dyn, err := dynamic.NewForConfig(e.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"bgp-advanced", "ipaddresspool-advanced", "legacy-config"} {
		f, err := os.Open(filepath.Join("migrate", "testdata", name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		objs, err := migrate.ParseYAML(f, name)
		_ = f.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range objs {
			gv, _ := schema.ParseGroupVersion(u.GetAPIVersion())
			plural := strings.ToLower(u.GetKind()) + "s"
			if u.GetKind() == "Community" {
				plural = "communities"
			}
			gvr := gv.WithResource(plural)
			if _, err := dyn.Resource(gvr).Namespace(u.GetNamespace()).Create(ctx, u, metav1.CreateOptions{}); err != nil {
				t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
			}
			obj := u
			t.Cleanup(func() {
				_ = dyn.Resource(gvr).Namespace(obj.GetNamespace()).Delete(ctx, obj.GetName(), metav1.DeleteOptions{})
			})
		}
	}
	svc := service("demo", "old", map[string]string{"metallb.universe.tf/address-pool": "cheap", "metallb.universe.tf/loadBalancerIPs": "198.18.20.7"}, 80, nil)
	create(t, svc)

	out, report, code := plugin(t, e.Kubeconfig, "migrate", "metallb")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, report)
	}
	t.Logf("kubectl ironlb migrate metallb (from the cluster)\n%s", report)
	mustContain(t, "report", report,
		"BGPPeer metallb-system/peer-old (metallb.io/v1beta2) -> BGPPeer peer-old",
		"ConfigMap metallb-system/config (v1) -> BFDProfile fast, IPAddressPool default, L2Advertisement default",
		"L2Advertisement metallb-system/by-zone (metallb.io/v1beta1) -> L2Advertisement by-zone",
		`alias "NO_ADVERTISE" written as its value 65535:65282`,
		"Services: 0 need an edit.",
		"ok   demo/old: no edit needed: ironlb reads metallb.universe.tf/address-pool, metallb.universe.tf/loadBalancerIPs",
		"0 setting(s) lost")
	mustContain(t, "objects", out, "kind: IPAddressPool", "name: ns-scoped", "name: my-ip-space-2", "name: peer-198-18-0-3")
	if n := strings.Count(out, "\nkind: "); n != 24 {
		t.Errorf("%d objects written, want 24 (7 + 7 + 10):\n%s", n, out)
	}
	stdout, stderr, err := e.Kubectl(ctx, out, "apply", "--dry-run=server", "-f", "-")
	if err != nil {
		t.Fatalf("the API server refused the conversion: %v\n%s", err, stderr)
	}
	mustContain(t, "kubectl apply --dry-run=server", stdout, "ipaddresspool.ironlb.io/my-ip-space created (server dry run)")
}
