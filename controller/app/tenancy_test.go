package app_test

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/testenv"
)

// TestPoolNotAllowedOnTheAPIServer: a pool whose serviceAllocation names a namespace
// serves only that namespace, also to a Service that names the pool or one of its
// addresses (reserved ones too); the others wait with PoolNotAllowed. Narrowing the pool
// later moves nobody.
func TestPoolNotAllowedOnTheAPIServer(t *testing.T) {
	testenv.Require(t, env)
	env.EnsureNamespace(t, "tenant-team", nil)
	env.EnsureNamespace(t, "tenant-other", nil)
	env.CreatePool(t, "tenant-team", ironlbv1.IPAddressPoolSpec{
		Addresses: addrs("198.18.170.0/24"), Reserved: addrs("198.18.170.200/32"),
		ServiceAllocation: &ironlbv1.ServiceAllocation{Namespaces: []string{"tenant-team"}}})
	startController(t, false)

	createService(t, lbService("tenant-team", "mine", map[string]string{ironlbv1.AnnotationAddressPool: "tenant-team"}, 80))
	waitIP(t, "tenant-team", "mine", "198.18.170.0")
	for name, ann := range map[string]map[string]string{
		"by-pool":     {ironlbv1.AnnotationAddressPool: "tenant-team"},
		"by-address":  {ironlbv1.AnnotationLoadBalancerIPs: "198.18.170.9"},
		"by-reserved": {ironlbv1.AnnotationLoadBalancerIPs: "198.18.170.200"},
	} {
		createService(t, lbService("tenant-other", name, ann, 80))
		cond := waitReason(t, "tenant-other", name, ironlbv1.ReasonPoolNotAllowed)
		for _, want := range []string{`"tenant-team"`, "tenant-other/" + name, "namespaces"} {
			if !strings.Contains(cond.Message, want) {
				t.Errorf("%s: message %q does not name %s", name, cond.Message, want)
			}
		}
	}
	// The pool's own namespace may still ask for a reserved address.
	createService(t, lbService("tenant-team", "reserved", map[string]string{ironlbv1.AnnotationLoadBalancerIPs: "198.18.170.200"}, 80))
	waitIP(t, "tenant-team", "reserved", "198.18.170.200")

	// The pool is handed to the other namespace: the waiting Services get addresses (the
	// reserved one is still held, so that one now waits for it), and the first
	// namespace's Services keep theirs (tenancy is checked at acquisition only).
	editPool(t, "tenant-team", func(p *ironlbv1.IPAddressPool) {
		p.Spec.ServiceAllocation.Namespaces = []string{"tenant-other"}
	})
	waitIP(t, "tenant-other", "by-address", "198.18.170.9")
	waitIP(t, "tenant-team", "mine", "198.18.170.0")
	waitIP(t, "tenant-team", "reserved", "198.18.170.200")
	waitReason(t, "tenant-other", "by-reserved", ironlbv1.ReasonRequestedIPInUse)
}

// TestSharingKeyScopedToNamespaceOnTheAPIServer: the same allow-shared-ip key in two
// namespaces does not share an address until the pool sets allowCrossNamespaceSharing.
func TestSharingKeyScopedToNamespaceOnTheAPIServer(t *testing.T) {
	testenv.Require(t, env)
	env.EnsureNamespace(t, "share-a", nil)
	env.EnsureNamespace(t, "share-b", nil)
	env.CreatePool(t, "share", ironlbv1.IPAddressPoolSpec{Addresses: addrs("198.18.171.0/24"), AutoAssign: ptr.To(true)})
	startController(t, false)

	key := map[string]string{ironlbv1.AnnotationAllowSharedIP: "k"}
	createService(t, lbService("share-a", "web", key, 80))
	waitIP(t, "share-a", "web", "198.18.171.0")
	createService(t, lbService("share-a", "api", key, 443))
	waitIP(t, "share-a", "api", "198.18.171.0")
	createService(t, lbService("share-b", "auto", key, 8080))
	waitIP(t, "share-b", "auto", "198.18.171.1")
	createService(t, lbService("share-b", "asks", map[string]string{
		ironlbv1.AnnotationAllowSharedIP: "k", ironlbv1.AnnotationLoadBalancerIPs: "198.18.171.0"}, 8443))
	cond := waitReason(t, "share-b", "asks", ironlbv1.ReasonSharingConflict)
	for _, want := range []string{"namespaces", "allowCrossNamespaceSharing", `"share"`} {
		if !strings.Contains(cond.Message, want) {
			t.Errorf("message %q does not mention %s", cond.Message, want)
		}
	}

	editPool(t, "share", func(p *ironlbv1.IPAddressPool) { p.Spec.AllowCrossNamespaceSharing = true })
	waitIP(t, "share-b", "asks", "198.18.171.0")
	// Turned off again: those already sharing keep the address.
	editPool(t, "share", func(p *ironlbv1.IPAddressPool) { p.Spec.AllowCrossNamespaceSharing = false })
	createService(t, lbService("share-b", "late", key, 9090))
	waitIP(t, "share-b", "late", "198.18.171.1")
	waitIP(t, "share-b", "asks", "198.18.171.0")
	waitIP(t, "share-b", "auto", "198.18.171.1")
}

// editPool applies change to the pool, retrying on conflicts.
func editPool(t *testing.T, name string, change func(*ironlbv1.IPAddressPool)) {
	t.Helper()
	for range 20 {
		var p ironlbv1.IPAddressPool
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, &p); err != nil {
			t.Fatal(err)
		}
		change(&p)
		err := env.Client.Update(context.Background(), &p)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			t.Fatal(err)
		}
	}
	t.Fatalf("could not update pool %s", name)
}
