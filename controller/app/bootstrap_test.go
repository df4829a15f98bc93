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

// TestRestartGivesContestedIPToUnchangedSharer: two Services share an address, and while
// no controller runs the older one drops its sharing key. At runtime the one whose
// request changed gives the address up (it no longer fits) and the other keeps it; start-up
// must decide the same way, although the changed Service is the older one: the controller
// records the sharing profile each holding was confirmed under, so start-up can tell which
// Service changed. (Found by TestModelChecker: an edit that lands between a leader's
// step-down and its successor's start-up.)
func TestRestartGivesContestedIPToUnchangedSharer(t *testing.T) {
	testenv.Require(t, env)
	env.EnsureNamespace(t, "contested", nil)
	env.CreatePool(t, "contested", ironlbv1.IPAddressPoolSpec{Addresses: addrs("198.18.141.0/30")})
	c := startController(t, false)
	const shared = "198.18.141.0"
	for i, name := range []string{"older", "newer"} {
		createService(t, lbService("contested", name, map[string]string{ironlbv1.AnnotationAllowSharedIP: "k"}, int32(80+i)))
		waitIP(t, "contested", name, shared)
	}
	c.stop()
	edit(t, getService(t, "contested", "older"), func(s *corev1.Service) {
		delete(s.Annotations, ironlbv1.AnnotationAllowSharedIP)
	})
	startController(t, false)
	waitFor(t, 20*time.Second, func() string {
		older := ingress(getService(t, "contested", "older"))
		if older == "" || older == shared {
			return "older still has " + older + ", want a new address of its own"
		}
		return ""
	})
	if got := ingress(getService(t, "contested", "newer")); got != shared {
		t.Errorf("newer, whose request did not change, has %q after the restart, want %s", got, shared)
	}
	if ev := eventsFor(t, "contested", "newer"); strings.Contains(ev, "IPReleased") {
		t.Errorf("newer released its address:\n%s", ev)
	}
}
