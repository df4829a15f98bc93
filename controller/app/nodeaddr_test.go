package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/testenv"
)

// createNode creates a Ready node with one InternalIP and deletes it when the test ends.
func createNode(t *testing.T, name, ip string) {
	t.Helper()
	ctx := context.Background()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := env.Client.Create(ctx, n); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), n) })
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: name}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}}
	if err := env.Client.Status().Update(ctx, n); err != nil {
		t.Fatal(err)
	}
}

func editNode(t *testing.T, name string, change func(*corev1.Node)) {
	t.Helper()
	ctx := context.Background()
	var n corev1.Node
	if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, &n); err != nil {
		t.Fatal(err)
	}
	change(&n)
	status := *n.Status.DeepCopy()
	if err := env.Client.Update(ctx, &n); err != nil { // the spec; the answer resets the status
		t.Fatal(err)
	}
	n.Status = status
	if err := env.Client.Status().Update(ctx, &n); err != nil {
		t.Fatal(err)
	}
}

func setReady(ready corev1.ConditionStatus) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Status.Conditions[0].Status = ready }
}

func cordon(on bool) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Spec.Unschedulable = on }
}

// waitAllocated waits until the Service's IPAllocated condition is True with the reason
// and its ingress is want.
func waitAllocated(t *testing.T, ns, name, reason, want string) (*corev1.Service, *metav1.Condition) {
	t.Helper()
	var svc *corev1.Service
	var cond *metav1.Condition
	waitFor(t, 20*time.Second, func() string {
		svc = getService(t, ns, name)
		cond = meta.FindStatusCondition(svc.Status.Conditions, ironlbv1.ConditionIPAllocated)
		if cond == nil || cond.Status != metav1.ConditionTrue || cond.Reason != reason || ingress(svc) != want {
			return fmt.Sprintf("%s/%s ingress %q condition %+v, want %q and True/%s", ns, name, ingress(svc), cond, want, reason)
		}
		return ""
	})
	return svc, cond
}

func TestNodeAddressFallback(t *testing.T) {
	testenv.Require(t, env)
	ctx := context.Background()
	env.EnsureNamespace(t, "fallback", nil)
	// A pool that serves another namespace only: the Services here have NoMatchingPool.
	env.CreatePool(t, "fallback-elsewhere", ironlbv1.IPAddressPoolSpec{Addresses: addrs("198.18.140.0/24"),
		ServiceAllocation: &ironlbv1.ServiceAllocation{Namespaces: []string{"not-fallback"}}})
	createNode(t, "fb-a", "198.18.0.201")
	createNode(t, "fb-b", "198.18.0.202")
	createNode(t, "fb-c", "198.18.0.203")
	editNode(t, "fb-c", setReady(corev1.ConditionFalse))
	ctrl := startController(t, false)

	on := map[string]string{ironlbv1.AnnotationNodeAddressFallback: "true"}
	createService(t, lbService("fallback", "web", on, 80))
	createService(t, lbService("fallback", "plain", nil, 80))
	svc, cond := waitAllocated(t, "fallback", "web", ironlbv1.ReasonNodeAddresses, "198.18.0.201,198.18.0.202")
	for _, want := range []string{"fb-a (198.18.0.201)", "fb-b (198.18.0.202)", "No IPAddressPool can give Service fallback/web"} {
		if !strings.Contains(cond.Message, want) {
			t.Errorf("condition message %q does not contain %q", cond.Message, want)
		}
	}
	if m := svc.Status.LoadBalancer.Ingress[0].IPMode; m == nil || *m != corev1.LoadBalancerIPModeVIP {
		t.Errorf("ipMode = %v, want VIP: kube-proxy must handle the Service's ports on the node address", m)
	}
	if p, ok := svc.Annotations[ironlbv1.AnnotationAllocatedFromPool]; ok {
		t.Errorf("node addresses come from no pool, but %s is %q", ironlbv1.AnnotationAllocatedFromPool, p)
	}
	// Without the annotation nothing changes: the Service waits for a pool.
	waitReason(t, "fallback", "plain", ironlbv1.ReasonNoMatchingPool)
	if got := ingress(getService(t, "fallback", "plain")); got != "" {
		t.Errorf("a Service without the annotation got %q", got)
	}
	waitFor(t, 10*time.Second, func() string {
		if d := eventsFor(t, "fallback", "web"); !strings.Contains(d, "198.18.0.201 (InternalIP of node fb-a)") {
			return "no IPAllocated event naming the node address:\n" + d
		}
		return ""
	})

	// Nodes coming and going change the addresses, in both directions.
	editNode(t, "fb-b", cordon(true))
	waitAllocated(t, "fallback", "web", ironlbv1.ReasonNodeAddresses, "198.18.0.201")
	editNode(t, "fb-c", setReady(corev1.ConditionTrue))
	waitAllocated(t, "fallback", "web", ironlbv1.ReasonNodeAddresses, "198.18.0.201,198.18.0.203")

	// A restart claims no node address and writes nothing when nothing changed.
	before := getService(t, "fallback", "web").ResourceVersion
	ctrl.stop()
	startController(t, false)
	time.Sleep(2 * time.Second)
	if after := getService(t, "fallback", "web"); after.ResourceVersion != before || ingress(after) != "198.18.0.201,198.18.0.203" {
		t.Errorf("after a restart: resourceVersion %s (was %s), ingress %q", after.ResourceVersion, before, ingress(after))
	}

	// No eligible node: False, naming each node and why.
	editNode(t, "fb-a", cordon(true))
	editNode(t, "fb-c", setReady(corev1.ConditionUnknown))
	cond = waitReason(t, "fallback", "web", ironlbv1.ReasonNoNodeAddresses)
	for _, want := range []string{"node fb-a is cordoned", "node fb-b is cordoned", "node fb-c is not Ready"} {
		if !strings.Contains(cond.Message, want) {
			t.Errorf("condition message %q does not contain %q", cond.Message, want)
		}
	}
	if got := ingress(getService(t, "fallback", "web")); got != "" {
		t.Errorf("with no eligible node the ingress is %q", got)
	}
	editNode(t, "fb-a", cordon(false))
	editNode(t, "fb-c", setReady(corev1.ConditionTrue))
	waitAllocated(t, "fallback", "web", ironlbv1.ReasonNodeAddresses, "198.18.0.201,198.18.0.203")

	// Opting out gives the node addresses back; the Service waits for a pool again.
	setFallback := func(value string) {
		t.Helper()
		svc := getService(t, "fallback", "web")
		svc.Annotations[ironlbv1.AnnotationNodeAddressFallback] = value
		if err := env.Client.Update(ctx, svc); err != nil {
			t.Fatal(err)
		}
	}
	// A younger Service with the same port on the same node addresses waits: kube-proxy
	// would send that port to either. It takes them when the older one leaves, and yields
	// again when the older one comes back, which never yields to it.
	clash := lbService("fallback", "clash", on, 80)
	createService(t, clash)
	cond = waitReason(t, "fallback", "clash", ironlbv1.ReasonNoNodeAddresses)
	if want := "port TCP/80 on 198.18.0.201 is taken by older Service fallback/web"; !strings.Contains(cond.Message, want) {
		t.Errorf("condition message %q does not contain %q", cond.Message, want)
	}
	setFallback("false")
	waitReason(t, "fallback", "web", ironlbv1.ReasonNoMatchingPool)
	waitIP(t, "fallback", "web", "")
	waitAllocated(t, "fallback", "clash", ironlbv1.ReasonNodeAddresses, "198.18.0.201,198.18.0.203")
	setFallback("true")
	waitAllocated(t, "fallback", "web", ironlbv1.ReasonNodeAddresses, "198.18.0.201,198.18.0.203")
	waitReason(t, "fallback", "clash", ironlbv1.ReasonNoNodeAddresses)
	if err := env.Client.Delete(ctx, clash); err != nil {
		t.Fatal(err)
	}

	// externalTrafficPolicy Local: only the nodes with a ready endpoint.
	local := lbService("fallback", "local", on, 81)
	local.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	createService(t, local)
	waitReason(t, "fallback", "local", ironlbv1.ReasonNoNodeAddresses)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "fallback", Name: "local-1", Labels: map[string]string{discoveryv1.LabelServiceName: "local"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"198.18.64.5"}, NodeName: ptr.To("fb-c"),
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	}
	if err := env.Client.Create(ctx, slice); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), slice) })
	waitAllocated(t, "fallback", "local", ironlbv1.ReasonNodeAddresses, "198.18.0.203")

	// A pool that serves the Services: they move to its addresses. Once it is exhausted,
	// an opted-in Service left without an address waits for it (PoolExhausted): it does
	// not fall back, because a pool does serve it.
	if err := env.Client.Delete(ctx, getService(t, "fallback", "plain")); err != nil {
		t.Fatal(err)
	}
	env.CreatePool(t, "fallback-pool", ironlbv1.IPAddressPoolSpec{Addresses: addrs("198.18.141.1-198.18.141.2"),
		ServiceAllocation: &ironlbv1.ServiceAllocation{Namespaces: []string{"fallback"}}})
	waitFor(t, 20*time.Second, func() string {
		web, local := getService(t, "fallback", "web"), getService(t, "fallback", "local")
		if got := ingress(web) + " " + ingress(local); got != "198.18.141.1 198.18.141.2" && got != "198.18.141.2 198.18.141.1" {
			return "web and local have " + got + ", want the pool's two addresses"
		}
		if c := meta.FindStatusCondition(web.Status.Conditions, ironlbv1.ConditionIPAllocated); c == nil || c.Reason != "Allocated" {
			return fmt.Sprintf("web condition %+v, want Allocated", c)
		}
		return ""
	})
	createService(t, lbService("fallback", "third", on, 82))
	waitReason(t, "fallback", "third", ironlbv1.ReasonPoolExhausted)
	time.Sleep(500 * time.Millisecond)
	if got := ingress(getService(t, "fallback", "third")); got != "" {
		t.Errorf("a Service whose pool is exhausted got %q", got)
	}
}
