package bgpcondition

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
)

func annotated(kv ...string) func(*corev1.Service) {
	return func(s *corev1.Service) {
		s.Annotations = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			s.Annotations[kv[i]] = kv[i+1]
		}
	}
}

func hadAttributes(s *corev1.Service) {
	s.Status.Conditions = append(s.Status.Conditions, metav1.Condition{Type: ironlbv1.ConditionBGPAttributes,
		Status: metav1.ConditionTrue, Reason: ironlbv1.ReasonApplied})
}

func TestDecideAttributes(t *testing.T) {
	const comms, lp = ironlbv1.AnnotationBGPCommunities, ironlbv1.AnnotationBGPLocalPref
	cases := []struct {
		name   string
		svc    *corev1.Service
		class  string
		action Action
		status metav1.ConditionStatus
		reason string
		says   []string // substrings of the message
	}{
		{name: "no annotation, no condition: nothing to do", svc: service(), action: Leave},
		{name: "no annotation any more: the condition goes", svc: service(hadAttributes), action: Remove},
		{name: "valid: Applied, saying what the routes carry", svc: service(annotated(comms, "65000:100, no-export", lp, "400")),
			action: Set, status: metav1.ConditionTrue, reason: ironlbv1.ReasonApplied,
			says: []string{"communities 65000:100, no-export are added", "localPref 400 replaces", "iBGP peers only"}},
		{name: "communities only", svc: service(annotated(comms, "large:1:2:3")),
			action: Set, status: metav1.ConditionTrue, reason: ironlbv1.ReasonApplied, says: []string{"communities large:1:2:3"}},
		{name: "valid on a Service still without an address", svc: service(annotated(lp, "10"), func(s *corev1.Service) { s.Status.LoadBalancer.Ingress = nil }),
			action: Set, status: metav1.ConditionTrue, reason: ironlbv1.ReasonApplied, says: []string{"localPref 10"}},
		{name: "a bad community: Invalid, naming the annotation and the value", svc: service(annotated(comms, "65000:100,65536:1", lp, "400")),
			action: Set, status: metav1.ConditionFalse, reason: ironlbv1.ReasonInvalidBGPAttributes,
			says: []string{comms, `"65536:1"`, "is not a community", "keep their BGPAdvertisements' attributes"}},
		{name: "a bad localPref", svc: service(annotated(lp, "high")),
			action: Set, status: metav1.ConditionFalse, reason: ironlbv1.ReasonInvalidBGPAttributes, says: []string{lp, `"high"`}},
		{name: "both bad, both named", svc: service(annotated(comms, "x", lp, "y")),
			action: Set, status: metav1.ConditionFalse, reason: ironlbv1.ReasonInvalidBGPAttributes, says: []string{comms, `"x"`, lp, `"y"`}},
		{name: "another class: left alone", svc: service(annotated(lp, "bad"), func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptr.To("other.example/lb") }),
			action: Leave},
		{name: "another class keeps a condition its own controller wrote", svc: service(hadAttributes, func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptr.To("other.example/lb") }),
			action: Leave},
		{name: "no longer a LoadBalancer: the condition goes", svc: service(annotated(lp, "1"), hadAttributes, func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP }),
			action: Remove},
		{name: "not a LoadBalancer, never had it", svc: service(annotated(lp, "1"), func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP }),
			action: Leave},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := DecideAttributes(c.svc, c.class)
			if d.Action != c.action {
				t.Fatalf("action %v, want %v (%+v)", d.Action, c.action, d.Condition)
			}
			if c.action != Set {
				return
			}
			got := d.Condition
			if got.Type != ironlbv1.ConditionBGPAttributes || got.Status != c.status || got.Reason != c.reason || got.ObservedGeneration != c.svc.Generation {
				t.Errorf("condition %+v, want %s %s %s", got, ironlbv1.ConditionBGPAttributes, c.status, c.reason)
			}
			for _, s := range c.says {
				if !strings.Contains(got.Message, s) {
					t.Errorf("message %q does not say %q", got.Message, s)
				}
			}
		})
	}
}
