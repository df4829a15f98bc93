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

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
)

// setNodeReady sets a Node's Ready condition, as its kubelet (or the node lifecycle
// controller, for a node that stopped reporting) does; the process-mode lab has no kubelet
// to set it back.
func setNodeReady(t *testing.T, l *lab.Lab, node string, status corev1.ConditionStatus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := l.Kube.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for i := range n.Status.Conditions {
			if n.Status.Conditions[i].Type == corev1.NodeReady {
				n.Status.Conditions[i].Status = status
				n.Status.Conditions[i].LastTransitionTime = metav1.Now()
			}
		}
		_, err = l.Kube.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("set Ready=%s on %s: %v", status, node, err)
	}
}

// nodeIngress is what node-address fallback gives a dual-stack Service on these nodes:
// their IPv4 InternalIPs, then their IPv6 ones, each sorted.
func nodeIngress(nodes ...*lab.Node) []netip.Addr {
	var v4, v6 []netip.Addr
	for _, n := range nodes {
		v4, v6 = append(v4, n.IPv4), append(v6, n.IPv6)
	}
	slices.SortFunc(v4, netip.Addr.Compare)
	slices.SortFunc(v6, netip.Addr.Compare)
	return append(v4, v6...)
}

// waitAllocatedAs waits until the Service's ingress is want and its IPAllocated condition
// is True with the reason.
func waitAllocatedAs(t *testing.T, l *lab.Lab, svc *corev1.Service, reason string, want []netip.Addr) *corev1.Service {
	t.Helper()
	var got *corev1.Service
	eventually(t, 30*time.Second, fmt.Sprintf("%s with %s addresses %v", svc.Name, reason, want), func() error {
		got = currentService(t, l, svc)
		c := meta.FindStatusCondition(got.Status.Conditions, ironlbv1.ConditionIPAllocated)
		if c == nil || c.Status != metav1.ConditionTrue || c.Reason != reason {
			return fmt.Errorf("condition %+v", c)
		}
		if have := ingressAddrs(got); !slices.Equal(have, want) {
			return fmt.Errorf("ingress %v", have)
		}
		return nil
	})
	return got
}

// TestNodeAddressFallback runs node-address fallback on the lab's real kube-proxy: a
// Service that no pool serves and that carries ironlb.io/node-address-fallback gets the
// nodes' InternalIPs, a client reaches its pod through every one of them on the Service's
// port, a cordoned or NotReady node drops out and comes back, no speaker announces a node
// address, and once a pool serves the Service it moves to the pool's addresses.
func TestNodeAddressFallback(t *testing.T) {
	l := startLab(t, lab.Options{})
	ctx := context.Background()
	if err := l.StartIronlb(ctx); err != nil {
		t.Fatal(err)
	}
	all := l.Nodes
	pod, err := l.StartPod(ctx, all[0].Name, "nodes-0", map[string]string{"app": "nodes"})
	if err != nil {
		t.Fatal(err)
	}
	svc := lab.NewLoadBalancerService("e2e", "nodes")
	svc.Annotations = map[string]string{ironlbv1.AnnotationNodeAddressFallback: "true"}
	if svc, err = l.CreateService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	if err := l.SetEndpoints(ctx, svc, lab.Ready(pod)); err != nil {
		t.Fatal(err)
	}

	t.Run("the nodes' InternalIPs, reached through kube-proxy", func(t *testing.T) {
		got := waitAllocatedAs(t, l, svc, ironlbv1.ReasonNodeAddresses, nodeIngress(all...))
		for _, ing := range got.Status.LoadBalancer.Ingress {
			if ing.IPMode == nil || *ing.IPMode != corev1.LoadBalancerIPModeVIP {
				t.Errorf("%s has ipMode %v, want VIP", ing.IP, ing.IPMode)
			}
		}
		for _, a := range ingressAddrs(got) {
			reach(t, l, a, pod.Name)
		}
		// The node itself answers for its address; no speaker announces it for another.
		if o := owner(t, l, all[1].IPv4); o.Name != all[1].Name {
			t.Errorf("%s is answered by %s", all[1].IPv4, o.Name)
		}
		if c := meta.FindStatusCondition(got.Status.Conditions, ironlbv1.ConditionL2Announced); c != nil {
			t.Errorf("node addresses are not announced, but the Service has %+v", c)
		}
		eventually(t, 10*time.Second, "the IPAllocated event", func() error {
			return l.FindEvent(ctx, "Service", svc.Name, "IPAllocated", fmt.Sprintf("%s (InternalIP of node %s)", all[0].IPv4, all[0].Name))
		})
	})

	t.Run("a cordoned or NotReady node drops out and comes back", func(t *testing.T) {
		cordon(t, l, all[1].Name, true)
		waitAllocatedAs(t, l, svc, ironlbv1.ReasonNodeAddresses, nodeIngress(all[0], all[2]))
		setNodeReady(t, l, all[2].Name, corev1.ConditionFalse)
		got := waitAllocatedAs(t, l, svc, ironlbv1.ReasonNodeAddresses, nodeIngress(all[0]))
		reach(t, l, all[0].IPv4, pod.Name)
		c := meta.FindStatusCondition(got.Status.Conditions, ironlbv1.ConditionIPAllocated)
		if !strings.Contains(c.Message, all[0].Name+" ("+all[0].IPv4.String()) {
			t.Errorf("condition %q does not name %s and its address", c.Message, all[0].Name)
		}
		cordon(t, l, all[1].Name, false)
		setNodeReady(t, l, all[2].Name, corev1.ConditionTrue)
		waitAllocatedAs(t, l, svc, ironlbv1.ReasonNodeAddresses, nodeIngress(all...))
		reach(t, l, all[2].IPv6, pod.Name)
	})

	t.Run("no eligible node: NoNodeAddresses", func(t *testing.T) {
		for _, n := range all {
			cordon(t, l, n.Name, true)
		}
		eventually(t, 30*time.Second, "NoNodeAddresses", func() error {
			got := currentService(t, l, svc)
			c := meta.FindStatusCondition(got.Status.Conditions, ironlbv1.ConditionIPAllocated)
			if c == nil || c.Status != metav1.ConditionFalse || c.Reason != ironlbv1.ReasonNoNodeAddresses || len(got.Status.LoadBalancer.Ingress) > 0 {
				return fmt.Errorf("condition %+v, ingress %v", c, got.Status.LoadBalancer.Ingress)
			}
			if !strings.Contains(c.Message, "node "+all[0].Name+" is cordoned") {
				return fmt.Errorf("message %q does not say why %s gives no address", c.Message, all[0].Name)
			}
			return nil
		})
		for _, n := range all {
			cordon(t, l, n.Name, false)
		}
		waitAllocatedAs(t, l, svc, ironlbv1.ReasonNodeAddresses, nodeIngress(all...))
	})

	t.Run("a pool that serves the Service gives it a pool address", func(t *testing.T) {
		pool := &ironlbv1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "late"},
			Spec: ironlbv1.IPAddressPoolSpec{Addresses: []ironlbv1.AddressRange{"198.18.100.0/24", "2001:db8:100::10-2001:db8:100::ff"}, AvoidBuggyIPs: true}}
		adv := &ironlbv1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "late"}}
		if err := l.Client.Create(ctx, adv); err != nil {
			t.Fatal(err)
		}
		if err := l.Client.Create(ctx, pool); err != nil {
			t.Fatal(err)
		}
		want := []netip.Addr{netip.MustParseAddr("198.18.100.1"), netip.MustParseAddr("2001:db8:100::10")}
		got := waitAllocatedAs(t, l, svc, "Allocated", want)
		if p := got.Annotations[ironlbv1.AnnotationAllocatedFromPool]; p != "late" {
			t.Errorf("%s is %q, want late", ironlbv1.AnnotationAllocatedFromPool, p)
		}
		for _, a := range want {
			owner(t, l, a)
			reach(t, l, a, pod.Name)
		}
		// The pool's addresses never move again: a node going away changes nothing.
		cordon(t, l, all[0].Name, true)
		time.Sleep(2 * time.Second)
		if have := ingressAddrs(currentService(t, l, svc)); !slices.Equal(have, want) {
			t.Errorf("after a cordon the ingress is %v, want %v", have, want)
		}
		cordon(t, l, all[0].Name, false)
	})
}
