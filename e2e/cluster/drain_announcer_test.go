package cluster

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2e/lab"
	"github.com/ironlb/ironlb/e2e/lab/host"
	"github.com/ironlb/ironlb/internal/testenv"
)

// maxDrainLosses is how many probe requests a drain may lose: none by design (the drained
// node keeps forwarding through kube-proxy while clients and the router move), plus slack
// for a probe timing out on a loaded machine. A broken hand-over loses a run of them.
const maxDrainLosses = 2

// TestDrainAnnouncingNode: `kubectl drain` of the node that answers ARP/NDP for a
// Service, with excludeCordonedNodes on both advertisements (#17 item 1). The cordon that
// starts the drain hands the layer-2 address to another node and withdraws the node's BGP
// routes while its sessions stay up, before the drain evicts the Service's pod there; a
// client on the segment and one behind the router probe every 10 ms throughout. The lost
// requests are asserted (a few at most), the gaps reported.
func TestDrainAnnouncingNode(t *testing.T) {
	l := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	applyDemo(ctx, t, l, "drain-l2", "bgp")
	for _, adv := range []string{"l2advertisement/demo", "bgpadvertisement/demo-bgp"} {
		kubectl(ctx, t, l, "patch", adv, "--type=merge", "-p", `{"spec":{"excludeCordonedNodes":true}}`)
	}
	l2 := exposeReplicated(ctx, t, l, "drain-l2")
	bgp := exposeReplicated(ctx, t, l, "bgp")
	var node string
	eventually(t, 30*time.Second, "one node answering for "+l2[0].String(), func() error {
		macs, err := l.WhoHas(ctx, l2[0])
		if err != nil {
			return err
		}
		if len(macs) != 1 || l.NodeByMAC(macs[0]) == nil {
			return fmt.Errorf("answered by %v", macs)
		}
		node = l.NodeByMAC(macs[0]).Name
		return nil
	})
	for _, a := range bgp {
		waitECMP(ctx, t, l, a)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = l.Kubectl(ctx, "uncordon", node)
	})

	targets := map[string]probeTarget{}
	for _, a := range l2 {
		targets["layer 2 "+family(a)] = probeTarget{netns: l.L2Client.Netns, addr: a}
	}
	for _, a := range bgp {
		targets["BGP "+family(a)] = probeTarget{netns: l.BGPClient.Netns, addr: a}
	}
	probers := map[string]*lab.Prober{}
	for name, tg := range targets {
		waitAnswers(ctx, t, l, tg)
		p, err := l.Probe(ctx, tg.netns, webURL(tg.addr), 10*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		probers[name] = p
	}
	start := time.Now()
	out, err := host.RunLong(ctx, 3*time.Minute, l.KubectlPath(), "--kubeconfig", l.Kubeconfig(),
		"drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=150s")
	drained := time.Since(start)
	time.Sleep(3 * time.Second) // the evicted pods' replacements start elsewhere: keep probing
	results := map[string]any{"drainSeconds": drained.Seconds(), "node": node}
	for _, name := range slices.Sorted(maps.Keys(probers)) {
		r := probers[name].Stop()
		t.Logf("%s during kubectl drain %s (%s): %s", name, node, drained.Round(time.Millisecond), r)
		results[name] = map[string]any{"failures": r.Failures, "requests": r.Successes + r.Failures, "longestGapMs": float64(r.Longest.Microseconds()) / 1000}
		if r.Successes == 0 || r.Failures > maxDrainLosses {
			t.Errorf("%s: %d requests lost during the drain of %s, want at most %d: %s", name, r.Failures, node, maxDrainLosses, r.LastError)
		}
	}
	if err != nil {
		t.Fatalf("kubectl drain %s: %v\n%s", node, err, out)
	}

	// The address moved off the drained node, and the router no longer uses it while its
	// sessions stay Established.
	macs, err := l.WhoHas(ctx, l2[0])
	if err != nil || len(macs) != 1 || l.NodeByMAC(macs[0]) == nil || l.NodeByMAC(macs[0]).Name == node {
		t.Errorf("after draining %s, %s is answered by %v (%v), want one other node", node, l2[0], macs, err)
	}
	for _, a := range bgp {
		hops, err := l.RouterRoutes(ctx, netip.PrefixFrom(a, a.BitLen()))
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hops {
			if n := l.NodeByAddr(h.Via); n != nil && n.Name == node {
				t.Errorf("after draining %s the router still routes %s through it", node, a)
			}
		}
	}
	if err := sessionsOf(ctx, l, node); err != nil {
		t.Errorf("the drained node's BGP sessions: %v", err)
	}
	if testenv.BenchEnabled() {
		t.Logf("wrote %s", testenv.WriteResult(t, "cluster-drain-announcer.json", results))
	}
}

// exposeReplicated creates a three-replica podserver Deployment "web" (so pods remain on
// the other nodes when one is drained) that keeps serving 3 s after SIGTERM, and its
// LoadBalancer Service in namespace ns, and returns the Service's addresses once the
// Deployment is available.
func exposeReplicated(ctx context.Context, t *testing.T, l *lab.Lab, ns string) []netip.Addr {
	t.Helper()
	d := lab.NewPodserverDeployment(ns, "web", 3)
	// Serve on for 3 s after SIGTERM, as real apps do (see podserver's --shutdown-delay):
	// the losses measured are then the load balancer's, not the app's.
	d.Spec.Template.Spec.Containers[0].Args = append(d.Spec.Template.Spec.Containers[0].Args, "--shutdown-delay=3s")
	if _, err := l.CreateDeployment(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateService(ctx, lab.NewLoadBalancerService(ns, "web")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.WaitDeploymentAvailable(ctx, ns, "web", 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	return ingressAddrs(ctx, t, l, ns, "web")
}

// sessionsOf checks that the router's sessions with the node are Established.
func sessionsOf(ctx context.Context, l *lab.Lab, node string) error {
	peers, err := l.BGPNeighbors(ctx)
	if err != nil {
		return err
	}
	n := 0
	for _, p := range peers {
		if p.Description == node {
			if p.State != "Established" {
				return fmt.Errorf("FRR's session with %s (%s) is %s", node, p.Address, p.State)
			}
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("FRR has no session with %s", node)
	}
	return nil
}
