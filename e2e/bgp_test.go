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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
)

// The BGP tests run the speakers against real FRR routers: the lab router (AS 64512, on the
// nodes' segment, with a neighbor per node address and BFD) and, for multi-hop eBGP, a second
// FRR behind it. What counts is what FRR learns and installs, and whether the BGP client,
// which reaches pool addresses only through the router's BGP routes, gets an answer.
//
// Their pools come from 198.18.103.0/24 and 2001:db8:100:3::/64, which the layer-2 tests
// leave alone.

const (
	// md5Secret is the Secret (in the speakers' namespace) holding the TCP MD5 password.
	md5Secret   = "bgp-md5"
	md5Password = "e2e-md5-password"
	// exclude is the well-known label that keeps a node out of load balancing.
	exclude = corev1.LabelNodeExcludeBalancers
)

// TestBGP: eBGP from every node to the lab router over an IPv4 session (BGPPeer router4)
// and an IPv6 one (router6), one pool, one BGPAdvertisement for everything. The subtests share
// the lab and run in order; each leaves the peers as it found them unless it says otherwise.
func TestBGP(t *testing.T) {
	var router4, router6 netip.Addr
	l := bgpLab(t, lab.Options{}, func(l *lab.Lab) []client.Object {
		router4, router6 = l.Router.IPv4, l.Router.IPv6
		return []client.Object{
			bgpPool("bgp", "198.18.103.0/24", "2001:db8:100:3::/64"),
			&ironlbv1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "bgp"}},
			bgpPeer("router4", l.NodeASN(), l.Router.ASN, router4),
			bgpPeer("router6", l.NodeASN(), l.Router.ASN, router6),
		}
	})
	n1, n2, n3 := l.Nodes[0], l.Nodes[1], l.Nodes[2]
	all := l.Nodes
	svc, pods, v4, v6 := bgpService(t, l, "web", "", "", n1.Name)
	web := pods[0].Name

	t.Run("every node is an ECMP next hop and the BGP client reaches the pod", func(t *testing.T) {
		waitSessions(t, l, l.Router, 30*time.Second, append(nodeAddrs(all, nodeV4), nodeAddrs(all, nodeV6)...), nil)
		waitNextHops(t, l, host(v4), 20*time.Second, all...)
		waitNextHops(t, l, host(v6), 20*time.Second, all...)
		ctx := context.Background()
		for _, fam := range []struct {
			addr netip.Addr
			peer func(*lab.Node) netip.Addr
		}{{v4, nodeV4}, {v6, nodeV6}} {
			// Each node advertises the address itself, from its own AS, with its own
			// address on the session as next hop.
			err := pathsFrom(ctx, l, l.Router, host(fam.addr), all, fam.peer, func(n *lab.Node, p lab.BGPPath) error {
				if p.NextHop != fam.peer(n) {
					return fmt.Errorf("next hop %s, want the node's address %s", p.NextHop, fam.peer(n))
				}
				if !slices.Equal(p.ASPath, []uint32{l.NodeASN()}) {
					return fmt.Errorf("AS path %v, want [%d]", p.ASPath, l.NodeASN())
				}
				if !p.Best && !p.Multipath {
					return fmt.Errorf("neither best nor multipath: FRR does not use it")
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
			// The kernel, not only zebra, has the three next hops.
			kernel, err := l.RouterKernelRoutes(ctx, host(fam.addr))
			if err != nil || len(kernel) != len(all) {
				t.Errorf("router kernel route for %s: next hops %v (%v), want %d", fam.addr, kernel, err, len(all))
			}
		}
		reachBGP(t, l, v4, web)
		reachBGP(t, l, v6, web)
	})

	t.Run("BGPPeer status, metrics and a SessionDown event", func(t *testing.T) {
		for _, peer := range []string{"router4", "router6"} {
			waitPeerStatus(t, l, peer, 20*time.Second, "every node Established with prefixes sent", func(p *ironlbv1.BGPPeer) error {
				if err := established(all...)(p); err != nil {
					return err
				}
				for _, n := range all {
					st := nodeStatus(p, n.Name)
					if st.PrefixesSent < 1 || st.Since == nil {
						return fmt.Errorf("%s: prefixesSent %d, since %v; want at least the Service's address and a time", n.Name, st.PrefixesSent, st.Since)
					}
				}
				if len(p.Status.Nodes) != len(all) {
					return fmt.Errorf("%d node entries, want %d", len(p.Status.Nodes), len(all))
				}
				return readyCondition(metav1.ConditionTrue, "")(p)
			})
			waitMetric(t, l, all, "ironlb_bgp_session_up", func(n *lab.Node) map[string]string {
				return map[string]string{"peer": peer, "node": n.Name}
			}, func(v float64) bool { return v == 1 }, "1")
			waitMetric(t, l, all, "ironlb_bgp_prefixes_advertised", func(*lab.Node) map[string]string {
				return map[string]string{"peer": peer}
			}, func(v float64) bool { return v >= 1 }, "at least 1")
		}

		// The router shuts node-1's IPv4 session: node-1's speaker sees it go down.
		ctx := context.Background()
		shut := fmt.Sprintf("neighbor %s shutdown", n1.IPv4)
		if err := l.RouterConfigure(ctx, fmt.Sprintf("router bgp %d", l.Router.ASN), shut); err != nil {
			t.Fatal(err)
		}
		reopened := false
		reopen := func() {
			if !reopened {
				reopened = true
				if err := l.RouterConfigure(ctx, fmt.Sprintf("router bgp %d", l.Router.ASN), "no "+shut); err != nil {
					t.Error(err)
				}
			}
		}
		defer reopen()
		waitNextHops(t, l, host(v4), 10*time.Second, n2, n3)
		waitPeerStatus(t, l, "router4", 20*time.Second, "node-1 not Established", func(p *ironlbv1.BGPPeer) error {
			if st := nodeStatus(p, n1.Name); st == nil || st.State == "Established" {
				return fmt.Errorf("node-1 still Established")
			}
			return nil
		})
		waitMetric(t, l, []*lab.Node{n1}, "ironlb_bgp_session_up", func(n *lab.Node) map[string]string {
			return map[string]string{"peer": "router4", "node": n.Name}
		}, func(v float64) bool { return v == 0 }, "0")
		eventually(t, 20*time.Second, "a SessionDown event on BGPPeer router4", func() error {
			return peerEvent(ctx, l, "router4", ironlbv1.EventSessionDown, n1.Name)
		})
		reopen()
		waitNextHops(t, l, host(v4), 30*time.Second, all...)
		waitPeerStatus(t, l, "router4", 20*time.Second, "node-1 Established again", established(n1))
	})

	t.Run("externalTrafficPolicy Local: only nodes with a local endpoint", func(t *testing.T) {
		ctx := context.Background()
		lsvc, lpods, l4, l6 := bgpService(t, l, "local", "", corev1.ServiceExternalTrafficPolicyLocal, n2.Name)
		waitNextHops(t, l, host(l4), 20*time.Second, n2)
		waitNextHops(t, l, host(l6), 20*time.Second, n2)
		reachBGP(t, l, l4, lpods[0].Name)
		reachBGP(t, l, l6, lpods[0].Name)

		moved, err := l.MovePod(ctx, lpods[0], n3.Name)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.SetEndpoints(ctx, lsvc, lab.Ready(moved)); err != nil {
			t.Fatal(err)
		}
		waitNextHops(t, l, host(l4), 20*time.Second, n3)
		waitNextHops(t, l, host(l6), 20*time.Second, n3)
		reachBGP(t, l, l4, moved.Name)

		if err := l.SetEndpoints(ctx, lsvc, nil); err != nil {
			t.Fatal(err)
		}
		waitNextHops(t, l, host(l4), 20*time.Second)
		waitNextHops(t, l, host(l6), 20*time.Second)
		if paths, err := l.RouterBGPPaths(ctx, host(l4)); err != nil || len(paths) > 0 {
			t.Errorf("%s without endpoints: the router still has BGP paths %+v (%v)", l4, paths, err)
		}
	})

	t.Run("withdrawn without endpoints; excluded and network-unavailable nodes advertise nothing", func(t *testing.T) {
		ctx := context.Background()
		if err := l.SetEndpoints(ctx, svc, nil); err != nil {
			t.Fatal(err)
		}
		waitNextHops(t, l, host(v4), 20*time.Second)
		waitNextHops(t, l, host(v6), 20*time.Second)
		if err := l.SetEndpoints(ctx, svc, lab.Ready(pods...)); err != nil {
			t.Fatal(err)
		}
		waitNextHops(t, l, host(v4), 20*time.Second, all...)

		labelNode(t, l, n3.Name, exclude, "true")
		waitNextHops(t, l, host(v4), 20*time.Second, n1, n2)
		waitNextHops(t, l, host(v6), 20*time.Second, n1, n2)
		labelNode(t, l, n3.Name, exclude, "")
		waitNextHops(t, l, host(v4), 20*time.Second, all...)

		setNetworkUnavailable(t, l, n2.Name, true)
		waitNextHops(t, l, host(v4), 20*time.Second, n1, n3)
		setNetworkUnavailable(t, l, n2.Name, false)
		waitNextHops(t, l, host(v4), 20*time.Second, all...)
		waitNextHops(t, l, host(v6), 20*time.Second, all...)
	})

	t.Run("editing one peer leaves the other's sessions alone", func(t *testing.T) {
		ctx := context.Background()
		waitSessions(t, l, l.Router, 30*time.Second, append(nodeAddrs(all, nodeV4), nodeAddrs(all, nodeV6)...), nil)
		waitPeerStatus(t, l, "router6", 20*time.Second, "every node Established", established(all...))
		before := map[netip.Addr]lab.BGPNeighbor{}
		peers, err := l.BGPNeighbors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range peers {
			before[p.Address] = p
		}
		p6, err := getPeer(ctx, l, "router6")
		if err != nil {
			t.Fatal(err)
		}
		updatePeer(t, l, "router4", func(s *ironlbv1.BGPPeerSpec) {
			s.HoldTime = &metav1.Duration{Duration: 30 * time.Second}
			s.KeepaliveTime = &metav1.Duration{Duration: 10 * time.Second}
		})
		// FRR offers 180 s; the session takes the smaller hold time, so 30 s shows the
		// edit reached the IPv4 sessions.
		eventually(t, 30*time.Second, "router4's sessions to negotiate a 30 s hold time", func() error {
			peers, err := l.BGPNeighbors(ctx)
			if err != nil {
				return err
			}
			for _, p := range peers {
				if p.Address.Is4() && l.NodeByAddr(p.Address) != nil && (p.State != "Established" || p.HoldTime != 30*time.Second) {
					return fmt.Errorf("%s (%s): %s, hold time %s", p.Address, nodeOf(l, p.Address), p.State, p.HoldTime)
				}
			}
			return nil
		})
		waitNextHops(t, l, host(v4), 20*time.Second, all...)
		after, err := l.BGPNeighbors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range after {
			b := before[p.Address]
			if !p.Address.Is6() || l.NodeByAddr(p.Address) == nil {
				continue
			}
			if p.State != "Established" || p.ConnectionsEstablished != b.ConnectionsEstablished || p.ConnectionsDropped != b.ConnectionsDropped {
				t.Errorf("router6 session %s (%s) flapped while router4 was edited: before %s, %d ups and %d downs; now %s, %d ups and %d downs",
					p.Address, nodeOf(l, p.Address), b.State, b.ConnectionsEstablished, b.ConnectionsDropped, p.State, p.ConnectionsEstablished, p.ConnectionsDropped)
			}
		}
		p6after, err := getPeer(ctx, l, "router6")
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range all {
			was, is := nodeStatus(p6, n.Name), nodeStatus(p6after, n.Name)
			if was == nil || is == nil || was.Since == nil || is.Since == nil || !was.Since.Equal(is.Since) || is.State != "Established" {
				t.Errorf("router6 status of %s changed while router4 was edited: %+v -> %+v", n.Name, was, is)
			}
		}
	})

	t.Run("TCP MD5: wrong password, missing Secret, then the right one", func(t *testing.T) {
		ctx := context.Background()
		bgp := fmt.Sprintf("router bgp %d", l.Router.ASN)
		var set, unset []string
		for _, n := range all {
			set = append(set, fmt.Sprintf("neighbor %s password %s", n.IPv4, md5Password))
			unset = append(unset, fmt.Sprintf("no neighbor %s password", n.IPv4))
		}
		if err := l.RouterConfigure(ctx, append([]string{bgp}, set...)...); err != nil {
			t.Fatal(err)
		}
		defer func() {
			// Back to no password on both sides.
			if err := l.RouterConfigure(ctx, append([]string{bgp}, unset...)...); err != nil {
				t.Error(err)
			}
			updatePeer(t, l, "router4", func(s *ironlbv1.BGPPeerSpec) { s.Password, s.PasswordSecret = "", nil })
			waitSessions(t, l, l.Router, 30*time.Second, nodeAddrs(all, nodeV4), nil)
		}()
		v4peers := nodeAddrs(all, nodeV4)

		// The speakers have no password yet: the router's kernel drops their SYNs.
		waitSessions(t, l, l.Router, 20*time.Second, nil, v4peers)
		updatePeer(t, l, "router4", func(s *ironlbv1.BGPPeerSpec) { s.Password = "not-the-password" })
		consistently(t, 6*time.Second, "a wrong MD5 password must not open a session", func() error {
			return sessionsAre(l, l.Router, nil, v4peers)
		})
		waitPeerStatus(t, l, "router4", 20*time.Second, "no node Established, with a message", func(p *ironlbv1.BGPPeer) error {
			for _, n := range all {
				st := nodeStatus(p, n.Name)
				if st == nil || st.State == "Established" || st.Message == "" {
					return fmt.Errorf("%s: %+v, want a state other than Established and a message saying why", n.Name, st)
				}
			}
			return nil
		})
		if p, err := getPeer(ctx, l, "router4"); err == nil {
			t.Logf("wrong password, status: %s", peerStatusString(p))
		}

		// A Secret that does not exist yet.
		updatePeer(t, l, "router4", func(s *ironlbv1.BGPPeerSpec) {
			s.Password = ""
			s.PasswordSecret = &ironlbv1.SecretKeyReference{Name: md5Secret, Namespace: lab.ControllerNamespace, Key: "password"}
		})
		waitPeerStatus(t, l, "router4", 20*time.Second, "Ready=False and node messages naming the missing Secret", func(p *ironlbv1.BGPPeer) error {
			for _, n := range all {
				if st := nodeStatus(p, n.Name); st == nil || st.State == "Established" || !strings.Contains(st.Message, md5Secret) {
					return fmt.Errorf("%s: %+v, want a message naming Secret %s", n.Name, st, md5Secret)
				}
			}
			return readyCondition(metav1.ConditionFalse, md5Secret)(p)
		})
		if err := sessionsAre(l, l.Router, nil, v4peers); err != nil {
			t.Errorf("without the Secret: %v", err)
		}

		// Creating the Secret opens the sessions, with no speaker restart.
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: lab.ControllerNamespace, Name: md5Secret},
			StringData: map[string]string{"password": md5Password},
		}
		if _, err := l.Kube.CoreV1().Secrets(lab.ControllerNamespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		defer func() {
			_ = l.Kube.CoreV1().Secrets(lab.ControllerNamespace).Delete(ctx, md5Secret, metav1.DeleteOptions{})
		}()
		waitSessions(t, l, l.Router, 30*time.Second, v4peers, nil)
		waitPeerStatus(t, l, "router4", 20*time.Second, "Established and Ready", func(p *ironlbv1.BGPPeer) error {
			if err := established(all...)(p); err != nil {
				return err
			}
			return readyCondition(metav1.ConditionTrue, "")(p)
		})
		waitNextHops(t, l, host(v4), 20*time.Second, all...)
	})

	t.Run("peer nodeSelectors and multi-hop eBGP to a router behind the router", func(t *testing.T) {
		ctx := context.Background()
		far, err := l.StartMultiHopRouter(ctx)
		if err != nil {
			t.Fatal(err)
		}
		selected := []*lab.Node{n1, n2}
		peer := bgpPeer("far", l.NodeASN(), far.ASN, far.IPv4, func(s *ironlbv1.BGPPeerSpec) {
			s.NodeSelectors = []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: "kubernetes.io/hostname", Operator: metav1.LabelSelectorOpIn, Values: names(selected...),
			}}}}
		})
		if err := l.Client.Create(ctx, peer); err != nil {
			t.Fatal(err)
		}
		// Without ebgpMultiHop the speakers send with TTL 1, which the lab router drops.
		consistently(t, 8*time.Second, "eBGP to a router one hop away must not open without ebgpMultiHop", func() error {
			return sessionsAre(l, far, nil, nodeAddrs(all, nodeV4))
		})
		waitPeerStatus(t, l, "far", 20*time.Second, "the selected nodes report a session that is not Established", func(p *ironlbv1.BGPPeer) error {
			for _, n := range selected {
				if st := nodeStatus(p, n.Name); st == nil || st.State == "Established" {
					return fmt.Errorf("%s: %+v", n.Name, st)
				}
			}
			return nil
		})

		updatePeer(t, l, "far", func(s *ironlbv1.BGPPeerSpec) { s.EBGPMultiHop = true })
		waitSessions(t, l, far, 30*time.Second, nodeAddrs(selected, nodeV4), []netip.Addr{n3.IPv4})
		consistently(t, 3*time.Second, "node-3 is not selected by the peer", func() error {
			return sessionsAre(l, far, nil, []netip.Addr{n3.IPv4})
		})
		eventually(t, 20*time.Second, "the far router to learn "+v4.String()+" from the selected nodes", func() error {
			return pathsFrom(ctx, l, far, host(v4), selected, nodeV4, func(n *lab.Node, p lab.BGPPath) error {
				if p.NextHop != n.IPv4 {
					return fmt.Errorf("next hop %s, want %s", p.NextHop, n.IPv4)
				}
				return nil
			})
		})
		waitPeerStatus(t, l, "far", 20*time.Second, "selected nodes Established, node-3 not", func(p *ironlbv1.BGPPeer) error {
			if err := established(selected...)(p); err != nil {
				return err
			}
			if st := nodeStatus(p, n3.Name); st != nil && st.State == "Established" {
				return fmt.Errorf("node-3 is Established but not selected")
			}
			return nil
		})
	})

	t.Run("an advertisement's peers: only the named peers get the route", func(t *testing.T) {
		ctx := context.Background()
		far := l.MultiHop
		if far == nil {
			t.Fatal("the multi-hop router did not start")
		}
		selected := []*lab.Node{n1, n2}
		defer func() {
			far := &ironlbv1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "far"}}
			if err := l.Client.Delete(ctx, far); err != nil && !apierrors.IsNotFound(err) {
				t.Error(err)
			}
		}()
		eventually(t, 20*time.Second, "the far router to have "+v4.String()+" from the selected nodes", func() error {
			return pathsFrom(ctx, l, far, host(v4), selected, nodeV4, nil)
		})
		// Only the lab router's peers now: the far router must lose the route, the lab
		// router keep it, and no session may go down for it.
		updateBGPAdvertisement(t, l, "bgp", func(s *ironlbv1.BGPAdvertisementSpec) { s.Peers = []string{"router4", "router6"} })
		defer updateBGPAdvertisement(t, l, "bgp", func(s *ironlbv1.BGPAdvertisementSpec) { s.Peers = nil })
		eventually(t, 20*time.Second, "the far router to lose "+v4.String(), func() error {
			paths, err := far.BGPPaths(ctx, host(v4))
			if err != nil {
				return err
			}
			if len(paths) > 0 {
				return fmt.Errorf("it still has %d paths%s", len(paths), bgpDiag(ctx, l, far, host(v4)))
			}
			return nil
		})
		if err := sessionsAre(l, far, nodeAddrs(selected, nodeV4), nil); err != nil {
			t.Errorf("the far sessions went down when the advertisement changed: %v", err)
		}
		waitNextHops(t, l, host(v4), 10*time.Second, all...)
	})

	t.Run("BFD: a dead node's next hop goes within seconds while traffic flows", func(t *testing.T) {
		ctx := context.Background()
		profile := &ironlbv1.BFDProfile{
			ObjectMeta: metav1.ObjectMeta{Name: "fast"},
			Spec:       ironlbv1.BFDProfileSpec{ReceiveInterval: ptrTo(int32(100)), TransmitInterval: ptrTo(int32(100)), DetectMultiplier: ptrTo(int32(3))},
		}
		if err := l.Client.Create(ctx, profile); err != nil {
			t.Fatal(err)
		}
		updatePeer(t, l, "router4", func(s *ironlbv1.BGPPeerSpec) { s.BFDProfile = "fast" })
		eventually(t, 30*time.Second, "FRR's BFD sessions with every node's IPv4 address up, with the profile's timers", func() error {
			peers, err := l.RouterBFDPeers(ctx)
			if err != nil {
				return err
			}
			up := 0
			var seen []string
			for _, p := range peers {
				seen = append(seen, fmt.Sprintf("%s %s rx=%s tx=%s x%d", p.Address, p.Status, p.RemoteReceiveInterval, p.RemoteTransmitInterval, p.RemoteDetectMultiplier))
				if p.Address.Is4() && l.NodeByAddr(p.Address) != nil && p.Status == "up" &&
					p.RemoteReceiveInterval == 100*time.Millisecond && p.RemoteTransmitInterval == 100*time.Millisecond && p.RemoteDetectMultiplier == 3 {
					up++
				}
			}
			if up != len(all) {
				return fmt.Errorf("%d of %d up with 100 ms x 3; FRR's BFD peers: %v", up, len(all), seen)
			}
			return nil
		})
		waitMetric(t, l, all, "ironlb_bfd_session_up", func(*lab.Node) map[string]string {
			return map[string]string{"peer": "router4"}
		}, func(v float64) bool { return v == 1 }, "1")
		waitNextHops(t, l, host(v4), 20*time.Second, all...)

		probe, err := l.Probe(ctx, l.BGPClient.Netns, lbURL(v4), 10*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		// The cable first: killing the speaker while connected would close its TCP
		// sessions with a FIN, and FRR would drop the routes without needing BFD.
		if err := l.LinkDown(ctx, n3.Name); err != nil {
			t.Fatal(err)
		}
		cut := time.Now()
		if err := l.KillSpeaker(n3.Name); err != nil {
			t.Fatal(err)
		}
		waitNextHops(t, l, host(v4), 5*time.Second, n1, n2)
		gone := time.Since(cut)
		time.Sleep(time.Second)
		res := probe.Stop()
		t.Logf("node-3 cut: its next hop left the router after %s (BFD at the router: 3 x 300 ms); probe: %s", gone.Round(time.Millisecond), res)
		if gone > 3*time.Second {
			t.Errorf("the router kept the dead node for %s, want BFD's second or so", gone)
		}
		if res.Successes == 0 || res.Longest > 3*time.Second {
			t.Errorf("traffic through the router did not survive the node loss: %s", res)
		}
		if err := l.LinkUp(ctx, n3.Name); err != nil {
			t.Fatal(err)
		}
		if err := l.StartSpeaker(ctx, n3.Name); err != nil {
			t.Fatal(err)
		}
		waitNextHops(t, l, host(v4), 30*time.Second, all...)
		waitNextHops(t, l, host(v6), 30*time.Second, all...)
	})

	t.Run("graceful restart keeps the routes; without it a graceful stop withdraws", func(t *testing.T) {
		ctx := context.Background()
		// GR on the IPv6 sessions, which have no BFD (a dead BFD session would drop the
		// routes whatever GR says); the IPv4 ones, without GR, are the control.
		updatePeer(t, l, "router6", func(s *ironlbv1.BGPPeerSpec) {
			s.GracefulRestart = &ironlbv1.GracefulRestart{Enabled: true, RestartTime: &metav1.Duration{Duration: 120 * time.Second}}
		})
		eventually(t, 30*time.Second, "node-2's IPv6 session to announce graceful restart", func() error {
			peers, err := l.BGPNeighbors(ctx)
			if err != nil {
				return err
			}
			for _, p := range peers {
				if p.Address == n2.IPv6 && p.State == "Established" && p.GracefulRestart {
					return nil
				}
				if p.Address == n2.IPv6 {
					return fmt.Errorf("FRR's neighbor %s: %s, graceful restart capability received: %t", p.Address, p.State, p.GracefulRestart)
				}
			}
			return fmt.Errorf("FRR has no neighbor %s", n2.IPv6)
		})
		waitNextHops(t, l, host(v6), 20*time.Second, all...)
		waitNextHops(t, l, host(v4), 20*time.Second, all...)
		before, err := l.BGPNeighbors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var was lab.BGPNeighbor
		for _, p := range before {
			if p.Address == n2.IPv6 {
				was = p
			}
		}

		watch := watchNextHop(l, host(v6), n2)
		probe, err := l.Probe(ctx, l.BGPClient.Netns, lbURL(v6), 10*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.StopSpeaker(n2.Name); err != nil {
			t.Fatal(err)
		}
		// Without GR, the stop withdraws at once.
		stopped := time.Now()
		waitNextHops(t, l, host(v4), 3*time.Second, n1, n3)
		t.Logf("IPv4 (no graceful restart): node-2 withdrawn %s after its speaker exited", time.Since(stopped).Round(time.Millisecond))
		// With GR, the router keeps node-2's IPv6 path, marked stale.
		eventually(t, 5*time.Second, "node-2's IPv6 path to be kept as stale", func() error {
			return pathsFrom(ctx, l, l.Router, host(v6), all, nodeV6, func(n *lab.Node, p lab.BGPPath) error {
				if n == n2 && !p.Stale {
					return fmt.Errorf("not stale, while node-2's speaker is stopped")
				}
				return nil
			})
		})
		time.Sleep(2 * time.Second)
		// Every change of the router's forwarding while the speaker comes back: the stale
		// path must be refreshed in place, not flushed when the new session opens (which a
		// router does unless the speaker's OPEN sets the Forwarding State bit) and re-added
		// a moment later, a gap and an ECMP rehash that a 50 ms poll can miss.
		mon, err := l.Router.MonitorRoutes(true)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.StartSpeaker(ctx, n2.Name); err != nil {
			t.Fatal(err)
		}
		waitNextHops(t, l, host(v4), 30*time.Second, all...)
		eventually(t, 30*time.Second, "node-2's IPv6 session back, its path fresh", func() error {
			if err := sessionsAre(l, l.Router, []netip.Addr{n2.IPv6}, nil); err != nil {
				return err
			}
			return pathsFrom(ctx, l, l.Router, host(v6), all, nodeV6, func(n *lab.Node, p lab.BGPPath) error {
				if p.Stale {
					return fmt.Errorf("still stale")
				}
				return nil
			})
		})
		time.Sleep(2 * time.Second) // the end-of-RIB marker and what the router does with it
		changes := mon.Stop()
		polls, misses := watch.stop()
		res := probe.Stop()
		var without []string
		for _, c := range changes {
			t.Logf("router route change: %s", c)
			if !strings.Contains(c, host(v6).Addr().String()+" ") {
				continue
			}
			if strings.HasPrefix(c, "Deleted") || !strings.Contains(c, n2.IPv6.String()) {
				without = append(without, c)
			}
		}
		if len(without) > 0 {
			t.Errorf("the router's kernel went without node-2's IPv6 next hop during the graceful restart: %q", without)
		}
		if err := restartBits(ctx, l, n2.IPv6, "ipv6Unicast"); err != nil {
			t.Error(err)
		}
		t.Logf("IPv6 (graceful restart): %d router polls during the restart, %d without node-2; probe: %s", polls, len(misses), res)
		if len(misses) > 0 {
			t.Errorf("the router dropped node-2's IPv6 next hop during a graceful restart: %v", misses)
		}
		if res.Successes == 0 || res.Longest > time.Second {
			t.Errorf("traffic to %s was interrupted during the graceful restart: %s", v6, res)
		}
		after, err := l.BGPNeighbors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range after {
			if p.Address == n2.IPv6 && p.ConnectionsEstablished <= was.ConnectionsEstablished {
				t.Errorf("node-2's IPv6 session was not re-established (%d ups before the restart, %d after): did the speaker restart?", was.ConnectionsEstablished, p.ConnectionsEstablished)
			}
		}
	})
}

// TestBGPAttributes: iBGP (the nodes share the router's AS, so LOCAL_PREF reaches it) over
// one IPv4 session per node that carries both families (dualStackAddressFamily). Two
// advertisements select one pool, to see their communities merged and the higher localPref
// win; a third aggregates another pool. Then one Service's annotations add to them.
func TestBGPAttributes(t *testing.T) {
	const asn = 64512
	l := bgpLab(t, lab.Options{RouterASN: asn, NodeASN: asn}, func(l *lab.Lab) []client.Object {
		// The lab router carries only IPv4 on IPv4 sessions unless told otherwise.
		err := l.RouterConfigure(context.Background(), fmt.Sprintf("router bgp %d", asn),
			"address-family ipv6 unicast", "neighbor nodes4 activate", "exit-address-family")
		if err != nil {
			t.Fatal(err)
		}
		return []client.Object{
			bgpPool("attrs", "198.18.103.0/25", "2001:db8:100:3::/80"),
			bgpPool("agg", "198.18.103.128/25", "2001:db8:100:3:1::/80"),
			&ironlbv1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "attrs-a"}, Spec: ironlbv1.BGPAdvertisementSpec{
				PoolSelection: ironlbv1.PoolSelection{IPAddressPools: []string{"attrs"}},
				Communities:   []ironlbv1.Community{"64512:100", "large:64512:1:1"},
				LocalPref:     ptrTo(int64(150)),
			}},
			&ironlbv1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "attrs-b"}, Spec: ironlbv1.BGPAdvertisementSpec{
				PoolSelection: ironlbv1.PoolSelection{IPAddressPools: []string{"attrs"}},
				Communities:   []ironlbv1.Community{"64512:200"},
				LocalPref:     ptrTo(int64(250)),
			}},
			&ironlbv1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "agg"}, Spec: ironlbv1.BGPAdvertisementSpec{
				PoolSelection:       ironlbv1.PoolSelection{IPAddressPools: []string{"agg"}},
				AggregationLength:   ptrTo(int32(25)),
				AggregationLengthV6: ptrTo(int32(80)),
				Communities:         []ironlbv1.Community{"64512:300"},
			}},
			bgpPeer("ibgp", asn, asn, l.Router.IPv4, func(s *ironlbv1.BGPPeerSpec) { s.DualStackAddressFamily = true }),
		}
	})
	all := l.Nodes
	attrsSvc, pods, a4, a6 := bgpService(t, l, "attrs", "attrs", "", l.Nodes[0].Name)
	_, aggPods, g4, g6 := bgpService(t, l, "agg", "agg", "", l.Nodes[1].Name)
	waitSessions(t, l, l.Router, 30*time.Second, nodeAddrs(all, nodeV4), nil)

	t.Run("dualStackAddressFamily: IPv6 over the IPv4 sessions, next hop the node's IPv6 address", func(t *testing.T) {
		eventually(t, 20*time.Second, "both address families on every IPv4 session", func() error {
			peers, err := l.BGPNeighbors(context.Background())
			if err != nil {
				return err
			}
			for _, p := range peers {
				if p.Address.Is4() && !slices.Equal(p.AddressFamilies, []string{"ipv4Unicast", "ipv6Unicast"}) {
					return fmt.Errorf("%s (%s): %s, address families %v", p.Address, nodeOf(l, p.Address), p.State, p.AddressFamilies)
				}
			}
			return nil
		})
		waitNextHops(t, l, host(a6), 20*time.Second, all...)
		eventually(t, 10*time.Second, a6.String()+" learned over the IPv4 sessions", func() error {
			return pathsFrom(context.Background(), l, l.Router, host(a6), all, nodeV4, func(n *lab.Node, p lab.BGPPath) error {
				if p.NextHop != n.IPv6 {
					return fmt.Errorf("next hop %s, want the node's IPv6 address %s", p.NextHop, n.IPv6)
				}
				return nil
			})
		})
		reachBGP(t, l, a6, pods[0].Name)
		reachBGP(t, l, a4, pods[0].Name)
	})

	t.Run("communities merged, large communities and the higher localPref", func(t *testing.T) {
		for _, a := range []netip.Addr{a4, a6} {
			eventually(t, 20*time.Second, "attributes of "+a.String(), func() error {
				return pathsFrom(context.Background(), l, l.Router, host(a), all, nodeV4, func(n *lab.Node, p lab.BGPPath) error {
					if !slices.Equal(p.Communities, []string{"64512:100", "64512:200"}) {
						return fmt.Errorf("communities %v, want both advertisements' [64512:100 64512:200]", p.Communities)
					}
					if !slices.Equal(p.LargeCommunities, []string{"64512:1:1"}) {
						return fmt.Errorf("large communities %v, want [64512:1:1]", p.LargeCommunities)
					}
					if p.LocalPref == nil || *p.LocalPref != 250 {
						return fmt.Errorf("localPref %v, want 250, the higher of 150 and 250", fmtPtr(p.LocalPref))
					}
					if len(p.ASPath) != 0 {
						return fmt.Errorf("AS path %v, want none (iBGP)", p.ASPath)
					}
					return nil
				})
			})
		}
		waitNextHops(t, l, host(a4), 20*time.Second, all...)
	})

	t.Run("aggregationLength: the aggregate, not the address", func(t *testing.T) {
		ctx := context.Background()
		for _, c := range []struct {
			addr netip.Addr
			bits int
		}{{g4, 25}, {g6, 80}} {
			agg := netip.PrefixFrom(c.addr, c.bits).Masked()
			eventually(t, 20*time.Second, "the aggregate "+agg.String(), func() error {
				return pathsFrom(ctx, l, l.Router, agg, all, nodeV4, func(n *lab.Node, p lab.BGPPath) error {
					if !slices.Equal(p.Communities, []string{"64512:300"}) {
						return fmt.Errorf("communities %v, want [64512:300]", p.Communities)
					}
					return nil
				})
			})
			waitNextHops(t, l, agg, 20*time.Second, all...)
			if paths, err := l.RouterBGPPaths(ctx, host(c.addr)); err != nil || len(paths) > 0 {
				t.Errorf("%s is advertised on its own too (%d paths, %v); want only %s", c.addr, len(paths), err, agg)
			}
			reachBGP(t, l, c.addr, aggPods[0].Name)
		}
	})

	t.Run("a Service's own communities and localPref; a bad value is reported and changes nothing", func(t *testing.T) {
		checkServiceAttributes(t, l, attrsSvc, a4, a6)
	})
}

func fmtPtr[T any](p *T) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprint(*p)
}
