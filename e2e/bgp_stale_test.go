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
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/controller/bgpcondition"
	"github.com/ironlb/ironlb/e2e/lab"
)

// TestBGPAdvertisedForgetsDeadSpeakers: the BGPAdvertised condition stops counting a node
// whose speaker is gone, though the router dropped the session while the BGPPeers'
// status.nodes may still say Established.
//
//   - Powered off: the speaker is killed (SIGKILL, no goodbye: its entries stay
//     Established) and the Node goes NotReady, as the node lifecycle controller marks a
//     node whose kubelet stopped reporting. The condition must stop counting the node,
//     naming why.
//   - Stopped gracefully (SIGTERM): the speaker removes its own entries, so the condition
//     says the node has no Established session, with the Node still Ready.
//
// Process mode runs the speakers as processes, so the controller has no speaker Pods to
// check (--speaker-pod-selector unset); e2e/cluster's TestBGPAdvertisedForgetsKilledSpeakerPods
// covers that path.
func TestBGPAdvertisedForgetsDeadSpeakers(t *testing.T) {
	l := bgpLab(t, lab.Options{}, func(l *lab.Lab) []client.Object {
		return []client.Object{
			bgpPool("bgp", "198.18.105.0/24", "2001:db8:100:5::/64"),
			&ironlbv1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "bgp"}},
			bgpPeer("router4", l.NodeASN(), l.Router.ASN, l.Router.IPv4),
			bgpPeer("router6", l.NodeASN(), l.Router.ASN, l.Router.IPv6),
		}
	})
	svc, _, v4, v6 := bgpService(t, l, "web", "", "", l.Nodes[0].Name)
	peers := fmt.Sprintf("2 peers (router4 %s, router6 %s)", l.Router.IPv4, l.Router.IPv6)
	n1, others := l.Nodes[0], l.Nodes[1:]
	everyNode := fmt.Sprintf("advertised by 3 nodes to %s: %s", peers, strings.Join(names(l.Nodes...), ", "))
	without := func(why string) string {
		return fmt.Sprintf("advertised by 2 of 3 nodes to %s: %s; %s", peers, strings.Join(names(others...), ", "), why)
	}
	n1Addrs := []netip.Addr{n1.IPv4, n1.IPv6}
	otherAddrs := append(nodeAddrs(others, nodeV4), nodeAddrs(others, nodeV6)...)
	ctx := context.Background()
	backUp := func() {
		t.Helper()
		setNodeReady(t, l, n1.Name, corev1.ConditionTrue)
		if err := l.StartSpeaker(ctx, n1.Name); err != nil {
			t.Fatal(err)
		}
		waitNextHops(t, l, host(v4), 30*time.Second, l.Nodes...)
		waitBGPCondition(t, l, svc, 30*time.Second, metav1.ConditionTrue, ironlbv1.ReasonAdvertised, everyNode)
	}
	waitNextHops(t, l, host(v4), 30*time.Second, l.Nodes...)
	waitNextHops(t, l, host(v6), 30*time.Second, l.Nodes...)
	waitBGPCondition(t, l, svc, 20*time.Second, metav1.ConditionTrue, ironlbv1.ReasonAdvertised, everyNode)
	// A Service's condition is written at most once per --bgp-condition-interval: start
	// each step a full interval after the last write, so the times logged are the
	// controller's reaction, not the interval.
	quiet := func() { time.Sleep(bgpcondition.DefaultMinInterval + time.Second) }
	quiet()

	// Powered off: no goodbye, and the kubelet stops reporting.
	killed := time.Now()
	if err := l.KillSpeaker(n1.Name); err != nil {
		t.Fatal(err)
	}
	waitSessions(t, l, l.Router, 20*time.Second, otherAddrs, n1Addrs)
	routerDown := time.Since(killed)
	for _, p := range []string{"router4", "router6"} {
		waitPeerStatus(t, l, p, 5*time.Second, n1.Name+" still reported Established (the stale entry)", established(n1))
	}
	setNodeReady(t, l, n1.Name, corev1.ConditionFalse)
	notReady := time.Now()
	waitBGPCondition(t, l, svc, 15*time.Second, metav1.ConditionTrue, ironlbv1.ReasonAdvertised, without("node "+n1.Name+" is not Ready"))
	t.Logf("power off: the router's sessions with %s down %v after the kill; the condition stopped counting it %v after the Node went NotReady",
		n1.Name, routerDown.Round(time.Millisecond), time.Since(notReady).Round(time.Millisecond))
	backUp()
	quiet()

	// Graceful stop: the speaker takes its entries with it.
	stopped := time.Now()
	if err := l.StopSpeaker(n1.Name); err != nil {
		t.Fatal(err)
	}
	stopTook := time.Since(stopped)
	waitSessions(t, l, l.Router, 20*time.Second, otherAddrs, n1Addrs)
	for _, p := range []string{"router4", "router6"} {
		waitPeerStatus(t, l, p, 5*time.Second, "no entry of "+n1.Name, func(p *ironlbv1.BGPPeer) error {
			if st := nodeStatus(p, n1.Name); st != nil {
				return fmt.Errorf("%s still has an entry %+v", n1.Name, *st)
			}
			return nil
		})
	}
	waitBGPCondition(t, l, svc, 15*time.Second, metav1.ConditionTrue, ironlbv1.ReasonAdvertised, without("no Established session on "+n1.Name))
	t.Logf("graceful stop: the speaker exited %v after SIGTERM; the condition stopped counting %s %v after SIGTERM",
		stopTook.Round(time.Millisecond), n1.Name, time.Since(stopped).Round(time.Millisecond))
	backUp()
}
