package bgpcondition

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
)

// The lab of these cases: nodes a, b and c; pool "p" (198.18.10.0/24, 2001:db8:10::/64);
// peers r4 (198.18.0.1) and r6 (2001:db8::1) that select every node; a dual-stack Service
// ns/web at 198.18.10.1 and 2001:db8:10::1 with a ready endpoint on node a.

func node(name string, labels ...string) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	for i := 0; i+1 < len(labels); i += 2 {
		n.Labels[labels[i]] = labels[i+1]
	}
	return n
}

func peer(name, addr string, up map[string]string) ironlbv1.BGPPeer {
	p := ironlbv1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: ironlbv1.BGPPeerSpec{MyASN: 64512, PeerASN: 64500, PeerAddress: addr}}
	for _, n := range []string{"a", "b", "c"} {
		if st, ok := up[n]; ok {
			p.Status.Nodes = append(p.Status.Nodes, ironlbv1.PeerNodeStatus{Node: n, State: st, PrefixesSent: 3})
		}
	}
	return p
}

// notReady is the node with its Ready condition at status (nil: without one, as a node
// whose kubelet never reported).
func notReady(n corev1.Node, status *corev1.ConditionStatus) corev1.Node {
	n.Status.Conditions = nil
	if status != nil {
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: *status}}
	}
	return n
}

// all is the session state on every node.
func all(state string) map[string]string {
	return map[string]string{"a": state, "b": state, "c": state}
}

func service(mutate ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", Generation: 2},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}
	s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "198.18.10.1"}, {IP: "2001:db8:10::1"}}
	for _, m := range mutate {
		m(s)
	}
	return s
}

func withCondition(status metav1.ConditionStatus, reason string) func(*corev1.Service) {
	return func(s *corev1.Service) {
		s.Status.Conditions = append(s.Status.Conditions, metav1.Condition{Type: ironlbv1.ConditionBGPAdvertised, Status: status, Reason: reason})
	}
}

func localPolicy(s *corev1.Service) {
	s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
}

func endpoints(nodes ...string) []discoveryv1.EndpointSlice {
	s := discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-1",
		Labels: map[string]string{discoveryv1.LabelServiceName: "web"}}}
	for _, n := range nodes {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{"198.18.200.1"}, NodeName: ptr.To(n),
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
	}
	return []discoveryv1.EndpointSlice{s}
}

func adv(name string, mutate ...func(*ironlbv1.BGPAdvertisementSpec)) ironlbv1.BGPAdvertisement {
	a := ironlbv1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, m := range mutate {
		m(&a.Spec)
	}
	return a
}

func onNodes(labels map[string]string) func(*ironlbv1.BGPAdvertisementSpec) {
	return func(s *ironlbv1.BGPAdvertisementSpec) {
		s.NodeSelectors = []metav1.LabelSelector{{MatchLabels: labels}}
	}
}

func TestDecide(t *testing.T) {
	pools := []ironlbv1.IPAddressPool{{ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: ironlbv1.IPAddressPoolSpec{Addresses: []ironlbv1.AddressRange{"198.18.10.0/24", "2001:db8:10::/64"}}}}
	nodes := []corev1.Node{node("a", "rack", "1"), node("b", "rack", "1"), node("c", "rack", "2")}
	upPeers := []ironlbv1.BGPPeer{peer("r4", "198.18.0.1", all(Established)), peer("r6", "2001:db8::1", all(Established))}
	cases := []struct {
		name    string
		svc     *corev1.Service
		eps     []discoveryv1.EndpointSlice // nil: ready on node a
		advs    []ironlbv1.BGPAdvertisement // nil: one covering everything
		peers   []ironlbv1.BGPPeer          // nil: upPeers
		nodes   []corev1.Node               // nil: nodes
		alive   map[string]bool             // Input.SpeakersAlive
		class   string
		action  Action
		status  metav1.ConditionStatus
		reason  string
		message string // the whole message when it starts with "=", else a part of it
	}{
		{name: "every session up: every node advertises to both peers", svc: service(),
			action: Set, status: metav1.ConditionTrue, reason: ironlbv1.ReasonAdvertised,
			message: "=advertised by 3 nodes to 2 peers (r4 198.18.0.1, r6 2001:db8::1): a, b, c"},
		{name: "one node's sessions down: the others advertise, the message names it",
			svc: service(), peers: []ironlbv1.BGPPeer{
				peer("r4", "198.18.0.1", map[string]string{"a": Established, "b": Established, "c": "Active"}),
				peer("r6", "2001:db8::1", map[string]string{"a": Established, "b": Established, "c": "Idle"})},
			action: Set, status: metav1.ConditionTrue, reason: ironlbv1.ReasonAdvertised,
			message: "=advertised by 2 of 3 nodes to 2 peers (r4 198.18.0.1, r6 2001:db8::1): a, b; no Established session on c"},
		{name: "a node not Ready: its sessions, Established in its speaker's last report, do not count",
			svc: service(), nodes: []corev1.Node{node("a"), node("b"), notReady(node("c"), ptr.To(corev1.ConditionFalse))},
			action: Set, status: metav1.ConditionTrue, reason: ironlbv1.ReasonAdvertised,
			message: "=advertised by 2 of 3 nodes to 2 peers (r4 198.18.0.1, r6 2001:db8::1): a, b; node c is not Ready"},
		{name: "nodes whose Ready is Unknown or missing do not count either",
			svc: service(), nodes: []corev1.Node{node("a"), notReady(node("b"), ptr.To(corev1.ConditionUnknown)), notReady(node("c"), nil)},
			action: Set, status: metav1.ConditionTrue, reason: ironlbv1.ReasonAdvertised,
			message: "=advertised by 1 of 3 nodes to 2 peers (r4 198.18.0.1, r6 2001:db8::1): a; nodes b, c are not Ready"},
		{name: "a dead speaker: its node's Established entries do not count",
			svc: service(), alive: map[string]bool{"a": true, "c": true},
			action: Set, status: metav1.ConditionTrue, reason: ironlbv1.ReasonAdvertised,
			message: "=advertised by 2 of 3 nodes to 2 peers (r4 198.18.0.1, r6 2001:db8::1): a, c; speaker on node b is not ready"},
		{name: "a session down, a node not Ready and a dead speaker: each named with its reason",
			svc: service(), alive: map[string]bool{"a": true, "b": true},
			nodes: []corev1.Node{node("a"), notReady(node("b"), ptr.To(corev1.ConditionFalse)), node("c")},
			peers: []ironlbv1.BGPPeer{peer("r4", "198.18.0.1", map[string]string{"a": "Active", "b": Established, "c": Established}),
				peer("r6", "2001:db8::1", map[string]string{"a": "Active", "b": Established, "c": Established})},
			action: Set, status: metav1.ConditionFalse, reason: ironlbv1.ReasonNoEstablishedSession,
			message: "=3 nodes should advertise it (a, b, c), but none has an Established session to 2 peers (r4 198.18.0.1, r6 2001:db8::1); see the BGPPeers' status.nodes; node b is not Ready; speaker on node c is not ready"},
		{name: "every speaker dead: False, naming them", svc: service(), alive: map[string]bool{},
			action: Set, status: metav1.ConditionFalse, reason: ironlbv1.ReasonNoEstablishedSession,
			message: "; speakers on nodes a, b, c are not ready"},
		{name: "every session down: False, NoEstablishedSession, no state in the message",
			svc: service(), peers: []ironlbv1.BGPPeer{peer("r4", "198.18.0.1", all("Active")), peer("r6", "2001:db8::1", all("Connect"))},
			action: Set, status: metav1.ConditionFalse, reason: ironlbv1.ReasonNoEstablishedSession,
			message: "=3 nodes should advertise it (a, b, c), but none has an Established session to 2 peers (r4 198.18.0.1, r6 2001:db8::1); see the BGPPeers' status.nodes"},
		{name: "no speaker reported yet: not established", svc: service(),
			peers:  []ironlbv1.BGPPeer{peer("r4", "198.18.0.1", nil)},
			action: Set, status: metav1.ConditionFalse, reason: ironlbv1.ReasonNoEstablishedSession},
		{name: "only the IPv4 session up: True, and the IPv6 address is named as not advertised",
			svc: service(), peers: []ironlbv1.BGPPeer{peer("r4", "198.18.0.1", all(Established)), peer("r6", "2001:db8::1", all("Active"))},
			action: Set, status: metav1.ConditionTrue, reason: ironlbv1.ReasonAdvertised,
			message: "=advertised by 3 nodes to 1 peer (r4 198.18.0.1): a, b, c; 2001:db8:10::1 not advertised to any peer (no Established session of its family, or no BGPAdvertisement covers it)"},
		{name: "a session that is up but not taken by the advertisement's peers does not count",
			svc: service(), advs: []ironlbv1.BGPAdvertisement{adv("only-r4", func(s *ironlbv1.BGPAdvertisementSpec) { s.Peers = []string{"r4"} })},
			peers:  []ironlbv1.BGPPeer{peer("r4", "198.18.0.1", all("Active")), peer("r6", "2001:db8::1", all(Established))},
			action: Set, status: metav1.ConditionFalse, reason: ironlbv1.ReasonNoEstablishedSession, message: "to 1 peer (r4 198.18.0.1)"},
		{name: "a peer whose nodeSelectors leave out the advertising nodes does not count",
			svc: service(), advs: []ironlbv1.BGPAdvertisement{adv("rack2", onNodes(map[string]string{"rack": "2"}))},
			peers: []ironlbv1.BGPPeer{func() ironlbv1.BGPPeer {
				p := peer("r4", "198.18.0.1", all(Established))
				p.Spec.NodeSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"rack": "1"}}}
				return p
			}()},
			action: Set, status: metav1.ConditionFalse, reason: ironlbv1.ReasonNoEstablishedSession, message: "no BGPPeer takes the route"},
		{name: "nodeSelectors: only the selected nodes count", svc: service(),
			advs:   []ironlbv1.BGPAdvertisement{adv("rack1", onNodes(map[string]string{"rack": "1"}))},
			action: Set, status: metav1.ConditionTrue, reason: ironlbv1.ReasonAdvertised, message: "=advertised by 2 nodes to 2 peers (r4 198.18.0.1, r6 2001:db8::1): a, b"},
		{name: "nodeSelectors matching no node: NoEligibleNode", svc: service(),
			advs:   []ironlbv1.BGPAdvertisement{adv("rack9", onNodes(map[string]string{"rack": "9"}))},
			action: Set, status: metav1.ConditionFalse, reason: ironlbv1.ReasonNoEligibleNode, message: "BGPAdvertisement rack9 covers it, but no node may advertise it: the advertisements' nodeSelectors"},
		{name: "eTP Local with a local endpoint: only that node", svc: service(localPolicy), eps: endpoints("b"),
			action: Set, status: metav1.ConditionTrue, reason: ironlbv1.ReasonAdvertised, message: "=advertised by 1 node to 2 peers (r4 198.18.0.1, r6 2001:db8::1): b"},
		{name: "eTP Local with the endpoint's node down: False though other nodes' sessions are up",
			svc: service(localPolicy), eps: endpoints("c"), peers: []ironlbv1.BGPPeer{
				peer("r4", "198.18.0.1", map[string]string{"a": Established, "b": Established, "c": "Active"})},
			action: Set, status: metav1.ConditionFalse, reason: ironlbv1.ReasonNoEstablishedSession, message: "1 node should advertise it (c)"},
		{name: "eTP Local without a local endpoint on a selected node: NoEligibleNode",
			svc: service(localPolicy), eps: endpoints("c"), advs: []ironlbv1.BGPAdvertisement{adv("rack1", onNodes(map[string]string{"rack": "1"}))},
			action: Set, status: metav1.ConditionFalse, reason: ironlbv1.ReasonNoEligibleNode, message: "externalTrafficPolicy is Local"},
		{name: "no ready endpoint at all: NoEligibleNode", svc: service(), eps: []discoveryv1.EndpointSlice{},
			action: Set, status: metav1.ConditionFalse, reason: ironlbv1.ReasonNoEligibleNode, message: "no ready endpoint"},
		{name: "no BGPAdvertisement, never had the condition: left alone (layer 2 only)", svc: service(),
			advs: []ironlbv1.BGPAdvertisement{}, action: Leave},
		{name: "no BGPAdvertisement any more: False, NotAdvertised", svc: service(withCondition(metav1.ConditionTrue, ironlbv1.ReasonAdvertised)),
			advs: []ironlbv1.BGPAdvertisement{}, action: Set, status: metav1.ConditionFalse, reason: ironlbv1.ReasonNotAdvertised},
		{name: "advertisement of another pool does not cover it", svc: service(withCondition(metav1.ConditionTrue, ironlbv1.ReasonAdvertised)),
			advs:   []ironlbv1.BGPAdvertisement{adv("other", func(s *ironlbv1.BGPAdvertisementSpec) { s.IPAddressPools = []string{"other"} })},
			action: Set, status: metav1.ConditionFalse, reason: ironlbv1.ReasonNotAdvertised},
		{name: "no address any more: removed", svc: service(withCondition(metav1.ConditionTrue, ironlbv1.ReasonAdvertised), func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = nil
		}), action: Remove},
		{name: "not a LoadBalancer any more: removed", svc: service(withCondition(metav1.ConditionTrue, ironlbv1.ReasonAdvertised), func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeClusterIP
		}), action: Remove},
		{name: "not a LoadBalancer, no condition: nothing", svc: service(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort }), action: Leave},
		{name: "another class: left alone, even with the condition", svc: service(withCondition(metav1.ConditionTrue, ironlbv1.ReasonAdvertised), func(s *corev1.Service) {
			s.Spec.LoadBalancerClass = ptr.To("other.io/lb")
		}), action: Leave},
		{name: "our named class", class: "ironlb.io/bgp", svc: service(func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptr.To("ironlb.io/bgp") }),
			action: Set, status: metav1.ConditionTrue, reason: ironlbv1.ReasonAdvertised},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := Input{Class: c.class, Service: c.svc, EndpointSlices: c.eps, Nodes: c.nodes, Pools: pools,
				BGPAdvertisements: c.advs, BGPPeers: c.peers, SpeakersAlive: c.alive}
			if in.Nodes == nil {
				in.Nodes = nodes
			}
			if in.EndpointSlices == nil {
				in.EndpointSlices = endpoints("a")
			}
			if in.BGPAdvertisements == nil {
				in.BGPAdvertisements = []ironlbv1.BGPAdvertisement{adv("all")}
			}
			if in.BGPPeers == nil {
				in.BGPPeers = upPeers
			}
			d := Decide(in)
			if d.Action != c.action {
				t.Fatalf("action %d, want %d (condition %+v)", d.Action, c.action, d.Condition)
			}
			if c.action != Set {
				return
			}
			got := d.Condition
			if got.Type != ironlbv1.ConditionBGPAdvertised || got.Status != c.status || got.Reason != c.reason || got.ObservedGeneration != 2 {
				t.Fatalf("got %s=%s %s (generation %d): %s; want %s %s", got.Type, got.Status, got.Reason, got.ObservedGeneration, got.Message, c.status, c.reason)
			}
			if want, whole := strings.CutPrefix(c.message, "="); whole && got.Message != want || !whole && !strings.Contains(got.Message, want) {
				t.Errorf("message %q, want %q", got.Message, c.message)
			}
		})
	}
}

// The message names at most a few nodes and peers, with complete counts, so it stays
// short on a large cluster.
func TestDecideBoundsTheMessage(t *testing.T) {
	var nodes []corev1.Node
	states := map[string]string{}
	for _, n := range []string{"n01", "n02", "n03", "n04", "n05", "n06", "n07", "n08", "n09", "n10"} {
		nodes = append(nodes, node(n))
		states[n] = Established
	}
	p := peer("r4", "198.18.0.1", nil)
	for _, n := range nodes {
		p.Status.Nodes = append(p.Status.Nodes, ironlbv1.PeerNodeStatus{Node: n.Name, State: Established})
	}
	svc := service(func(s *corev1.Service) { s.Status.LoadBalancer.Ingress = s.Status.LoadBalancer.Ingress[:1] })
	d := Decide(Input{Service: svc, EndpointSlices: endpoints("n01"), Nodes: nodes,
		Pools:             []ironlbv1.IPAddressPool{{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: ironlbv1.IPAddressPoolSpec{Addresses: []ironlbv1.AddressRange{"198.18.10.0/24"}}}},
		BGPAdvertisements: []ironlbv1.BGPAdvertisement{adv("all")}, BGPPeers: []ironlbv1.BGPPeer{p}})
	want := "advertised by 10 nodes to 1 peer (r4 198.18.0.1): n01, n02, n03, n04, n05 and 5 more"
	if d.Condition.Message != want {
		t.Errorf("message %q, want %q", d.Condition.Message, want)
	}
}
