package nodeaddr

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/ironlb/ironlb/internal/ipset"
)

type nodeOpt func(*corev1.Node)

func node(name string, opts ...nodeOpt) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	for _, o := range opts {
		o(&n)
	}
	return n
}

func ips(addrs ...string) nodeOpt {
	return func(n *corev1.Node) {
		for _, a := range addrs {
			n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: a})
		}
	}
}

func external(a string) nodeOpt {
	return func(n *corev1.Node) {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: a})
	}
}

func notReady(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }
func cordoned(n *corev1.Node) { n.Spec.Unschedulable = true }
func noReadyCondition(n *corev1.Node) {
	n.Status.Conditions = nil
}
func excluded(n *corev1.Node) {
	n.Labels = map[string]string{corev1.LabelNodeExcludeBalancers: ""}
}
func networkDown(n *corev1.Node) {
	n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionTrue})
}
func deleting(n *corev1.Node) {
	now := metav1.Now()
	n.DeletionTimestamp = &now
}

func kubeletPort(p int32) nodeOpt {
	return func(n *corev1.Node) { n.Status.DaemonEndpoints.KubeletEndpoint.Port = p }
}

var (
	v4   = []ipset.Family{ipset.IPv4}
	v6   = []ipset.Family{ipset.IPv6}
	dual = []ipset.Family{ipset.IPv4, ipset.IPv6}
	v6v4 = []ipset.Family{ipset.IPv6, ipset.IPv4}
)

func TestCompute(t *testing.T) {
	cases := []struct {
		name     string
		in       Input
		want     []string // "ip@node", in order
		excluded []string // "node: why"
	}{
		{
			name: "ready nodes in name order, addresses sorted",
			in: Input{Families: v4, Nodes: []corev1.Node{
				node("c", ips("198.18.0.3")), node("a", ips("198.18.0.11")), node("b", ips("198.18.0.2")),
			}},
			want: []string{"198.18.0.2@b", "198.18.0.3@c", "198.18.0.11@a"},
		},
		{
			name: "NotReady, no Ready condition, cordoned, excluded, network down, deleting",
			in: Input{Families: v4, Nodes: []corev1.Node{
				node("a", ips("198.18.0.1"), notReady), node("b", ips("198.18.0.2"), cordoned),
				node("c", ips("198.18.0.3"), excluded), node("d", ips("198.18.0.4"), networkDown),
				node("e", ips("198.18.0.5"), deleting), node("f", ips("198.18.0.6"), noReadyCondition),
				node("g", ips("198.18.0.7")),
			}},
			want: []string{"198.18.0.7@g"},
			excluded: []string{"a: is not Ready", "b: is cordoned",
				"c: is excluded from load balancers (label node.kubernetes.io/exclude-from-external-load-balancers)",
				"d: has NetworkUnavailable", "e: is being deleted", "f: is not Ready"},
		},
		{
			name: "no InternalIP: an ExternalIP does not count",
			in:   Input{Families: v4, Nodes: []corev1.Node{node("a", external("198.18.9.1")), node("b", ips("198.18.0.2"))}},
			want: []string{"198.18.0.2@b"}, excluded: []string{"a: has no IPv4 InternalIP"},
		},
		{
			name: "IPv6-only node for an IPv4 Service, and the first InternalIP of the family",
			in: Input{Families: v4, Nodes: []corev1.Node{
				node("a", ips("2001:db8::1")), node("b", ips("2001:db8::2", "198.18.0.2", "198.18.0.22")),
			}},
			want: []string{"198.18.0.2@b"}, excluded: []string{"a: has no IPv4 InternalIP"},
		},
		{
			name: "IPv6 Service",
			in:   Input{Families: v6, Nodes: []corev1.Node{node("a", ips("198.18.0.1", "2001:db8::1")), node("b", ips("198.18.0.2"))}},
			want: []string{"2001:db8::1@a"}, excluded: []string{"b: has no IPv6 InternalIP"},
		},
		{
			name: "PreferDualStack: every family a node has, in the Service's family order",
			in: Input{Families: v6v4, Nodes: []corev1.Node{
				node("a", ips("198.18.0.1", "2001:db8::1")), node("b", ips("198.18.0.2")), node("c", ips("2001:db8::3")),
			}},
			want: []string{"2001:db8::1@a", "2001:db8::3@c", "198.18.0.1@a", "198.18.0.2@b"},
		},
		{
			name: "RequireDualStack: only nodes with both families",
			in: Input{Families: dual, RequireAll: true, Nodes: []corev1.Node{
				node("a", ips("198.18.0.1", "2001:db8::1")), node("b", ips("198.18.0.2")), node("c"),
			}},
			want:     []string{"198.18.0.1@a", "2001:db8::1@a"},
			excluded: []string{"b: has no IPv6 InternalIP", "c: has no IPv4 or IPv6 InternalIP"},
		},
		{
			name: "externalTrafficPolicy Local: only nodes with a ready endpoint",
			in: Input{Families: v4, Local: true, LocalNodes: map[string]bool{"b": true}, Nodes: []corev1.Node{
				node("a", ips("198.18.0.1")), node("b", ips("198.18.0.2")),
			}},
			want: []string{"198.18.0.2@b"}, excluded: []string{"a: has no ready endpoint of the Service (externalTrafficPolicy: Local)"},
		},
		{
			name: "the kubelet's port is not taken from it",
			in: Input{Families: v4, TCPPorts: []int32{80, 10250}, Nodes: []corev1.Node{
				node("a", ips("198.18.0.1"), kubeletPort(10250)), node("b", ips("198.18.0.2"), kubeletPort(10255)), node("c", ips("198.18.0.3")),
			}},
			want: []string{"198.18.0.2@b", "198.18.0.3@c"}, excluded: []string{"a: has its kubelet on TCP port 10250, a port of the Service"},
		},
		{name: "no nodes", in: Input{Families: v4}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Compute(c.in)
			var got, excl []string
			for _, a := range r.Addresses {
				got = append(got, a.IP.String()+"@"+a.Node)
			}
			for _, e := range r.Excluded {
				excl = append(excl, e.Node+": "+e.Why)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("addresses = %v, want %v", got, c.want)
			}
			if !slices.Equal(excl, c.excluded) {
				t.Errorf("excluded = %q, want %q", excl, c.excluded)
			}
			if len(r.Nodes)+len(r.Excluded) != len(c.in.Nodes) {
				t.Errorf("nodes %v and excluded %v do not add up to the %d nodes", r.Nodes, excl, len(c.in.Nodes))
			}
		})
	}
}

// The order of the node list must not matter, so that a resync writes nothing.
func TestComputeIsDeterministic(t *testing.T) {
	nodes := []corev1.Node{node("b", ips("198.18.0.2", "2001:db8::2")), node("a", ips("198.18.0.1", "2001:db8::1")), node("c", notReady)}
	first := Compute(Input{Families: dual, Nodes: nodes})
	slices.Reverse(nodes)
	second := Compute(Input{Families: dual, Nodes: nodes})
	if !slices.Equal(first.IPs(), second.IPs()) || first.Used() != second.Used() || first.Refused() != second.Refused() {
		t.Errorf("order of nodes changed the result: %v / %v", first.IPs(), second.IPs())
	}
	if want := []netip.Addr{netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2"),
		netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")}; !slices.Equal(first.IPs(), want) {
		t.Errorf("IPs = %v, want %v", first.IPs(), want)
	}
}

func TestMessages(t *testing.T) {
	r := Compute(Input{Families: dual, Nodes: []corev1.Node{
		node("a", ips("198.18.0.1", "2001:db8::1")), node("b", ips("198.18.0.2")), node("c", cordoned),
	}})
	if got, want := r.Used(), "uses the InternalIPs of 2 nodes a (198.18.0.1, 2001:db8::1), b (198.18.0.2); "; !strings.HasPrefix(got, want) {
		t.Errorf("Used() = %q, want it to start with %q", got, want)
	}
	if got, want := r.Refused(), "node c is cordoned"; got != want {
		t.Errorf("Refused() = %q, want %q", got, want)
	}
	if got := Compute(Input{Families: v4}).Refused(); got != "there are no nodes" {
		t.Errorf("Refused() without nodes = %q", got)
	}

	var many []corev1.Node
	for _, n := range []string{"n1", "n2", "n3", "n4", "n5", "n6", "n7"} {
		many = append(many, node(n, notReady))
	}
	got := Compute(Input{Families: v4, Nodes: many}).Refused()
	if !strings.HasSuffix(got, "node n5 is not Ready and 2 more") || strings.Contains(got, "n6") {
		t.Errorf("Refused() of 7 nodes = %q, want 5 named and 2 counted", got)
	}
}

func TestLocalNodes(t *testing.T) {
	ep := func(node string, ready, serving *bool) discoveryv1.Endpoint {
		e := discoveryv1.Endpoint{Conditions: discoveryv1.EndpointConditions{Ready: ready, Serving: serving}}
		if node != "" {
			e.NodeName = ptr.To(node)
		}
		return e
	}
	got := LocalNodes([]discoveryv1.EndpointSlice{{Endpoints: []discoveryv1.Endpoint{
		ep("ready", ptr.To(true), nil), ep("unset", nil, nil), ep("terminating", ptr.To(false), ptr.To(true)),
		ep("down", ptr.To(false), ptr.To(false)), ep("", ptr.To(true), nil),
	}}})
	want := map[string]bool{"ready": true, "unset": true, "terminating": true}
	if len(got) != len(want) {
		t.Fatalf("LocalNodes = %v, want %v", got, want)
	}
	for n := range want {
		if !got[n] {
			t.Errorf("LocalNodes = %v, missing %s", got, n)
		}
	}
}

func TestCollision(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	a1, a2 := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	claim := func(name string, age int, ips []netip.Addr, ports ...string) Claim {
		return Claim{Service: name, Created: t0.Add(time.Duration(age) * time.Minute), IPs: ips, Ports: ports}
	}
	self := claim("ns/new", 10, []netip.Addr{a1, a2}, "TCP/80", "TCP/443")
	cases := []struct {
		name   string
		others []Claim
		want   string
	}{
		{"alone", nil, ""},
		{"itself", []Claim{claim("ns/new", 10, []netip.Addr{a1}, "TCP/80")}, ""},
		{"older, same port and address", []Claim{claim("ns/old", 5, []netip.Addr{a2}, "TCP/443")},
			"port TCP/443 on 198.18.0.2 is taken by older Service ns/old on node addresses"},
		{"older, same port number of another protocol", []Claim{claim("ns/old", 5, []netip.Addr{a1}, "UDP/80")}, ""},
		{"older, same port on other addresses", []Claim{claim("ns/old", 5, []netip.Addr{netip.MustParseAddr("198.18.0.9")}, "TCP/80")}, ""},
		{"younger never wins", []Claim{claim("ns/young", 20, []netip.Addr{a1}, "TCP/80")}, ""},
		{"same time: the name decides", []Claim{claim("ns/aaa", 10, []netip.Addr{a1}, "TCP/80")},
			"port TCP/80 on 198.18.0.1 is taken by older Service ns/aaa on node addresses"},
		{"the oldest is named", []Claim{claim("ns/b", 7, []netip.Addr{a1}, "TCP/80"), claim("ns/a", 3, []netip.Addr{a1}, "TCP/80")},
			"port TCP/80 on 198.18.0.1 is taken by older Service ns/a on node addresses"},
	}
	for _, c := range cases {
		if got := Collision(self, c.others); got != c.want {
			t.Errorf("%s: Collision = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestClaimOf(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}}
	svc.Spec.Ports = []corev1.ServicePort{{Port: 80}, {Port: 53, Protocol: corev1.ProtocolUDP}}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "198.18.0.1"}}
	if c := ClaimOf(svc); len(c.IPs) != 0 || !slices.Equal(c.Ports, []string{"TCP/80", "UDP/53"}) {
		t.Errorf("a Service not on node addresses claims %+v", c)
	}
	svc.Status.Conditions = []metav1.Condition{{Type: "ironlb.io/IPAllocated", Status: metav1.ConditionTrue, Reason: "NodeAddresses"}}
	if c := ClaimOf(svc); c.Service != "ns/web" || !slices.Equal(c.IPs, []netip.Addr{netip.MustParseAddr("198.18.0.1")}) {
		t.Errorf("ClaimOf = %+v", c)
	}
}
