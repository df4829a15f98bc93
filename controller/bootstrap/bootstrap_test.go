package bootstrap

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/controller/allocator"
)

// TestClaimOrder: unchanged Services claim first, then those whose sharing request changed
// since their addresses were confirmed or that have no record, then those whose key is unreadable, each in the
// given (creation) order; a Service without addresses or not ours claims nothing.
func TestClaimOrder(t *testing.T) {
	svc := func(name, key, recordedKey string) corev1.Service {
		s := corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Annotations: map[string]string{}},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
				Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{
				Ingress: []corev1.LoadBalancerIngress{{IP: "198.18.0.1"}}}},
		}
		if key != "-" {
			s.Annotations[ironlbv1.AnnotationAllowSharedIP] = key
		}
		if recordedKey != "-" {
			s.Annotations[ironlbv1.AnnotationAllocatedSharing] = allocator.SharingFingerprint(allocator.Request{
				SharingKey: recordedKey, Ports: []allocator.Port{{Protocol: "TCP", Port: 80}}})
		}
		return s
	}
	notOurs := svc("cluster-ip", "k", "k")
	notOurs.Spec.Type = corev1.ServiceTypeClusterIP
	pending := svc("pending", "k", "-")
	pending.Status = corev1.ServiceStatus{}
	items := []corev1.Service{
		svc("changed-oldest", "-", "k"), // dropped its key
		svc("unknown-key", "", "k"),
		svc("unchanged", "k", "k"),
		notOurs,
		svc("never-recorded", "j", "-"),
		svc("changed-key", "j", "k"),
		pending,
		svc("unchanged-no-key", "-", ""),
	}
	var got []string
	for _, cl := range claimOrder(items, "") {
		got = append(got, cl.req.Service)
	}
	want := []string{"ns/unchanged", "ns/unchanged-no-key", "ns/changed-oldest", "ns/never-recorded", "ns/changed-key", "ns/unknown-key"}
	if !slices.Equal(got, want) {
		t.Errorf("claim order %v, want %v", got, want)
	}
}
