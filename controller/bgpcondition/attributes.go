package bgpcondition

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/bgpattr"
	"github.com/ironlb/ironlb/internal/lbservice"
)

// DecideAttributes says what the Service's ironlb.io/BGPAttributes condition should be.
// It reads the annotations with the speakers' own parser (bgpattr.Parse), so the
// condition says exactly what the speakers do with them:
//   - not a LoadBalancer, or no BGP attribute annotation: removed (if present);
//   - of another class: left alone;
//   - a malformed annotation: False, InvalidBGPAttributes, naming it, its bad value and
//     why; the speakers then ignore both annotations and the routes keep their
//     advertisements' attributes;
//   - else True, Applied, saying what the routes carry.
//
// It does not depend on the Service having an address or an advertisement: a user who
// annotates a pending Service learns at once whether the value is good.
func DecideAttributes(svc *corev1.Service, class string) Decision {
	had := meta.FindStatusCondition(svc.Status.Conditions, ironlbv1.ConditionBGPAttributes) != nil
	isLB := svc.Spec.Type == corev1.ServiceTypeLoadBalancer
	if isLB && !lbservice.IsOurs(svc, class) {
		return Decision{}
	}
	if !isLB || !bgpattr.Annotated(svc.Annotations) {
		if had {
			return Decision{Action: Remove}
		}
		return Decision{}
	}
	attrs, err := bgpattr.Parse(svc.Annotations)
	if err != nil {
		return attributes(svc, metav1.ConditionFalse, ironlbv1.ReasonInvalidBGPAttributes,
			err.Error()+"; both annotations are ignored and the Service's BGP routes keep their BGPAdvertisements' attributes")
	}
	return attributes(svc, metav1.ConditionTrue, ironlbv1.ReasonApplied, appliedMessage(attrs))
}

func attributes(svc *corev1.Service, status metav1.ConditionStatus, reason, message string) Decision {
	return Decision{Action: Set, Condition: metav1.Condition{Type: ironlbv1.ConditionBGPAttributes, Status: status,
		Reason: reason, Message: message, ObservedGeneration: svc.Generation}}
}

// appliedMessage says what the speakers put on the routes, including that LOCAL_PREF
// reaches iBGP peers only (GoBGP drops it towards eBGP peers, as RFC 4271 wants).
func appliedMessage(a bgpattr.Attributes) string {
	var parts []string
	if len(a.Communities) > 0 {
		cs := make([]string, len(a.Communities))
		for i, c := range a.Communities {
			cs[i] = string(c)
		}
		parts = append(parts, "communities "+strings.Join(cs, ", ")+" are added to its BGPAdvertisements'")
	}
	if a.LocalPref != nil {
		parts = append(parts, fmt.Sprintf("localPref %d replaces its BGPAdvertisements' (sent to iBGP peers only)", *a.LocalPref))
	}
	if len(parts) == 0 {
		return "the annotations add nothing to its BGP routes"
	}
	return "on its BGP routes, " + strings.Join(parts, "; ")
}
