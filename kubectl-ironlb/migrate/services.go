package migrate

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
)

// ServiceCheck says whether one LoadBalancer Service needs an edit to keep working the
// same under ironlb.
type ServiceCheck struct {
	Service string `json:"service"`
	Edit    bool   `json:"edit"`
	Message string `json:"message"`
}

// metallbPrefixes are the annotation prefixes MetalLB used; ironlb reads the annotations
// below under both.
var metallbPrefixes = []string{"metallb.io/", "metallb.universe.tf/"}

func suffix(annotation string) string { return annotation[strings.Index(annotation, "/")+1:] }

// readByIronlb are the MetalLB annotation names (after the prefix) that ironlb reads, and
// the one MetalLB wrote itself, which ironlb replaces with its own.
var readByIronlb = map[string]bool{
	suffix(ironlbv1.AnnotationLoadBalancerIPs): true,
	suffix(ironlbv1.AnnotationAddressPool):     true,
	suffix(ironlbv1.AnnotationAllowSharedIP):   true,
}

var writtenByMetalLB = suffix(ironlbv1.AnnotationAllocatedFromPool)

// CheckServices looks at LoadBalancer Services for what ironlb would read differently:
// pools named by annotation that the conversion renamed or did not write, MetalLB
// annotations ironlb does not read, and a loadBalancerClass. pools maps MetalLB pool names
// to the ironlb names written (nil: pools are not checked).
func CheckServices(svcs []corev1.Service, pools map[string]string) []ServiceCheck {
	var out []ServiceCheck
	for i := range svcs {
		svc := &svcs[i]
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			continue
		}
		key := svc.Namespace + "/" + svc.Name
		var edits, fine []string
		if cls := svc.Spec.LoadBalancerClass; cls != nil {
			edits = append(edits, fmt.Sprintf("spec.loadBalancerClass is %q: ironlb serves it only when started with --load-balancer-class=%s", *cls, *cls))
		}
		for _, name := range sortedKeys(svc.Annotations) {
			e, f := checkAnnotation(name, svc.Annotations[name], pools)
			edits, fine = append(edits, e...), append(fine, f...)
		}
		switch {
		case len(edits) > 0:
			out = append(out, ServiceCheck{Service: key, Edit: true, Message: strings.Join(edits, "; ")})
		case len(fine) > 0:
			out = append(out, ServiceCheck{Service: key, Message: "no edit needed: ironlb reads " + strings.Join(fine, ", ")})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out
}

func checkAnnotation(name, value string, pools map[string]string) (edits, fine []string) {
	for _, prefix := range append([]string{"ironlb.io/"}, metallbPrefixes...) {
		short, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		if short == suffix(ironlbv1.AnnotationAddressPool) && pools != nil {
			to, known := pools[value]
			switch {
			case !known:
				edits = append(edits, fmt.Sprintf("%s names pool %q, which the conversion did not write", name, value))
				return edits, fine
			case to != value:
				edits = append(edits, fmt.Sprintf("%s names pool %q, written as %q: set %s: %s", name, value, to, ironlbv1.AnnotationAddressPool, to))
				return edits, fine
			}
		}
		switch {
		case prefix == "ironlb.io/":
		case readByIronlb[short]:
			fine = append(fine, name)
		case short == writtenByMetalLB:
		default:
			edits = append(edits, fmt.Sprintf("%s is not read by ironlb", name))
		}
	}
	return edits, fine
}

// WriteYAML writes the objects as multi-document YAML, without empty status or
// creationTimestamp, ready for kubectl apply -f.
func WriteYAML(objs []client.Object) ([]byte, error) {
	var b strings.Builder
	for _, o := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			return nil, err
		}
		delete(m, "status")
		if meta, ok := m["metadata"].(map[string]any); ok {
			delete(meta, "creationTimestamp")
		}
		data, err := yaml.Marshal(m)
		if err != nil {
			return nil, err
		}
		b.WriteString("---\n")
		b.Write(data)
	}
	return []byte(b.String()), nil
}
