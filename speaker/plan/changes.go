package plan

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
)

// ServiceChanged reports whether an update of a Service can change a plan: something the
// decisions read changed (its labels and annotations, its spec, its addresses, whether it
// carries an L2Announced condition). An update of its conditions alone, which is what
// every speaker's own status write is, cannot, so it need not recompute anything.
func ServiceChanged(old, updated *corev1.Service) bool {
	return old.Generation != updated.Generation ||
		!maps.Equal(old.Labels, updated.Labels) || !maps.Equal(old.Annotations, updated.Annotations) ||
		hasL2Condition(old) != hasL2Condition(updated) ||
		!equality.Semantic.DeepEqual(old.Status.LoadBalancer, updated.Status.LoadBalancer) ||
		!equality.Semantic.DeepEqual(old.Spec, updated.Spec)
}

func hasL2Condition(svc *corev1.Service) bool {
	return meta.FindStatusCondition(svc.Status.Conditions, ironlbv1.ConditionL2Announced) != nil
}

// NodeChanged reports whether an update of a Node can change a plan: its labels, whether
// it is cordoned, its addresses (memberlist peers, BGP next hops) or whether its network is
// unavailable changed. The kubelet's periodic status updates change none of them.
func NodeChanged(old, updated *corev1.Node) bool {
	return !maps.Equal(old.Labels, updated.Labels) || old.Spec.Unschedulable != updated.Spec.Unschedulable ||
		!slices.Equal(old.Status.Addresses, updated.Status.Addresses) ||
		networkUnavailable(old) != networkUnavailable(updated)
}

func networkUnavailable(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeNetworkUnavailable && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}
