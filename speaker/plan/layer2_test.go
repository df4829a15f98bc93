package plan_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/speaker/election"
	"github.com/ironlb/ironlb/speaker/plan"
)

// ---- builders -------------------------------------------------------------------------

type svcOpt func(*corev1.Service)

// svc is a LoadBalancer Service "namespace/name" whose status holds ips.
func svc(key string, ips []string, opts ...svcOpt) corev1.Service {
	ns, name, _ := strings.Cut(key, "/")
	s := corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer},
	}
	for _, ip := range ips {
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
	}
	for _, o := range opts {
		o(&s)
	}
	return s
}

func ofType(t corev1.ServiceType) svcOpt { return func(s *corev1.Service) { s.Spec.Type = t } }
func class(c string) svcOpt              { return func(s *corev1.Service) { s.Spec.LoadBalancerClass = &c } }
func svcLabels(kv ...string) svcOpt      { return func(s *corev1.Service) { s.Labels = lbl(kv...) } }
func local() svcOpt {
	return func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal }
}
func fromPool(p string) svcOpt {
	return func(s *corev1.Service) {
		s.Annotations = map[string]string{ironlbv1.AnnotationAllocatedFromPool: p}
	}
}
func hostnameIngress(h string) svcOpt {
	return func(s *corev1.Service) {
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{Hostname: h})
	}
}

func lbl(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

type nodeOpt func(*corev1.Node)

func node(name string, opts ...nodeOpt) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	for _, o := range opts {
		o(&n)
	}
	return n
}

func cordoned(n *corev1.Node) { n.Spec.Unschedulable = true }

func nodeLabels(kv ...string) nodeOpt { return func(n *corev1.Node) { n.Labels = lbl(kv...) } }
func condition(t corev1.NodeConditionType, s corev1.ConditionStatus) nodeOpt {
	return func(n *corev1.Node) {
		n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: t, Status: s})
	}
}

func nodes(names ...string) []corev1.Node {
	var out []corev1.Node
	for _, n := range names {
		out = append(out, node(n))
	}
	return out
}

// alive lists live speakers that did not report their interfaces.
func alive(names ...string) map[string][]string {
	m := map[string][]string{}
	for _, n := range names {
		m[n] = nil
	}
	return m
}

func pool(name string, labels map[string]string, addrs ...string) ironlbv1.IPAddressPool {
	p := ironlbv1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	for _, a := range addrs {
		p.Spec.Addresses = append(p.Spec.Addresses, ironlbv1.AddressRange(a))
	}
	return p
}

// advOpt edits an advertisement of either kind (*L2Advertisement or *BGPAdvertisement),
// so the selections both kinds share have one set of builders.
type advOpt func(adv any)

// selections returns the pool and target selections of an advertisement of either kind.
func selections(adv any) (*ironlbv1.PoolSelection, *ironlbv1.TargetSelection) {
	switch a := adv.(type) {
	case *ironlbv1.L2Advertisement:
		return &a.Spec.PoolSelection, &a.Spec.TargetSelection
	case *ironlbv1.BGPAdvertisement:
		return &a.Spec.PoolSelection, &a.Spec.TargetSelection
	}
	panic(fmt.Sprintf("not an advertisement: %T", adv))
}

func l2(name string, opts ...advOpt) ironlbv1.L2Advertisement {
	a := ironlbv1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, o := range opts {
		o(&a)
	}
	return a
}

func pools(names ...string) advOpt {
	return func(a any) { p, _ := selections(a); p.IPAddressPools = append(p.IPAddressPools, names...) }
}
func poolSel(kv ...string) advOpt {
	return func(a any) {
		p, _ := selections(a)
		p.IPAddressPoolSelectors = append(p.IPAddressPoolSelectors, metav1.LabelSelector{MatchLabels: lbl(kv...)})
	}
}
func svcSel(kv ...string) advOpt {
	return func(a any) {
		_, t := selections(a)
		t.ServiceSelectors = append(t.ServiceSelectors, metav1.LabelSelector{MatchLabels: lbl(kv...)})
	}
}
func nodeSel(kv ...string) advOpt {
	return func(a any) {
		_, t := selections(a)
		t.NodeSelectors = append(t.NodeSelectors, metav1.LabelSelector{MatchLabels: lbl(kv...)})
	}
}
func excludeCordoned(a any) { _, t := selections(a); t.ExcludeCordonedNodes = true }

func ifaces(names ...string) advOpt {
	return func(a any) {
		adv := a.(*ironlbv1.L2Advertisement)
		for _, n := range names {
			adv.Spec.Interfaces = append(adv.Spec.Interfaces, ironlbv1.InterfaceName(n))
		}
	}
}

// slice is an EndpointSlice of Service "namespace/name" (labelled the way the EndpointSlice
// controller labels it).
func slice(key string, eps ...discoveryv1.Endpoint) discoveryv1.EndpointSlice {
	_, name, _ := strings.Cut(key, "/")
	s := unlabelledSlice(key, eps...)
	s.Name = name + "-" + fmt.Sprint(len(eps))
	s.Labels = map[string]string{discoveryv1.LabelServiceName: name}
	return s
}

// unlabelledSlice is named after the Service but lacks the kubernetes.io/service-name
// label, so it belongs to no Service.
func unlabelledSlice(key string, eps ...discoveryv1.Endpoint) discoveryv1.EndpointSlice {
	ns, name, _ := strings.Cut(key, "/")
	return discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   eps,
	}
}

var (
	yes = func() *bool { b := true; return &b }()
	no  = func() *bool { b := false; return &b }()
)

// ep is an endpoint on node with the given Ready and Serving conditions (nil = unset).
func ep(node string, ready, serving *bool) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{Addresses: []string{"198.18.100.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ready, Serving: serving}}
	if node != "" {
		e.NodeName = &node
	}
	return e
}

// withDefaults fills the fields a case left nil: nodes a, b and c, all alive; one pool
// "main" (198.18.0.0/24 and 2001:db8::/120); one L2Advertisement selecting everything.
// An empty, non-nil value keeps the field empty.
func withDefaults(s plan.Snapshot) plan.Snapshot {
	if s.Nodes == nil {
		s.Nodes = nodes("a", "b", "c")
	}
	if s.Alive == nil {
		s.Alive = alive("a", "b", "c")
	}
	if s.Pools == nil {
		s.Pools = []ironlbv1.IPAddressPool{pool("main", nil, "198.18.0.0/24", "2001:db8::/120")}
	}
	if s.L2Advertisements == nil {
		s.L2Advertisements = []ironlbv1.L2Advertisement{l2("all")}
	}
	return s
}

// ann is the expected Announcement. Reason, when set, lists (one per line) substrings the
// actual Reason must contain; when empty the actual Reason must be empty too.
func ann(ip, node string, services ...string) plan.Announcement {
	return plan.Announcement{IP: netip.MustParseAddr(ip), Node: node, Services: services}
}

func withIfaces(a plan.Announcement, names ...string) plan.Announcement {
	a.Interfaces = names
	return a
}

func withReason(a plan.Announcement, substrings ...string) plan.Announcement {
	a.Reason = strings.Join(substrings, "\n")
	return a
}

func describe(as []plan.Announcement) string {
	var b strings.Builder
	for _, a := range as {
		fmt.Fprintf(&b, "\n  %s node=%q ifaces=%v services=%v reason=%q", a.IP, a.Node, a.Interfaces, a.Services, a.Reason)
	}
	if b.Len() == 0 {
		return " (none)"
	}
	return b.String()
}

func matches(got, want plan.Announcement) bool {
	if got.IP != want.IP || got.Node != want.Node || !slices.Equal(got.Interfaces, want.Interfaces) ||
		!slices.Equal(got.Services, want.Services) {
		return false
	}
	if want.Reason == "" {
		return got.Reason == ""
	}
	for _, sub := range strings.Split(want.Reason, "\n") {
		if !strings.Contains(got.Reason, sub) {
			return false
		}
	}
	return true
}

func equal(a, b plan.Announcement) bool {
	return a.IP == b.IP && a.Node == b.Node && a.Reason == b.Reason &&
		slices.Equal(a.Interfaces, b.Interfaces) && slices.Equal(a.Services, b.Services)
}

// findAddr returns the first address of 198.18.0.1-198.18.0.254 for which ok holds, so a
// case can make the node that must lose the one that would otherwise win.
func findAddr(t *testing.T, what string, ok func(ip string) bool) string {
	t.Helper()
	for i := 1; i < 255; i++ {
		ip := fmt.Sprintf("198.18.0.%d", i)
		if ok(ip) {
			return ip
		}
	}
	t.Fatalf("no address where %s", what)
	return ""
}

var owner = election.Owner

// ---- table ----------------------------------------------------------------------------

func TestDecide(t *testing.T) {
	abc := []string{"a", "b", "c"}
	// ipA: "a" wins among a, b and c, so excluding "a" changes the owner.
	ipA := findAddr(t, "a wins", func(ip string) bool { return owner(ip, abc) == "a" })
	// ipB: "b" wins among a, b and c.
	ipB := findAddr(t, "b wins", func(ip string) bool { return owner(ip, abc) == "b" })
	// ipAC: "a" wins overall and "c" between b and c.
	ipAC := findAddr(t, "a wins, c beats b", func(ip string) bool {
		return owner(ip, abc) == "a" && owner(ip, []string{"b", "c"}) == "c"
	})
	// ipCB: "c" wins overall and "b" between a and b.
	ipCB := findAddr(t, "c wins, b beats a", func(ip string) bool {
		return owner(ip, abc) == "c" && owner(ip, []string{"a", "b"}) == "b"
	})
	// ipShare: "a" beats b and "c" beats b, so only the intersection {b} gives b.
	ipShare := findAddr(t, "a beats b, c beats b", func(ip string) bool {
		return owner(ip, []string{"a", "b"}) == "a" && owner(ip, []string{"b", "c"}) == "c"
	})
	bc := func(ip string) string { return owner(ip, []string{"b", "c"}) }
	all := func(ip string) string { return owner(ip, abc) }
	zoned := []corev1.Node{
		node("a", nodeLabels("zone", "north")),
		node("b", nodeLabels("zone", "south")),
		node("c", nodeLabels("zone", "east")),
	}
	v6 := "2001:db8::5"

	cases := []struct {
		name string
		snap plan.Snapshot
		want []plan.Announcement
	}{
		// Which Services count.

		// Which addresses an L2Advertisement covers.
		{
			name: "pool names and pool selectors select the union",
			snap: plan.Snapshot{
				Pools: []ironlbv1.IPAddressPool{
					pool("p-web", lbl("tier", "web"), "198.18.0.0/25"),
					pool("p-db", lbl("tier", "db"), "198.18.0.128/25"),
					pool("p-other", nil, "198.18.1.0/24"),
				},
				L2Advertisements: []ironlbv1.L2Advertisement{l2("mixed", pools("p-db"), poolSel("tier", "web"))},
				Services: []corev1.Service{
					svc("ns/other", []string{"198.18.1.1"}),
					svc("ns/db", []string{"198.18.0.200"}),
					svc("ns/web", []string{"198.18.0.10"}),
				},
			},
			want: []plan.Announcement{
				ann("198.18.0.10", all("198.18.0.10"), "ns/web"),
				ann("198.18.0.200", all("198.18.0.200"), "ns/db"),
			},
		},
		{
			name: "no pool selection selects every pool",
			snap: plan.Snapshot{
				Pools: []ironlbv1.IPAddressPool{
					pool("p-web", lbl("tier", "web"), "198.18.0.0/25"),
					pool("p-db", nil, "198.18.0.128/25"),
				},
				L2Advertisements: []ironlbv1.L2Advertisement{l2("everything")},
				Services: []corev1.Service{
					svc("ns/db", []string{"198.18.0.200"}),
					svc("ns/web", []string{"198.18.0.10"}),
				},
			},
			want: []plan.Announcement{
				ann("198.18.0.10", all("198.18.0.10"), "ns/web"),
				ann("198.18.0.200", all("198.18.0.200"), "ns/db"),
			},
		},
		{
			name: "an advertisement whose pool selector matches no pool selects nothing",
			snap: plan.Snapshot{
				L2Advertisements: []ironlbv1.L2Advertisement{l2("none", poolSel("tier", "none"))},
				Services:         []corev1.Service{svc("ns/web", []string{"198.18.0.10"})},
			},
			want: nil,
		},
		{
			name: "overlapping pools: the pool recorded on the Service wins",
			snap: plan.Snapshot{
				Pools: []ironlbv1.IPAddressPool{
					pool("a-wide", nil, "198.18.0.0/24"),
					pool("b-narrow", nil, "198.18.0.0/28"),
				},
				L2Advertisements: []ironlbv1.L2Advertisement{l2("narrow", pools("b-narrow"))},
				Services: []corev1.Service{
					svc("ns/recorded", []string{"198.18.0.5"}, fromPool("b-narrow")),
					svc("ns/unrecorded", []string{"198.18.0.6"}),
				},
			},
			want: []plan.Announcement{ann("198.18.0.5", all("198.18.0.5"), "ns/recorded")},
		},
		{
			name: "overlapping pools: the recorded pool wins over another containing pool",
			snap: plan.Snapshot{
				Pools: []ironlbv1.IPAddressPool{
					pool("a-wide", nil, "198.18.0.0/24"),
					pool("b-narrow", nil, "198.18.0.0/28"),
				},
				L2Advertisements: []ironlbv1.L2Advertisement{l2("wide", pools("a-wide"))},
				Services: []corev1.Service{
					svc("ns/recorded", []string{"198.18.0.5"}, fromPool("b-narrow")),
					svc("ns/unrecorded", []string{"198.18.0.6"}),
				},
			},
			want: []plan.Announcement{ann("198.18.0.6", all("198.18.0.6"), "ns/unrecorded")},
		},
		{
			name: "a recorded pool that does not contain the address is ignored",
			snap: plan.Snapshot{
				Pools: []ironlbv1.IPAddressPool{
					pool("p-here", nil, "198.18.0.0/24"),
					pool("p-there", nil, "198.19.0.0/24"),
				},
				L2Advertisements: []ironlbv1.L2Advertisement{l2("here", pools("p-here"))},
				Services:         []corev1.Service{svc("ns/web", []string{"198.18.0.5"}, fromPool("p-there"))},
			},
			want: []plan.Announcement{ann("198.18.0.5", all("198.18.0.5"), "ns/web")},
		},
		{
			name: "dual-stack: the recorded pools are comma separated, one per address",
			snap: plan.Snapshot{
				Pools: []ironlbv1.IPAddressPool{
					pool("all-v4", nil, "198.18.0.0/24"),
					pool("p4", nil, "198.18.0.0/24"),
					pool("p6", nil, "2001:db8::/120"),
				},
				L2Advertisements: []ironlbv1.L2Advertisement{l2("v4", pools("p4"))},
				Services:         []corev1.Service{svc("ns/web", []string{v6, "198.18.0.5"}, fromPool("p6,p4"))},
			},
			want: []plan.Announcement{ann("198.18.0.5", all("198.18.0.5"), "ns/web")},
		},

		// Which nodes may win.
		{
			name: "advertisement nodeSelectors limit the nodes",
			snap: plan.Snapshot{
				Nodes: []corev1.Node{
					node("a", nodeLabels("zone", "west")),
					node("b", nodeLabels("zone", "east")),
					node("c", nodeLabels("zone", "east")),
				},
				L2Advertisements: []ironlbv1.L2Advertisement{l2("east", nodeSel("zone", "east"))},
				Services:         []corev1.Service{svc("ns/web", []string{ipA})},
			},
			want: []plan.Announcement{ann(ipA, bc(ipA), "ns/web")},
		},
		{
			name: "several nodeSelectors select the union",
			snap: plan.Snapshot{
				Nodes:            zoned,
				L2Advertisements: []ironlbv1.L2Advertisement{l2("ns", nodeSel("zone", "north"), nodeSel("zone", "south"))},
				Services:         []corev1.Service{svc("ns/web", []string{ipCB})},
			},
			want: []plan.Announcement{ann(ipCB, "b", "ns/web")},
		},
		{
			name: "nodes selected by different advertisements add up",
			snap: plan.Snapshot{
				Nodes: zoned,
				L2Advertisements: []ironlbv1.L2Advertisement{
					l2("north", nodeSel("zone", "north")),
					l2("south", nodeSel("zone", "south")),
				},
				Services: []corev1.Service{svc("ns/web", []string{ipCB})},
			},
			want: []plan.Announcement{ann(ipCB, "b", "ns/web")},
		},
		{
			name: "a node not alive in memberlist never wins",
			snap: plan.Snapshot{
				Alive:    alive("b", "c"),
				Services: []corev1.Service{svc("ns/web", []string{ipA})},
			},
			want: []plan.Announcement{ann(ipA, bc(ipA), "ns/web")},
		},
		{
			name: "a live member without a Node object never wins",
			snap: plan.Snapshot{
				Nodes:    nodes("b", "c"),
				Services: []corev1.Service{svc("ns/web", []string{ipA})},
			},
			want: []plan.Announcement{ann(ipA, bc(ipA), "ns/web")},
		},
		{
			name: "nothing alive: no node, and the reason says so",
			snap: plan.Snapshot{
				Alive:    map[string][]string{},
				Services: []corev1.Service{svc("ns/web", []string{ipA})},
			},
			want: []plan.Announcement{withReason(ann(ipA, "", "ns/web"), "no speaker is alive")},
		},
		{
			name: "the exclude-from-external-load-balancers label excludes, whatever its value",
			snap: plan.Snapshot{
				Nodes:    []corev1.Node{node("a", nodeLabels(corev1.LabelNodeExcludeBalancers, "")), node("b"), node("c")},
				Services: []corev1.Service{svc("ns/web", []string{ipA})},
			},
			want: []plan.Announcement{ann(ipA, bc(ipA), "ns/web")},
		},
		{
			name: "NetworkUnavailable=True excludes",
			snap: plan.Snapshot{
				Nodes:    []corev1.Node{node("a", condition(corev1.NodeNetworkUnavailable, corev1.ConditionTrue)), node("b"), node("c")},
				Services: []corev1.Service{svc("ns/web", []string{ipA})},
			},
			want: []plan.Announcement{ann(ipA, bc(ipA), "ns/web")},
		},
		{
			name: "NetworkUnavailable=False and unrelated labels do not exclude",
			snap: plan.Snapshot{
				Nodes: []corev1.Node{
					node("a", condition(corev1.NodeNetworkUnavailable, corev1.ConditionFalse), nodeLabels("node-role.kubernetes.io/control-plane", "")),
					node("b"), node("c"),
				},
				Services: []corev1.Service{svc("ns/web", []string{ipA})},
			},
			want: []plan.Announcement{ann(ipA, "a", "ns/web")},
		},
		{
			name: "every live node excluded: no node, and the reason counts why",
			snap: plan.Snapshot{
				Nodes: []corev1.Node{
					node("a", nodeLabels(corev1.LabelNodeExcludeBalancers, "true")),
					node("b", condition(corev1.NodeNetworkUnavailable, corev1.ConditionTrue)),
					node("c"),
				},
				Alive:    alive("a", "b", "ghost"),
				Services: []corev1.Service{svc("ns/web", []string{ipA})},
			},
			want: []plan.Announcement{withReason(ann(ipA, "", "ns/web"),
				"1 node(s) is excluded", "1 node(s) has NetworkUnavailable", "1 node(s) has no Node object")},
		},

		// externalTrafficPolicy: Local.
		{
			name: "Local: only a node with a ready local endpoint wins",
			snap: plan.Snapshot{
				Services:       []corev1.Service{svc("ns/web", []string{ipA}, local())},
				EndpointSlices: []discoveryv1.EndpointSlice{slice("ns/web", ep("b", yes, yes))},
			},
			want: []plan.Announcement{ann(ipA, "b", "ns/web")},
		},
		{
			name: "Local: an endpoint with Ready unset counts as ready",
			snap: plan.Snapshot{
				Services:       []corev1.Service{svc("ns/web", []string{ipA}, local())},
				EndpointSlices: []discoveryv1.EndpointSlice{slice("ns/web", ep("b", nil, nil))},
			},
			want: []plan.Announcement{ann(ipA, "b", "ns/web")},
		},
		{
			name: "Local: a serving endpoint counts although not ready (terminating)",
			snap: plan.Snapshot{
				Services:       []corev1.Service{svc("ns/web", []string{ipA}, local())},
				EndpointSlices: []discoveryv1.EndpointSlice{slice("ns/web", ep("b", no, yes))},
			},
			want: []plan.Announcement{ann(ipA, "b", "ns/web")},
		},
		{
			name: "Local: an endpoint neither ready nor serving does not count",
			snap: plan.Snapshot{
				Services: []corev1.Service{svc("ns/web", []string{ipA}, local())},
				EndpointSlices: []discoveryv1.EndpointSlice{
					slice("ns/web", ep("a", no, no), ep("a", no, nil), ep("b", yes, nil)),
				},
			},
			want: []plan.Announcement{ann(ipA, "b", "ns/web")},
		},
		{
			name: "Local: endpoints of another Service or namespace, unlabelled slices and endpoints without a node do not count",
			snap: plan.Snapshot{
				Services: []corev1.Service{svc("ns/web", []string{ipA}, local())},
				EndpointSlices: []discoveryv1.EndpointSlice{
					slice("ns/api", ep("a", yes, yes)),
					slice("other/web", ep("a", yes, yes)),
					unlabelledSlice("ns/web", ep("a", yes, yes)),
					slice("ns/web", ep("", yes, yes), ep("b", yes, yes)),
				},
			},
			want: []plan.Announcement{ann(ipA, "b", "ns/web")},
		},
		{
			name: "Local: endpoints from every slice of the Service count",
			snap: plan.Snapshot{
				Services: []corev1.Service{svc("ns/web", []string{ipAC}, local())},
				EndpointSlices: []discoveryv1.EndpointSlice{
					slice("ns/web", ep("b", yes, yes)),
					slice("ns/web", ep("c", yes, yes), ep("c", yes, yes)),
				},
			},
			want: []plan.Announcement{ann(ipAC, "c", "ns/web")},
		},
		{
			name: "Local: no local endpoint anywhere, no node, and the reason names the local endpoint",
			snap: plan.Snapshot{
				Services:       []corev1.Service{svc("ns/web", []string{ipA}, local())},
				EndpointSlices: []discoveryv1.EndpointSlice{slice("ns/web", ep("a", no, no))},
			},
			want: []plan.Announcement{withReason(ann(ipA, "", "ns/web"), "local endpoint")},
		},
		{
			name: "Local: an endpoint on a node that is not alive does not help",
			snap: plan.Snapshot{
				Alive:          alive("b", "c"),
				Services:       []corev1.Service{svc("ns/web", []string{ipA}, local())},
				EndpointSlices: []discoveryv1.EndpointSlice{slice("ns/web", ep("a", yes, yes))},
			},
			want: []plan.Announcement{withReason(ann(ipA, "", "ns/web"), "local endpoint")},
		},
		{
			name: "Cluster policy ignores where the endpoints are",
			snap: plan.Snapshot{
				Services:       []corev1.Service{svc("ns/web", []string{ipA})},
				EndpointSlices: []discoveryv1.EndpointSlice{slice("ns/web", ep("b", yes, yes))},
			},
			want: []plan.Announcement{ann(ipA, "a", "ns/web")},
		},

		// Interfaces.
		{
			name: "the advertisement's interfaces, sorted",
			snap: plan.Snapshot{
				L2Advertisements: []ironlbv1.L2Advertisement{l2("if", ifaces("eth1", "eth0"))},
				Services:         []corev1.Service{svc("ns/web", []string{ipA})},
			},
			want: []plan.Announcement{withIfaces(ann(ipA, "a", "ns/web"), "eth0", "eth1")},
		},
		{
			name: "only the interfaces the node reports up",
			snap: plan.Snapshot{
				Alive:            map[string][]string{"a": {"lo", "eth0"}, "b": nil, "c": nil},
				L2Advertisements: []ironlbv1.L2Advertisement{l2("if", ifaces("eth0", "eth1"))},
				Services:         []corev1.Service{svc("ns/web", []string{ipA})},
			},
			want: []plan.Announcement{withIfaces(ann(ipA, "a", "ns/web"), "eth0")},
		},
		{
			name: "a node with none of the named interfaces up cannot win",
			snap: plan.Snapshot{
				Alive:            map[string][]string{"a": {"eth9"}, "b": nil, "c": {"eth0"}},
				L2Advertisements: []ironlbv1.L2Advertisement{l2("if", ifaces("eth0"))},
				Services:         []corev1.Service{svc("ns/web", []string{ipA})},
			},
			want: []plan.Announcement{withIfaces(ann(ipA, bc(ipA), "ns/web"), "eth0")},
		},
		{
			name: "a node that reports an empty list has no interface up",
			snap: plan.Snapshot{
				Alive:            map[string][]string{"a": {}, "b": nil, "c": nil},
				L2Advertisements: []ironlbv1.L2Advertisement{l2("if", ifaces("eth0"))},
				Services:         []corev1.Service{svc("ns/web", []string{ipA})},
			},
			want: []plan.Announcement{withIfaces(ann(ipA, bc(ipA), "ns/web"), "eth0")},
		},
		{
			name: "union of the interfaces of the advertisements that select pool, Service and node",
			snap: plan.Snapshot{
				Pools: []ironlbv1.IPAddressPool{pool("main", nil, "198.18.0.0/24"), pool("other", nil, "198.18.1.0/24")},
				L2Advertisements: []ironlbv1.L2Advertisement{
					l2("one", ifaces("eth1")),
					l2("two", ifaces("eth0", "eth1")),
					l2("wrong-node", ifaces("eth2"), nodeSel("zone", "nowhere")),
					l2("wrong-service", ifaces("eth3"), svcSel("app", "other")),
					l2("wrong-pool", ifaces("eth4"), pools("other")),
				},
				Services: []corev1.Service{svc("ns/web", []string{ipA})},
			},
			want: []plan.Announcement{withIfaces(ann(ipA, "a", "ns/web"), "eth0", "eth1")},
		},
		{
			name: "a selecting advertisement that names no interface means every interface",
			snap: plan.Snapshot{
				L2Advertisements: []ironlbv1.L2Advertisement{l2("one", ifaces("eth0")), l2("any")},
				Services:         []corev1.Service{svc("ns/web", []string{ipA})},
			},
			want: []plan.Announcement{ann(ipA, "a", "ns/web")},
		},
		{
			name: "interfaces are per node: only the advertisements selecting the winner count",
			snap: plan.Snapshot{
				Nodes: zoned,
				L2Advertisements: []ironlbv1.L2Advertisement{
					l2("south-east", ifaces("eth0"), nodeSel("zone", "south"), nodeSel("zone", "east")),
					l2("north", nodeSel("zone", "north")),
				},
				Services: []corev1.Service{
					svc("ns/a", []string{ipA}),
					svc("ns/b", []string{ipB}),
				},
			},
			want: sortByIP([]plan.Announcement{
				ann(ipA, "a", "ns/a"),
				withIfaces(ann(ipB, "b", "ns/b"), "eth0"),
			}),
		},

		// Shared addresses.
		{
			name: "Services sharing an address get one Announcement listing them all, sorted",
			snap: plan.Snapshot{Services: []corev1.Service{
				svc("ns/web", []string{ipA}),
				svc("other/x", []string{ipA}),
				svc("ns/api", []string{ipA}),
			}},
			want: []plan.Announcement{ann(ipA, "a", "ns/api", "ns/web", "other/x")},
		},
		{
			name: "sharing: the owner must be eligible for every Service",
			snap: plan.Snapshot{
				Services: []corev1.Service{
					svc("ns/web", []string{ipShare}, local()),
					svc("ns/api", []string{ipShare}, local()),
				},
				EndpointSlices: []discoveryv1.EndpointSlice{
					slice("ns/web", ep("a", yes, yes), ep("b", yes, yes)),
					slice("ns/api", ep("b", yes, yes), ep("c", yes, yes)),
				},
			},
			want: []plan.Announcement{ann(ipShare, "b", "ns/api", "ns/web")},
		},
		{
			name: "sharing: no node eligible for both, no node and a reason",
			snap: plan.Snapshot{
				Services: []corev1.Service{
					svc("ns/web", []string{ipA}, local()),
					svc("ns/api", []string{ipA}, local()),
				},
				EndpointSlices: []discoveryv1.EndpointSlice{
					slice("ns/web", ep("a", yes, yes)),
					slice("ns/api", ep("b", yes, yes)),
				},
			},
			want: []plan.Announcement{withReason(ann(ipA, "", "ns/api", "ns/web"), "eligible")},
		},
		{
			name: "sharing: the reason gives why each Service has no node",
			snap: plan.Snapshot{
				L2Advertisements: []ironlbv1.L2Advertisement{l2("nowhere", nodeSel("zone", "nowhere"))},
				Services: []corev1.Service{
					svc("ns/web", []string{ipA}, local()),
					svc("ns/api", []string{ipA}),
				},
			},
			want: []plan.Announcement{withReason(ann(ipA, "", "ns/api", "ns/web"),
				"3 node(s) has no ready local endpoint", "3 node(s) is not selected by an L2Advertisement")},
		},
		{
			name: "sharing: a Service of another class or type does not join the address",
			snap: plan.Snapshot{Services: []corev1.Service{
				svc("ns/theirs", []string{ipA}, class("other.io/lb")),
				svc("ns/np", []string{ipA}, ofType(corev1.ServiceTypeNodePort)),
				svc("ns/web", []string{ipA}),
			}},
			want: []plan.Announcement{ann(ipA, "a", "ns/web")},
		},
		{
			name: "sharing: interfaces of the advertisements of every Service, whatever the order",
			snap: plan.Snapshot{
				L2Advertisements: []ironlbv1.L2Advertisement{
					l2("all", ifaces("eth0")),
					l2("web", ifaces("eth1"), svcSel("app", "web")),
				},
				Services: []corev1.Service{
					svc("ns/api", []string{ipA}, svcLabels("app", "api")),
					svc("ns/web", []string{ipA}, svcLabels("app", "web")),
				},
			},
			want: []plan.Announcement{withIfaces(ann(ipA, "a", "ns/api", "ns/web"), "eth0", "eth1")},
		},
		{
			name: "sharing: an advertisement without interfaces for one Service means every interface",
			snap: plan.Snapshot{
				L2Advertisements: []ironlbv1.L2Advertisement{
					l2("all", ifaces("eth0")),
					l2("api", svcSel("app", "api")),
				},
				Services: []corev1.Service{
					svc("ns/web", []string{ipA}, svcLabels("app", "web")),
					svc("ns/api", []string{ipA}, svcLabels("app", "api")),
				},
			},
			want: []plan.Announcement{ann(ipA, "a", "ns/api", "ns/web")},
		},

		// Families and order.
		{
			name: "dual-stack Service: one Announcement per address",
			snap: plan.Snapshot{Services: []corev1.Service{svc("ns/web", []string{v6, ipA})}},
			want: []plan.Announcement{
				ann(ipA, "a", "ns/web"),
				ann(v6, all(v6), "ns/web"),
			},
		},
		{
			name: "output sorted by address: numerically, IPv4 before IPv6",
			snap: plan.Snapshot{Services: []corev1.Service{
				svc("ns/s1", []string{"2001:db8::10"}),
				svc("ns/s2", []string{"198.18.0.10"}),
				svc("ns/s3", []string{"2001:db8::9"}),
				svc("ns/s4", []string{"198.18.0.100"}),
				svc("ns/s5", []string{"198.18.0.9"}),
			}},
			want: []plan.Announcement{
				ann("198.18.0.9", all("198.18.0.9"), "ns/s5"),
				ann("198.18.0.10", all("198.18.0.10"), "ns/s2"),
				ann("198.18.0.100", all("198.18.0.100"), "ns/s4"),
				ann("2001:db8::9", all("2001:db8::9"), "ns/s3"),
				ann("2001:db8::10", all("2001:db8::10"), "ns/s1"),
			},
		},
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := plan.Announcements(withDefaults(c.snap))
			ok := len(got) == len(c.want)
			for i := 0; ok && i < len(got); i++ {
				ok = matches(got[i], c.want[i])
			}
			if !ok {
				t.Errorf("Announcements:%s\nwant:%s", describe(got), describe(c.want))
			}
		})
	}
}

func sortByIP(as []plan.Announcement) []plan.Announcement {
	slices.SortFunc(as, func(a, b plan.Announcement) int { return a.IP.Compare(b.IP) })
	return as
}

// ---- order independence ---------------------------------------------------------------

// richSnapshot mixes everything Decide looks at: overlapping pools, advertisements with
// node, Service and pool selectors and interfaces, excluded and dead nodes, Local Services,
// shared and dual-stack addresses.
func richSnapshot() plan.Snapshot {
	s := plan.Snapshot{
		Nodes: []corev1.Node{
			node("n1", nodeLabels("zone", "west")),
			node("n2", nodeLabels("zone", "west")),
			node("n3", nodeLabels("zone", "east")),
			node("n4", nodeLabels("zone", "east", corev1.LabelNodeExcludeBalancers, "")),
			node("n5", nodeLabels("zone", "east"), condition(corev1.NodeNetworkUnavailable, corev1.ConditionTrue)),
			node("n6", nodeLabels("zone", "east")),
			node("n8", nodeLabels("zone", "east")),
		},
		Alive: map[string][]string{
			"n1": {"eth0", "eth1"}, "n2": nil, "n3": {"eth1"}, "n4": nil, "n5": nil, "n7": nil, "n8": {"eth2"},
		},
		Pools: []ironlbv1.IPAddressPool{
			pool("main", lbl("tier", "front"), "198.18.0.0/24", "2001:db8::/120"),
			pool("aa-overlap", nil, "198.18.0.0/28"),
			pool("extra", lbl("tier", "back"), "198.18.1.0/24"),
			pool("lonely", nil, "198.18.2.0/24"),
		},
		L2Advertisements: []ironlbv1.L2Advertisement{
			l2("adv-all", pools("main"), ifaces("eth0")),
			l2("adv-web", svcSel("app", "web"), nodeSel("zone", "west"), ifaces("eth1", "eth2")),
			l2("adv-back", poolSel("tier", "back")),
			l2("adv-east", pools("main"), nodeSel("zone", "east"), ifaces("eth1")),
			l2("adv-lonely", pools("lonely"), nodeSel("zone", "nowhere")),
		},
		// Two Services share an address that no node may announce, each for its own reason.
		Services: []corev1.Service{
			svc("lonely/local", []string{"198.18.2.1"}, local()),
			svc("lonely/cluster", []string{"198.18.2.1"}),
		},
	}
	for i := range 60 {
		app := "api"
		if i%2 == 0 {
			app = "web"
		}
		ip := fmt.Sprintf("198.18.0.%d", i/2+2) // pairs of Services share an address
		if i%7 == 0 {
			ip = fmt.Sprintf("198.18.1.%d", i)
		}
		addrs := []string{ip}
		if i%5 == 0 {
			addrs = append(addrs, fmt.Sprintf("2001:db8::%x", i/2+2))
		}
		opts := []svcOpt{svcLabels("app", app)}
		if i%4 == 1 {
			opts = append(opts, fromPool("aa-overlap"))
		}
		key := fmt.Sprintf("ns%d/svc%d", i%3, i)
		if i%3 == 0 {
			opts = append(opts, local())
			s.EndpointSlices = append(s.EndpointSlices,
				slice(key, ep(fmt.Sprintf("n%d", i%8+1), yes, yes), ep(fmt.Sprintf("n%d", (i+3)%8+1), no, yes)))
		}
		s.Services = append(s.Services, svc(key, addrs, opts...))
	}
	return s
}

func shuffled[T any](r *rand.Rand, in []T) []T {
	out := slices.Clone(in)
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// Every speaker lists the objects in its own order; all must reach the same verdict.
func TestDecideIgnoresOrder(t *testing.T) {
	want := plan.Announcements(richSnapshot())
	var owned, unowned, shared, withIfaces int
	for i, a := range want {
		if i > 0 && !want[i-1].IP.Less(a.IP) {
			t.Fatalf("output not sorted or not unique at %s", a.IP)
		}
		if a.Node == "" {
			unowned++
		} else {
			owned++
		}
		if len(a.Services) > 1 {
			shared++
		}
		if len(a.Interfaces) > 0 {
			withIfaces++
		}
	}
	// The snapshot must exercise what order could disturb.
	if owned < 10 || unowned == 0 || shared < 10 || withIfaces < 5 {
		t.Fatalf("snapshot too plain: %d owned, %d unowned, %d shared, %d with interfaces", owned, unowned, shared, withIfaces)
	}

	r := rand.New(rand.NewPCG(1, 2))
	for round := range 100 {
		s := richSnapshot()
		s.Services = shuffled(r, s.Services)
		s.Nodes = shuffled(r, s.Nodes)
		s.EndpointSlices = shuffled(r, s.EndpointSlices)
		s.Pools = shuffled(r, s.Pools)
		s.L2Advertisements = shuffled(r, s.L2Advertisements)
		for i := range s.L2Advertisements {
			s.L2Advertisements[i].Spec.Interfaces = shuffled(r, s.L2Advertisements[i].Spec.Interfaces)
		}
		for i := range s.EndpointSlices {
			s.EndpointSlices[i].Endpoints = shuffled(r, s.EndpointSlices[i].Endpoints)
		}
		for n, up := range s.Alive {
			s.Alive[n] = shuffled(r, up)
		}
		got := plan.Announcements(s)
		if len(got) != len(want) {
			t.Fatalf("round %d: %d announcements, want %d", round, len(got), len(want))
		}
		for i := range got {
			if !equal(got[i], want[i]) {
				t.Fatalf("round %d: order changed the verdict:%s\nwant:%s", round, describe(got[i:i+1]), describe(want[i:i+1]))
			}
		}
	}
}

// The owner of every address is the rendezvous winner among exactly the eligible live
// nodes, so all speakers agree and a dead owner's addresses move only to survivors.
func TestDecideOwnerIsElectionWinnerAmongEligible(t *testing.T) {
	base := plan.Snapshot{
		Nodes: []corev1.Node{
			node("n1"), node("n2"), node("n3"),
			node("n4", nodeLabels(corev1.LabelNodeExcludeBalancers, "true")),
			node("n5", condition(corev1.NodeNetworkUnavailable, corev1.ConditionTrue)),
			node("n6"),
		},
		Alive: alive("n1", "n2", "n3", "n4", "n5", "n7"),
	}
	eligible := []string{"n1", "n2", "n3"}
	for i := 1; i < 255; i++ {
		base.Services = append(base.Services, svc(fmt.Sprintf("ns/s%d", i), []string{fmt.Sprintf("198.18.0.%d", i)}))
	}
	before := plan.Announcements(withDefaults(base))
	if len(before) != 254 {
		t.Fatalf("%d announcements, want 254", len(before))
	}
	for _, a := range before {
		if want := owner(a.IP.String(), eligible); a.Node != want {
			t.Fatalf("%s: owner %q, want %q", a.IP, a.Node, want)
		}
	}
	// n1 dies: only its addresses move, and never to an ineligible node.
	base.Alive = alive("n2", "n3", "n4", "n5", "n7")
	after := plan.Announcements(withDefaults(base))
	moved := 0
	for i, a := range after {
		prev := before[i].Node
		switch {
		case prev != "n1" && a.Node != prev:
			t.Fatalf("%s moved from %s to %s although %s is alive", a.IP, prev, a.Node, prev)
		case prev == "n1" && a.Node != "n2" && a.Node != "n3":
			t.Fatalf("%s moved from dead n1 to %q", a.IP, a.Node)
		case prev == "n1":
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("n1 owned nothing; the test proves nothing")
	}
}
