package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
)

// routeAttrs are the attributes every node's path of a prefix must carry at the router.
type routeAttrs struct {
	communities, large []string
	localPref          uint32
}

// checkServiceAttributes is TestBGPAttributes' per-Service part: svc (whose
// advertisements give [64512:100 64512:200], large [64512:1:1] and localPref 250) gets
// the ironlb.io/bgp-communities and ironlb.io/bgp-local-pref annotations, which reach the
// router on top of the advertisements' attributes; then a bad community, which the
// controller reports (condition and event) while the route goes back to the
// advertisements' attributes, without ever being withdrawn.
func checkServiceAttributes(t *testing.T, l *lab.Lab, svc *corev1.Service, a4, a6 netip.Addr) {
	ctx := context.Background()
	var watches []*hopWatch
	for _, n := range l.Nodes {
		watches = append(watches, watchNextHop(l, host(a4), n))
	}
	watches = append(watches, watchNextHop(l, host(a6), l.Nodes[0]))

	annotateService(t, l, svc, map[string]string{
		ironlbv1.AnnotationBGPCommunities: "65000:100, no-export, large:65000:7:7",
		ironlbv1.AnnotationBGPLocalPref:   "400",
	})
	waitRouteAttrs(t, l, a4, a6, routeAttrs{
		communities: []string{"64512:100", "64512:200", "65000:100", "noExport"},
		large:       []string{"64512:1:1", "65000:7:7"}, localPref: 400,
	})
	c := waitAttributesCondition(t, l, svc, metav1.ConditionTrue, ironlbv1.ReasonApplied)
	if !strings.Contains(c.Message, "localPref 400") || !strings.Contains(c.Message, "no-export") {
		t.Errorf("Applied condition %q does not say what the routes carry", c.Message)
	}

	annotateService(t, l, svc, map[string]string{ironlbv1.AnnotationBGPCommunities: "65000:100,65536:1"})
	waitRouteAttrs(t, l, a4, a6, routeAttrs{
		communities: []string{"64512:100", "64512:200"}, large: []string{"64512:1:1"}, localPref: 250,
	})
	c = waitAttributesCondition(t, l, svc, metav1.ConditionFalse, ironlbv1.ReasonInvalidBGPAttributes)
	for _, s := range []string{ironlbv1.AnnotationBGPCommunities, `"65536:1"`, "is not a community"} {
		if !strings.Contains(c.Message, s) {
			t.Errorf("InvalidBGPAttributes condition %q does not say %q", c.Message, s)
		}
	}
	eventually(t, 20*time.Second, "an InvalidBGPAttributes event on the Service", func() error {
		return l.FindEvent(ctx, "Service", svc.Name, ironlbv1.ReasonInvalidBGPAttributes, `"65536:1"`)
	})

	for _, w := range watches {
		polls, misses := w.stop()
		if polls == 0 || len(misses) > 0 {
			t.Errorf("a node's next hop went missing at the router while the attributes changed (%d polls): %v", polls, misses)
		}
	}

	annotateService(t, l, svc, map[string]string{ironlbv1.AnnotationBGPCommunities: "", ironlbv1.AnnotationBGPLocalPref: ""})
	eventually(t, 30*time.Second, "the BGPAttributes condition removed with the annotations", func() error {
		if c := attributesCondition(t, l, svc); c != nil {
			return fmt.Errorf("condition is %+v", c)
		}
		return nil
	})
}

// annotateService sets the annotations; an empty value removes one.
func annotateService(t *testing.T, l *lab.Lab, svc *corev1.Service, set map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cur corev1.Service
		if err := l.Client.Get(ctx, client.ObjectKeyFromObject(svc), &cur); err != nil {
			return err
		}
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		for k, v := range set {
			if v == "" {
				delete(cur.Annotations, k)
			} else {
				cur.Annotations[k] = v
			}
		}
		return l.Client.Update(ctx, &cur)
	})
	if err != nil {
		t.Fatalf("annotate Service %s: %v", svc.Name, err)
	}
}

// waitRouteAttrs waits until every node's path of both addresses carries want.
func waitRouteAttrs(t *testing.T, l *lab.Lab, a4, a6 netip.Addr, want routeAttrs) {
	t.Helper()
	for _, a := range []netip.Addr{a4, a6} {
		eventually(t, 30*time.Second, fmt.Sprintf("%s with communities %v, large %v, localPref %d", a, want.communities, want.large, want.localPref), func() error {
			return pathsFrom(context.Background(), l, l.Router, host(a), l.Nodes, nodeV4, func(n *lab.Node, p lab.BGPPath) error {
				if !slices.Equal(p.Communities, want.communities) || !slices.Equal(p.LargeCommunities, want.large) ||
					p.LocalPref == nil || *p.LocalPref != want.localPref {
					return fmt.Errorf("communities %v, large %v, localPref %s", p.Communities, p.LargeCommunities, fmtPtr(p.LocalPref))
				}
				return nil
			})
		})
	}
}

func attributesCondition(t *testing.T, l *lab.Lab, svc *corev1.Service) *metav1.Condition {
	t.Helper()
	return meta.FindStatusCondition(currentService(t, l, svc).Status.Conditions, ironlbv1.ConditionBGPAttributes)
}

func waitAttributesCondition(t *testing.T, l *lab.Lab, svc *corev1.Service, status metav1.ConditionStatus, reason string) *metav1.Condition {
	t.Helper()
	var c *metav1.Condition
	eventually(t, 30*time.Second, fmt.Sprintf("%s %s %s", ironlbv1.ConditionBGPAttributes, status, reason), func() error {
		if c = attributesCondition(t, l, svc); c == nil || c.Status != status || c.Reason != reason {
			return fmt.Errorf("condition is %+v", c)
		}
		return nil
	})
	return c
}
