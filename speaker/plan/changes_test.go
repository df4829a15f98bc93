package plan_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/speaker/plan"
)

func TestServiceChanged(t *testing.T) {
	l2 := metav1.Condition{Type: ironlbv1.ConditionL2Announced, Status: metav1.ConditionTrue, Reason: ironlbv1.ReasonAnnouncing, Message: "node a answers"}
	base := func() *corev1.Service {
		s := svc("ns/web", []string{"198.18.0.1"}, fromPool("main"), svcLabels("app", "web"))
		s.Generation, s.ResourceVersion = 1, "10"
		s.Status.Conditions = []metav1.Condition{l2}
		return &s
	}
	for _, tc := range []struct {
		name string
		edit func(*corev1.Service)
		want bool
	}{
		{"nothing", func(*corev1.Service) {}, false},
		{"resourceVersion and managed fields", func(s *corev1.Service) {
			s.ResourceVersion = "11"
			s.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "ironlb-speaker"}}
		}, false},
		{"the L2Announced message", func(s *corev1.Service) { s.Status.Conditions[0].Message = "node b answers" }, false},
		{"the L2Announced status", func(s *corev1.Service) { s.Status.Conditions[0].Status = metav1.ConditionFalse }, false},
		{"another condition", func(s *corev1.Service) {
			s.Status.Conditions = append(s.Status.Conditions, metav1.Condition{Type: "example.io/Other", Status: metav1.ConditionTrue})
		}, false},
		{"the L2Announced condition removed", func(s *corev1.Service) { s.Status.Conditions = nil }, true},
		{"an address", func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: "2001:db8::1"})
		}, true},
		{"a label", func(s *corev1.Service) { s.Labels["tier"] = "front" }, true},
		{"the pool annotation", func(s *corev1.Service) { s.Annotations[ironlbv1.AnnotationAllocatedFromPool] = "other" }, true},
		{"the traffic policy", func(s *corev1.Service) {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}, true},
		{"the type", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP }, true},
		{"the generation", func(s *corev1.Service) { s.Generation++ }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, updated := base(), base()
			tc.edit(updated)
			if got := plan.ServiceChanged(old, updated); got != tc.want {
				t.Errorf("ServiceChanged = %v, want %v", got, tc.want)
			}
		})
	}
	// Adding the condition to a Service that had none matters too (the plan then owes it
	// a removal or a False).
	old, updated := base(), base()
	old.Status.Conditions = nil
	if !plan.ServiceChanged(old, updated) {
		t.Error("adding an L2Announced condition is no change, want a change")
	}
}

func TestNodeChanged(t *testing.T) {
	base := func() *corev1.Node {
		n := node("a", nodeLabels("zone", "x"))
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "198.18.0.11"}}
		n.ResourceVersion = "5"
		return &n
	}
	for _, tc := range []struct {
		name string
		edit func(*corev1.Node)
		want bool
	}{
		{"a heartbeat", func(n *corev1.Node) {
			n.ResourceVersion = "6"
			n.Status.Conditions[0].LastHeartbeatTime = metav1.Now()
		}, false},
		{"an image list", func(n *corev1.Node) { n.Status.Images = []corev1.ContainerImage{{Names: []string{"pause"}}} }, false},
		{"a label", func(n *corev1.Node) { n.Labels[corev1.LabelNodeExcludeBalancers] = "" }, true},
		{"cordoned", func(n *corev1.Node) { n.Spec.Unschedulable = true }, true},
		{"an address", func(n *corev1.Node) { n.Status.Addresses[0].Address = "198.18.0.12" }, true},
		{"network unavailable", func(n *corev1.Node) {
			n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionTrue})
		}, true},
		{"network available, said explicitly", func(n *corev1.Node) {
			n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse})
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, updated := base(), base()
			tc.edit(updated)
			if got := plan.NodeChanged(old, updated); got != tc.want {
				t.Errorf("NodeChanged = %v, want %v", got, tc.want)
			}
		})
	}
}
