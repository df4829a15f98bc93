package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
	"github.com/ironlb/ironlb/internal/testenv"
)

// gshutTime is the IPv4 peer's gracefulShutdownTime in TestBGPGracefulShutdown.
const gshutTime = 15 * time.Second

// TestBGPGracefulShutdown cordons a node under a BGPAdvertisement with excludeCordonedNodes
// while the BGP client probes the Service every 10 ms. The IPv4 peer has
// gracefulShutdownTime: the node sends its IPv4 route again with GRACEFUL_SHUTDOWN, FRR
// lowers its LOCAL_PREF to 0 and stops using it while it is still there, and the node
// withdraws it once the time has run. The IPv6 peer has none: the IPv6 route goes at once.
// A speaker restarted on the cordoned node sends nothing again. No probe may be lost; the times are reported (e2e/results/bgp-graceful-shutdown.json
// with IRONLB_BENCH=1).
func TestBGPGracefulShutdown(t *testing.T) {
	l := bgpLab(t, lab.Options{Nodes: 2}, func(l *lab.Lab) []client.Object {
		return []client.Object{
			bgpPool("gshut", "198.18.118.0/28", "2001:db8:100:18::/124"),
			&ironlbv1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "gshut"}, Spec: ironlbv1.BGPAdvertisementSpec{
				PoolSelection:   ironlbv1.PoolSelection{IPAddressPools: []string{"gshut"}},
				TargetSelection: ironlbv1.TargetSelection{ExcludeCordonedNodes: true},
			}},
			bgpPeer("router4", l.NodeASN(), l.Router.ASN, l.Router.IPv4, func(s *ironlbv1.BGPPeerSpec) {
				s.GracefulShutdownTime = &metav1.Duration{Duration: gshutTime}
			}),
			bgpPeer("router6", l.NodeASN(), l.Router.ASN, l.Router.IPv6),
		}
	})
	n0, n1 := l.Nodes[0], l.Nodes[1]
	_, pods, v4, v6 := bgpService(t, l, "gshut", "gshut", "", n0.Name, n1.Name)
	sessions := append(nodeAddrs(l.Nodes, nodeV4), nodeAddrs(l.Nodes, nodeV6)...)
	waitSessions(t, l, l.Router, 30*time.Second, sessions, nil)
	waitNextHops(t, l, host(v4), 20*time.Second, n0, n1)
	waitNextHops(t, l, host(v6), 20*time.Second, n0, n1)
	setL4Hashing(t, l)
	reachBGP(t, l, v4, pods[0].Name, pods[1].Name)

	probe := probeFrom(t, l, l.BGPClient.Netns, v4)
	start := time.Now()
	cordon(t, l, n0.Name, true)
	// The IPv4 path from n0 stays, marked, and FRR prefers n1's: n0 is no next hop.
	waitGracefulPath(t, l, v4, n0)
	moved := time.Since(start)
	waitNextHops(t, l, host(v4), 5*time.Second, n1)
	// Without gracefulShutdownTime the IPv6 route is withdrawn at once.
	waitNextHops(t, l, host(v6), 10*time.Second, n1)
	v6Gone := time.Since(start)
	if err := pathsFrom(context.Background(), l, l.Router, host(v4), []*lab.Node{n0, n1}, nodeV4, nil); err != nil {
		t.Errorf("the IPv4 path from %s went before its graceful shutdown ran out (%s after the cordon): %v", n0.Name, time.Since(start), err)
	}
	eventually(t, gshutTime+15*time.Second, fmt.Sprintf("the IPv4 path from %s withdrawn after the graceful shutdown", n0.Name), func() error {
		return pathsFrom(context.Background(), l, l.Router, host(v4), []*lab.Node{n1}, nodeV4, nil)
	})
	withdrawn := time.Since(start)
	stopProbe(t, "BGP graceful shutdown of "+n0.Name, probe)
	if withdrawn < gshutTime-2*time.Second {
		t.Errorf("the IPv4 route was withdrawn %s after the cordon, before the %s graceful shutdown ran out", withdrawn, gshutTime)
	}
	if err := sessionsAre(l, l.Router, sessions, nil); err != nil {
		t.Errorf("sessions after the cordon: %v", err)
	}
	t.Logf("cordon of %s: FRR left its IPv4 path (GRACEFUL_SHUTDOWN, LOCAL_PREF 0) after %s, withdrawn after %s "+
		"(gracefulShutdownTime %s); IPv6 (no graceful shutdown) withdrawn after %s",
		n0.Name, moved.Round(time.Millisecond), withdrawn.Round(time.Millisecond), gshutTime, v6Gone.Round(time.Millisecond))
	if testenv.BenchEnabled() {
		t.Logf("wrote %s", testenv.WriteResult(t, "bgp-graceful-shutdown.json", map[string]float64{
			"gracefulShutdownSeconds": gshutTime.Seconds(), "pathDepreferredSeconds": moved.Seconds(),
			"ipv4WithdrawnSeconds": withdrawn.Seconds(), "ipv6WithdrawnSeconds": v6Gone.Seconds(),
		}))
	}

	// A speaker that starts on the cordoned node did not see the cordon happen: it leaves
	// the routes withdrawn, no second graceful shutdown.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.RestartSpeaker(ctx, n0.Name); err != nil {
		t.Fatal(err)
	}
	waitSessions(t, l, l.Router, 30*time.Second, sessions, nil)
	consistently(t, 5*time.Second, "no path from the restarted speaker of the cordoned "+n0.Name, func() error {
		return pathsFrom(context.Background(), l, l.Router, host(v4), []*lab.Node{n1}, nodeV4, nil)
	})

	cordon(t, l, n0.Name, false)
	waitNextHops(t, l, host(v4), 20*time.Second, n0, n1)
	waitNextHops(t, l, host(v6), 20*time.Second, n0, n1)
	eventually(t, 10*time.Second, "the IPv4 path from "+n0.Name+" without GRACEFUL_SHUTDOWN after the uncordon", func() error {
		return pathsFrom(context.Background(), l, l.Router, host(v4), l.Nodes, nodeV4, func(n *lab.Node, p lab.BGPPath) error {
			if isGracefulShutdown(p) {
				return fmt.Errorf("communities %v", p.Communities)
			}
			return nil
		})
	})
}

// waitGracefulPath waits until the router's path for a from node carries GRACEFUL_SHUTDOWN
// with LOCAL_PREF 0 (FRR's RFC 8326 handling of an eBGP path) and is no longer multipath.
func waitGracefulPath(t *testing.T, l *lab.Lab, a netip.Addr, node *lab.Node) {
	t.Helper()
	eventually(t, 10*time.Second, fmt.Sprintf("the path of %s from %s with GRACEFUL_SHUTDOWN", a, node.Name), func() error {
		return pathsFrom(context.Background(), l, l.Router, host(a), l.Nodes, nodeV4, func(n *lab.Node, p lab.BGPPath) error {
			if n != node {
				return nil
			}
			if !isGracefulShutdown(p) || p.LocalPref == nil || *p.LocalPref != 0 || p.Multipath || p.Best {
				return fmt.Errorf("communities %v, localPref %s, multipath %t, best %t; want GRACEFUL_SHUTDOWN, 0, neither",
					p.Communities, fmtPtr(p.LocalPref), p.Multipath, p.Best)
			}
			return nil
		})
	})
}

// isGracefulShutdown reports whether FRR shows the path with 65535:0, by its name.
func isGracefulShutdown(p lab.BGPPath) bool {
	return slices.Contains(p.Communities, "gracefulShutdown") || slices.Contains(p.Communities, "65535:0")
}
