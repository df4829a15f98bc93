package migrate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

// ParseYAML reads objects from multi-document YAML (or JSON). A List (kubectl get -o yaml)
// is unpacked into its items; empty documents are skipped.
func ParseYAML(r io.Reader, source string) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var out []*unstructured.Unstructured
	for n := 1; ; n++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, n, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		data, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, n, err)
		}
		if string(data) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(data); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, n, err)
		}
		if u.IsList() {
			list, err := u.ToList()
			if err != nil {
				return nil, fmt.Errorf("%s: document %d: %w", source, n, err)
			}
			for i := range list.Items {
				out = append(out, &list.Items[i])
			}
			continue
		}
		out = append(out, u)
	}
}

// Resources are MetalLB's resources, newest version first; the first version the API
// server serves is read.
var Resources = []struct {
	Resource string
	Versions []string
}{
	{"communities", []string{"v1beta1"}},
	{"bfdprofiles", []string{"v1beta1"}},
	{"ipaddresspools", []string{"v1beta1"}},
	{"bgppeers", []string{"v1beta2", "v1beta1"}},
	{"l2advertisements", []string{"v1beta1"}},
	{"bgpadvertisements", []string{"v1beta1"}},
}

// FromCluster lists MetalLB's objects in every namespace, and the legacy ConfigMap
// "config" in legacyNamespace. A resource the cluster does not serve (MetalLB's CRDs not
// installed, or an older version) is skipped; found says whether any MetalLB resource is
// served at all.
func FromCluster(ctx context.Context, dyn dynamic.Interface, legacyNamespace string) (objs []*unstructured.Unstructured, found bool, err error) {
	for _, r := range Resources {
		for _, v := range r.Versions {
			gvr := schema.GroupVersionResource{Group: MetalLBGroup, Version: v, Resource: r.Resource}
			list, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, found, err
			}
			found = true
			for i := range list.Items {
				objs = append(objs, &list.Items[i])
			}
			break
		}
	}
	cm, err := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).
		Namespace(legacyNamespace).Get(ctx, "config", metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, found, err
	default:
		if _, ok, _ := unstructured.NestedString(cm.Object, "data", "config"); ok {
			found = true
			objs = append(objs, cm)
		}
	}
	return objs, found, nil
}
