package report

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/speaker/plan"
)

func TestL2Owners(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "web"}}
	svc.Status.Conditions = []metav1.Condition{{Type: ironlbv1.ConditionL2Announced, Status: metav1.ConditionFalse,
		Message: "node a answers ARP/NDP for 198.18.0.1 on eth0, eth1; 2001:db8::1 is not announced: no eligible node: 2 node(s) has no ready local endpoint (externalTrafficPolicy: Local)"}}
	owners, un := L2Owners(svc)
	if len(owners) != 1 || owners[0] != (L2Owner{Service: "demo/web", IP: "198.18.0.1", Node: "a", Interfaces: "eth0, eth1"}) {
		t.Errorf("owners %+v", owners)
	}
	if len(un) != 1 || !strings.HasPrefix(un[0], "2001:db8::1 is not announced: no eligible node") {
		t.Errorf("unannounced %q", un)
	}
	if o, u := L2Owners(&corev1.Service{}); o != nil || u != nil {
		t.Error("a Service without the condition has no owners")
	}
}

func TestReasonOfPartialAllocation(t *testing.T) {
	cases := map[string]string{
		`No free IPv6 address for Service demo/web: every IPv6 address that IPAddressPool "p" may hand out automatically is in use.`: "PoolExhausted",
		`No IPAddressPool can give Service demo/web an address automatically: there are no IPAddressPools; create one.`:              "NoMatchingPool",
		`No IPv6 address for Service demo/web: the IPAddressPool it may use ("p") has no IPv6 addresses.`:                            "FamilyUnavailable",
		`Requested IP 2001:db8::9 for Service demo/web is not in any IPAddressPool.`:                                                 "RequestedIPNotInPool",
		`Requested IP 2001:db8::9 for Service demo/web is already used by Service demo/x, and they cannot share it: no sharing key.`: "RequestedIPInUse",
		`Service demo/web cannot share IP 2001:db8::9 with Service demo/x: their ports overlap.`:                                     "SharingConflict",
	}
	for msg, want := range cases {
		if got := reasonIn(msg); got != want {
			t.Errorf("reasonIn(%q) = %s, want %s", msg, got, want)
		}
	}
	svc := &corev1.Service{}
	svc.Spec.Type = corev1.ServiceTypeLoadBalancer
	svc.Status.Conditions = []metav1.Condition{{Type: ironlbv1.ConditionIPAllocated, Status: metav1.ConditionTrue, Reason: "Allocated",
		Message: "198.18.0.1 from pool p; still waiting: No free IPv6 address for Service demo/web: every IPv6 address that IPAddressPool \"p\" may hand out automatically is in use."}}
	text, p := allocation(svc)
	if !strings.HasPrefix(text, "partly allocated: 198.18.0.1 from pool p") || p == nil || p.Reason != "PoolExhausted" || p.Explained != Reasons["PoolExhausted"] {
		t.Errorf("allocation: %q %+v", text, p)
	}
}

func TestAllocationWithoutCondition(t *testing.T) {
	cls := "other.example/lb"
	cases := []struct {
		svc  corev1.Service
		want string
	}{
		{corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}, "the ironlb controller has not handled this Service yet"},
		{corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, LoadBalancerClass: &cls}}, `spec.loadBalancerClass is "other.example/lb"`},
	}
	for _, c := range cases {
		if got, p := allocation(&c.svc); !strings.Contains(got, c.want) || p != nil {
			t.Errorf("allocation = %q, %+v; want %q", got, p, c.want)
		}
	}
	e := BuildExplanation(&Snapshot{}, &ServiceDetail{Service: &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP}}}, metav1.Now().Time)
	if !strings.Contains(e.Allocation, "not a LoadBalancer Service (type ClusterIP)") {
		t.Errorf("ClusterIP: %q", e.Allocation)
	}
}

func TestPoolState(t *testing.T) {
	cond := func(typ string, s metav1.ConditionStatus, reason string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: s, Reason: reason}
	}
	cases := []struct {
		conds []metav1.Condition
		want  string
	}{
		{nil, "no status (is the controller running?)"},
		{[]metav1.Condition{cond(ironlbv1.ConditionReady, "True", "InUse")}, "Ready"},
		{[]metav1.Condition{cond(ironlbv1.ConditionReady, "False", "Overlap"), cond(ironlbv1.ConditionConflict, "True", "Overlap")}, "NotReady(Overlap),Conflict"},
		{[]metav1.Condition{cond(ironlbv1.ConditionReady, "True", "InUse"), cond(ironlbv1.ConditionExhausted, "True", "Full")}, "Exhausted"},
	}
	for _, c := range cases {
		if got := poolState(c.conds); got != c.want {
			t.Errorf("poolState(%v) = %q, want %q", c.conds, got, c.want)
		}
	}
}

// explain shows the controller's BGPAdvertised and BGPAttributes conditions under BGP, as
// they are written.
func TestExplainShowsBGPCondition(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "web"}}
	svc.Spec.Type = corev1.ServiceTypeLoadBalancer
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "198.18.0.10"}}
	svc.Status.Conditions = []metav1.Condition{{Type: ironlbv1.ConditionBGPAdvertised, Status: metav1.ConditionTrue,
		Reason: ironlbv1.ReasonAdvertised, Message: "advertised by 1 node to 1 peer (router 198.18.0.1): node-a"},
		{Type: ironlbv1.ConditionBGPAttributes, Status: metav1.ConditionFalse, Reason: ironlbv1.ReasonInvalidBGPAttributes,
			Message: "annotation ironlb.io/bgp-local-pref: \"high\" is not a number"}}
	e := BuildExplanation(&Snapshot{}, &ServiceDetail{Service: svc}, time.Now())
	var b strings.Builder
	if err := PrintExplanation(&b, e); err != nil {
		t.Fatal(err)
	}
	want := "BGP:\n  ironlb.io/BGPAdvertised: True Advertised: advertised by 1 node to 1 peer (router 198.18.0.1): node-a\n" +
		"  ironlb.io/BGPAttributes: False InvalidBGPAttributes: annotation ironlb.io/bgp-local-pref: \"high\" is not a number\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("explain output lacks %q:\n%s", want, b.String())
	}
}

func TestExplainNodeAddresses(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "web",
		Annotations: map[string]string{ironlbv1.AnnotationNodeAddressFallback: "true"}}}
	svc.Spec.Type = corev1.ServiceTypeLoadBalancer
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "198.18.0.11"}, {IP: "198.18.0.12"}}
	svc.Status.Conditions = []metav1.Condition{{Type: ironlbv1.ConditionIPAllocated, Status: metav1.ConditionTrue,
		Reason: ironlbv1.ReasonNodeAddresses, Message: "Service demo/web uses the InternalIPs of 2 nodes a (198.18.0.11), b (198.18.0.12)"}}
	// A pool that contains a node address must not make it look like the pool's.
	pool := ironlbv1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "wide"}, Spec: ironlbv1.IPAddressPoolSpec{Addresses: []ironlbv1.AddressRange{"198.18.0.0/24"}}}
	e := BuildExplanation(&Snapshot{Pools: []ironlbv1.IPAddressPool{pool}}, &ServiceDetail{Service: svc}, time.Now())
	if e.Pending != nil || !strings.HasPrefix(e.Allocation, "node addresses: Service demo/web uses") {
		t.Errorf("allocation %q, pending %+v", e.Allocation, e.Pending)
	}
	var b strings.Builder
	if err := PrintExplanation(&b, e); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"198.18.0.11 a node's InternalIP (ironlb.io/node-address-fallback)",
		"node addresses: nothing is announced with ARP/NDP", "node addresses: nothing is advertised by BGP"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("explain output lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "from pool wide") || strings.Contains(b.String(), "L2Advertisement") {
		t.Errorf("node addresses explained as a pool's:\n%s", b.String())
	}
}

// TestSpeakersGossipColumn: each speaker's row carries the Gossip condition of its own
// pod (a surge pod's condition does not hide behind another node's), and a speaker that
// reported none says so.
func TestSpeakersGossipColumn(t *testing.T) {
	pod := func(name, node string, conds ...corev1.PodCondition) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ironlb-system", Name: name}, Spec: corev1.PodSpec{NodeName: node},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: append([]corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}, conds...)}}
	}
	s := &Snapshot{
		Nodes: []corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, {ObjectMeta: metav1.ObjectMeta{Name: "b"}}, {ObjectMeta: metav1.ObjectMeta{Name: "c"}}},
		Speakers: []corev1.Pod{
			pod("s-a", "a", corev1.PodCondition{Type: ironlbv1.ConditionGossip, Status: corev1.ConditionTrue, Reason: ironlbv1.ReasonAllJoined, Message: "2 of 2 speakers: a, b"}),
			pod("s-b", "b", corev1.PodCondition{Type: ironlbv1.ConditionGossip, Status: corev1.ConditionFalse, Reason: ironlbv1.ReasonAlone, Message: "1 of 2 speakers: b; alone"}),
			pod("s-c", "c"),
		},
	}
	var b strings.Builder
	if err := PrintStatus(&b, BuildStatus(s), time.Now()); err != nil {
		t.Fatal(err)
	}
	flat := strings.Join(strings.Fields(b.String()), " ")
	for _, want := range []string{
		"NODE SPEAKER GOSSIP L2 ADDRESSES (ARP/NDP)",
		"a ironlb-system/s-a True: 2 of 2 speakers: a, b -",
		"b ironlb-system/s-b False (Alone): 1 of 2 speakers: b; alone -",
		"c ironlb-system/s-c not reported -",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
}

// explain names the peers a node sends a prefix to by the speaker's own rule
// (plan.PeersFor): a peer whose address the speaker cannot parse gets no route, an
// IPv4-mapped IPv6 peer address takes IPv4 routes, the other family and peers that do not
// select the node take none.
func TestExplainPeersAreTheSpeakers(t *testing.T) {
	node := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{"rack": "1"}}}
	peer := func(name, addr string, mutate ...func(*ironlbv1.BGPPeerSpec)) ironlbv1.BGPPeer {
		p := ironlbv1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: ironlbv1.BGPPeerSpec{MyASN: 64512, PeerASN: 64500, PeerAddress: addr}}
		for _, m := range mutate {
			m(&p.Spec)
		}
		return p
	}
	s := &Snapshot{
		Nodes:             []corev1.Node{node},
		Pools:             []ironlbv1.IPAddressPool{{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: ironlbv1.IPAddressPoolSpec{Addresses: []ironlbv1.AddressRange{"198.18.10.0/24"}}}},
		BGPAdvertisements: []ironlbv1.BGPAdvertisement{{ObjectMeta: metav1.ObjectMeta{Name: "all"}}},
		BGPPeers: []ironlbv1.BGPPeer{
			peer("v4", "198.18.0.1"),
			peer("mapped", "::ffff:198.18.0.2"),
			peer("unparsable", "router.example"),
			peer("v6", "2001:db8::1"),
			peer("dual", "2001:db8::2", func(s *ironlbv1.BGPPeerSpec) { s.DualStackAddressFamily = true }),
			peer("rack2", "198.18.0.3", func(s *ironlbv1.BGPPeerSpec) {
				s.NodeSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"rack": "2"}}}
			}),
		},
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "web"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "198.18.10.1"}}
	ready := true
	eps := []discoveryv1.EndpointSlice{{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "web-1", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"198.18.200.1"}, NodeName: &node.Name, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}}}}
	routes, notes := bgp(s, &ServiceDetail{Service: svc, EndpointSlices: eps}, map[string]bool{"p": true})
	if len(routes) != 1 {
		t.Fatalf("routes %+v (notes %v), want one", routes, notes)
	}
	var got []string
	for _, ps := range routes[0].Sessions {
		got = append(got, ps.Peer)
	}
	if want := []string{"v4", "mapped", "dual"}; !slices.Equal(got, want) {
		t.Errorf("explain sends %s to %v, want %v", routes[0].Prefix, got, want)
	}
	var speaker []string
	for _, p := range plan.PeersFor(s.BGPPeers, plan.Prefix{Prefix: netip.MustParsePrefix(routes[0].Prefix)}, &node) {
		speaker = append(speaker, p.Name)
	}
	if !slices.Equal(got, speaker) {
		t.Errorf("explain sends to %v, the speaker to %v", got, speaker)
	}
}
