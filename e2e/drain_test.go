package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
)

// cordon sets or clears a Node's spec.unschedulable, as `kubectl cordon` and `kubectl
// uncordon` do (and `kubectl drain` before it evicts pods).
func cordon(t *testing.T, l *lab.Lab, node string, on bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	patch := fmt.Sprintf(`{"spec":{"unschedulable":%t}}`, on)
	if _, err := l.Kube.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("cordon=%t Node %s: %v", on, node, err)
	}
}

// probeFrom starts a 10 ms probe of the address from a client namespace.
func probeFrom(t *testing.T, l *lab.Lab, netns string, a netip.Addr) *lab.Prober {
	t.Helper()
	p, err := l.Probe(context.Background(), netns, lbURL(a), 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	return p
}

// maxDrainFailures is how many probes a drain may lose. The drained node keeps forwarding
// (externalTrafficPolicy: Cluster, kube-proxy) while clients and routers move, so none is
// lost by design, and none was in repeated runs; the slack is for a probe timing out on a
// loaded machine. A broken hand-over loses a run of them.
const maxDrainFailures = 2

// stopProbe stops the probe after half a second more, logs its figures and checks that
// (almost) no request was lost.
func stopProbe(t *testing.T, what string, p *lab.Prober) {
	t.Helper()
	time.Sleep(500 * time.Millisecond)
	res := p.Stop()
	t.Logf("%s: longest gap %s, %d failures of %d probes", what, res.Longest, res.Failures, res.Successes+res.Failures)
	if res.Successes == 0 || res.Failures > maxDrainFailures {
		t.Errorf("%s: %d failed probes, want at most %d: %s", what, res.Failures, maxDrainFailures, res.LastError)
	}
}

// TestDrain cordons the node serving an address under advertisements with
// excludeCordonedNodes while a client probes it every 10 ms: in layer 2 another node takes
// the address over, in BGP the router drops the node's next hop while its sessions stay
// Established. Uncordoning brings the node back. The gaps are reported, not asserted.
func TestDrain(t *testing.T) {
	l := bgpLab(t, lab.Options{}, func(l *lab.Lab) []client.Object {
		return []client.Object{
			bgpPool("l2", "198.18.100.0/24", "2001:db8:100::10-2001:db8:100::ff"),
			bgpPool("bgp", "198.18.103.0/24", "2001:db8:100:3::/64"),
			&ironlbv1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "l2"}, Spec: ironlbv1.L2AdvertisementSpec{
				PoolSelection:   ironlbv1.PoolSelection{IPAddressPools: []string{"l2"}},
				TargetSelection: ironlbv1.TargetSelection{ExcludeCordonedNodes: true}}},
			&ironlbv1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "bgp"}, Spec: ironlbv1.BGPAdvertisementSpec{
				PoolSelection:   ironlbv1.PoolSelection{IPAddressPools: []string{"bgp"}},
				TargetSelection: ironlbv1.TargetSelection{ExcludeCordonedNodes: true}}},
			bgpPeer("router4", l.NodeASN(), l.Router.ASN, l.Router.IPv4),
		}
	})
	all := l.Nodes

	t.Run("layer 2: the cordoned owner hands its address over", func(t *testing.T) {
		svc, pods := extraService(t, l, "l2web", func(s *corev1.Service) {
			s.Annotations = map[string]string{ironlbv1.AnnotationAddressPool: "l2"}
		}, all[0].Name)
		a := ingressAddrs(svc)[0]
		old := owner(t, l, a)
		reach(t, l, a, pods[0].Name)
		probe := probeFrom(t, l, l.L2Client.Netns, a)
		cordon(t, l, old.Name, true)
		next := owner(t, l, a, old.Name)
		eventually(t, 5*time.Second, "the client's neighbour entry to move to "+next.Name, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			mac, err := l.ClientNeighbour(ctx, a)
			if err != nil {
				return err
			}
			if !strings.EqualFold(mac, next.MAC) {
				return fmt.Errorf("it holds %q", mac)
			}
			return nil
		})
		stopProbe(t, fmt.Sprintf("L2 cordon of %s (to %s)", old.Name, next.Name), probe)
		reach(t, l, a, pods[0].Name)

		// With every other node cordoned too, the condition counts the cordoned nodes.
		for _, n := range all {
			cordon(t, l, n.Name, true)
		}
		announcedCondition(t, l, svc, metav1.ConditionFalse, fmt.Sprintf("%d node(s) is cordoned", len(all)))
		for _, n := range all {
			cordon(t, l, n.Name, false)
		}
		if got := owner(t, l, a); got.Name != old.Name {
			t.Errorf("after uncordon %s is announced by %s, want %s (the election winner)", a, got.Name, old.Name)
		}
		reach(t, l, a, pods[0].Name)
	})

	t.Run("BGP: the cordoned node withdraws its routes and keeps its sessions", func(t *testing.T) {
		_, pods, v4, _ := bgpService(t, l, "bgpweb", "bgp", "", all[0].Name)
		sessions := nodeAddrs(all, nodeV4)
		waitSessions(t, l, l.Router, 30*time.Second, sessions, nil)
		waitNextHops(t, l, host(v4), 20*time.Second, all...)
		reachBGP(t, l, v4, pods[0].Name)
		drained := all[1]
		probe := probeFrom(t, l, l.BGPClient.Netns, v4)
		cordon(t, l, drained.Name, true)
		waitNextHops(t, l, host(v4), 20*time.Second, all[0], all[2])
		stopProbe(t, "BGP cordon of "+drained.Name, probe)
		if err := sessionsAre(l, l.Router, sessions, nil); err != nil {
			t.Errorf("sessions after the cordon: %v", err)
		}
		cordon(t, l, drained.Name, false)
		waitNextHops(t, l, host(v4), 20*time.Second, all...)
		reachBGP(t, l, v4, pods[0].Name)
	})
}
