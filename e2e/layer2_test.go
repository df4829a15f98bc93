package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
)

// l2Lab starts a lab with the controller, a dual-stack pool announced on layer 2 and a
// speaker on every node.
func l2Lab(t *testing.T) *lab.Lab {
	t.Helper()
	l := startLab(t, lab.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool := &ironlbv1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{Name: "l2"},
		Spec:       ironlbv1.IPAddressPoolSpec{Addresses: []ironlbv1.AddressRange{"198.18.100.0/24", "2001:db8:100::10-2001:db8:100::ff"}, AvoidBuggyIPs: true},
	}
	adv := &ironlbv1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "l2"}}
	if err := l.Client.Create(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := l.Client.Create(ctx, adv); err != nil {
		t.Fatal(err)
	}
	if err := l.StartIronlb(ctx); err != nil {
		t.Fatal(err)
	}
	return l
}

// l2Service creates a dual-stack LoadBalancer Service with one pod per given node and
// returns it once it has its addresses (see extraService).
func l2Service(t *testing.T, l *lab.Lab, name string, local bool, nodes ...string) (*corev1.Service, []*lab.Pod) {
	t.Helper()
	return extraService(t, l, name, func(svc *corev1.Service) {
		if local {
			svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}
	}, nodes...)
}

func ingressAddrs(svc *corev1.Service) []netip.Addr {
	var out []netip.Addr
	for _, i := range svc.Status.LoadBalancer.Ingress {
		out = append(out, netip.MustParseAddr(i.IP))
	}
	return out
}

func lbURL(a netip.Addr) string { return "http://" + net.JoinHostPort(a.String(), "80") + "/" }

// owner waits until exactly one node answers ARP/NDP for the address and returns it.
func owner(t *testing.T, l *lab.Lab, a netip.Addr, not ...string) *lab.Node {
	t.Helper()
	var node *lab.Node
	eventually(t, 20*time.Second, "one node answering for "+a.String(), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		macs, err := l.WhoHas(ctx, a)
		if err != nil {
			return err
		}
		if len(macs) != 1 {
			return fmt.Errorf("MACs answering: %v", macs)
		}
		node = l.NodeByMAC(macs[0])
		if node == nil {
			return fmt.Errorf("%s answers, which is no node", macs[0])
		}
		if slices.Contains(not, node.Name) {
			return fmt.Errorf("%s still answers", node.Name)
		}
		return nil
	})
	return node
}

// reach checks that the pod answers through the external address from the L2 client.
func reach(t *testing.T, l *lab.Lab, a netip.Addr, want ...string) {
	t.Helper()
	eventually(t, 20*time.Second, "curl "+lbURL(a), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		body, err := l.Curl(ctx, l.L2Client.Netns, lbURL(a))
		if err != nil {
			return err
		}
		if len(want) > 0 && !slices.Contains(want, strings.TrimSpace(body)) {
			return fmt.Errorf("answered by %q, want one of %v", body, want)
		}
		return nil
	})
}

func announcedCondition(t *testing.T, l *lab.Lab, svc *corev1.Service, status metav1.ConditionStatus, contains string) {
	t.Helper()
	eventually(t, 20*time.Second, "condition "+ironlbv1.ConditionL2Announced, func() error {
		got, err := l.Kube.CoreV1().Services(svc.Namespace).Get(context.Background(), svc.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		c := meta.FindStatusCondition(got.Status.Conditions, ironlbv1.ConditionL2Announced)
		if c == nil || c.Status != status || !strings.Contains(c.Message, contains) {
			return fmt.Errorf("condition %+v, want %s containing %q", c, status, contains)
		}
		return nil
	})
}

func TestLayer2(t *testing.T) {
	l := l2Lab(t)
	svc, pods := l2Service(t, l, "web", false, l.Nodes[0].Name)
	addrs := ingressAddrs(svc)

	t.Run("one node answers and the pod is reached through the external address", func(t *testing.T) {
		o4 := owner(t, l, addrs[0])
		o6 := owner(t, l, addrs[1])
		// Each address is elected on its own, so the two families may land on two nodes.
		t.Logf("IPv4 announced by %s, IPv6 by %s", o4.Name, o6.Name)
		for _, a := range addrs {
			reach(t, l, a, pods[0].Name)
		}
		announcedCondition(t, l, svc, metav1.ConditionTrue, "node "+o4.Name)
	})

	t.Run("owner killed and its link cut", func(t *testing.T) {
		old := owner(t, l, addrs[0])
		ctx := context.Background()
		if err := l.KillSpeaker(old.Name); err != nil {
			t.Fatal(err)
		}
		if err := l.LinkDown(ctx, old.Name); err != nil {
			t.Fatal(err)
		}
		// The pod lives on node-1; if node-1 was cut off, Cluster traffic cannot reach it.
		next := owner(t, l, addrs[0], old.Name)
		t.Logf("failover from %s to %s", old.Name, next.Name)
		if old.Name != pods[0].Node.Name {
			reach(t, l, addrs[0], pods[0].Name)
		}
		if err := l.LinkUp(ctx, old.Name); err != nil {
			t.Fatal(err)
		}
		if err := l.RestartSpeaker(ctx, old.Name); err != nil {
			t.Fatal(err)
		}
		owner(t, l, addrs[0])
		reach(t, l, addrs[0], pods[0].Name)
	})

	t.Run("graceful stop hands over", func(t *testing.T) {
		old := owner(t, l, addrs[1])
		probe, err := l.Probe(context.Background(), l.L2Client.Netns, lbURL(addrs[1]), 10*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		if err := l.StopSpeaker(old.Name); err != nil {
			t.Fatal(err)
		}
		owner(t, l, addrs[1], old.Name)
		time.Sleep(500 * time.Millisecond)
		res := probe.Stop()
		t.Logf("graceful hand-over from %s: longest gap %s, %d failures of %d", old.Name, res.Longest, res.Failures, res.Successes+res.Failures)
		if res.Successes == 0 {
			t.Errorf("no probe succeeded: %s", res.LastError)
		}
		if err := l.RestartSpeaker(context.Background(), old.Name); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("frozen owner is replaced and one owner remains after thaw", func(t *testing.T) {
		old := owner(t, l, addrs[0])
		if err := l.FreezeSpeaker(old.Name); err != nil {
			t.Fatal(err)
		}
		owner(t, l, addrs[0], old.Name)
		reach(t, l, addrs[0], pods[0].Name)
		if err := l.ThawSpeaker(old.Name); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		owner(t, l, addrs[0])
	})

	t.Run("partition heals to one owner", func(t *testing.T) {
		ctx := context.Background()
		old := owner(t, l, addrs[0])
		if err := l.BlockMemberlist(ctx, old.Name, 7946); err != nil {
			t.Fatal(err)
		}
		// Both sides now think they own the address; the client may see either.
		time.Sleep(3 * time.Second)
		if err := l.UnblockMemberlist(ctx, old.Name); err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * time.Second)
		owner(t, l, addrs[0])
		reach(t, l, addrs[0], pods[0].Name)
	})

	t.Run("externalTrafficPolicy Local follows the pod", func(t *testing.T) {
		ctx := context.Background()
		lsvc, lpods := l2Service(t, l, "local", true, l.Nodes[1].Name)
		la := ingressAddrs(lsvc)
		for _, a := range la {
			if got := owner(t, l, a); got.Name != l.Nodes[1].Name {
				t.Errorf("%s announced by %s, want %s, the only node with an endpoint", a, got.Name, l.Nodes[1].Name)
			}
			reach(t, l, a, lpods[0].Name)
		}
		moved, err := l.MovePod(ctx, lpods[0], l.Nodes[2].Name)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.SetEndpoints(ctx, lsvc, lab.Ready(moved)); err != nil {
			t.Fatal(err)
		}
		if got := owner(t, l, la[0], l.Nodes[1].Name); got.Name != l.Nodes[2].Name {
			t.Errorf("after the move %s is announced by %s, want %s", la[0], got.Name, l.Nodes[2].Name)
		}
		reach(t, l, la[0], moved.Name)
		if err := l.SetEndpoints(ctx, lsvc, nil); err != nil {
			t.Fatal(err)
		}
		announcedCondition(t, l, lsvc, metav1.ConditionFalse, "local endpoint")
		eventually(t, 10*time.Second, "nobody answering for "+la[0].String(), func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if macs, err := l.WhoHas(ctx, la[0]); err != nil || len(macs) > 0 {
				return fmt.Errorf("MACs %v (%w)", macs, err)
			}
			return nil
		})
	})
}
