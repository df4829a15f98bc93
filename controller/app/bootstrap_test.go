package app_test

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/testenv"
)

// TestRestartKeepsSharerWithMalformedAnnotation: a Service that shares an address and
// whose address annotation then becomes malformed keeps the address while the controller
// runs (bad input never costs an address), and keeps it across a restart too: start-up
// reads its sharing key and ports on their own, so the same rule decides at both times.
func TestRestartKeepsSharerWithMalformedAnnotation(t *testing.T) {
	testenv.Require(t, env)
	env.EnsureNamespace(t, "malformed", nil)
	env.CreatePool(t, "malformed", ironlbv1.IPAddressPoolSpec{Addresses: addrs("198.18.140.0/30")})
	c := startController(t, false)
	const shared = "198.18.140.1"
	for i, name := range []string{"first", "second"} {
		createService(t, lbService("malformed", name, map[string]string{
			ironlbv1.AnnotationAllowSharedIP: "k", ironlbv1.AnnotationLoadBalancerIPs: shared}, int32(80+i)))
		waitIP(t, "malformed", name, shared)
	}
	edit(t, getService(t, "malformed", "second"), func(s *corev1.Service) {
		s.Annotations[ironlbv1.AnnotationLoadBalancerIPs] = "not-an-ip"
	})
	waitReason(t, "malformed", "second", "InvalidAnnotation")
	c.stop()
	startController(t, false)
	// Give the new controller time to claim and to reconcile both Services.
	time.Sleep(3 * time.Second)
	for _, name := range []string{"first", "second"} {
		if got := ingress(getService(t, "malformed", name)); got != shared {
			t.Errorf("%s has %q after a restart, want %s", name, got, shared)
		}
	}
	if ev := eventsFor(t, "malformed", "second"); strings.Contains(ev, "IPReleased") {
		t.Errorf("second released its address:\n%s", ev)
	}
}
