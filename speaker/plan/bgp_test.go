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
	"github.com/ironlb/ironlb/speaker/plan"
)

// ---- BGP builders ---------------------------------------------------------------------

func bgpAdv(name string, opts ...advOpt) ironlbv1.BGPAdvertisement {
	a := ironlbv1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, o := range opts {
		o(&a)
	}
	return a
}

// bgpOpt edits what only a BGPAdvertisement has.
func bgpOpt(edit func(*ironlbv1.BGPAdvertisementSpec)) advOpt {
	return func(a any) { edit(&a.(*ironlbv1.BGPAdvertisement).Spec) }
}

func aggLen(n int32) advOpt {
	return bgpOpt(func(s *ironlbv1.BGPAdvertisementSpec) { s.AggregationLength = &n })
}
func aggLenV6(n int32) advOpt {
	return bgpOpt(func(s *ironlbv1.BGPAdvertisementSpec) { s.AggregationLengthV6 = &n })
}
func lpref(n int64) advOpt {
	return bgpOpt(func(s *ironlbv1.BGPAdvertisementSpec) { s.LocalPref = &n })
}
func comms(cs ...string) advOpt {
	return bgpOpt(func(s *ironlbv1.BGPAdvertisementSpec) {
		for _, c := range cs {
			s.Communities = append(s.Communities, ironlbv1.Community(c))
		}
	})
}
func toPeers(names ...string) advOpt {
	return bgpOpt(func(s *ironlbv1.BGPAdvertisementSpec) { s.Peers = append(s.Peers, names...) })
}

// withBGPDefaults fills the fields a case left empty: this node is "a"; nodes a, b and c;
// pool "main" (198.18.0.0/24 and 2001:db8::/120); one BGPAdvertisement selecting
// everything; and, when EndpointSlices is nil, one ready endpoint on node "c" for every
// Service (so Cluster Services are advertised and Local ones are not, from "a"). An empty,
// non-nil value keeps the field empty.
func withBGPDefaults(s plan.Snapshot) plan.Snapshot {
	if s.Node == "" {
		s.Node = "a"
	}
	if s.Nodes == nil {
		s.Nodes = nodes("a", "b", "c")
	}
	if s.Pools == nil {
		s.Pools = []ironlbv1.IPAddressPool{pool("main", nil, "198.18.0.0/24", "2001:db8::/120")}
	}
	if s.BGPAdvertisements == nil {
		s.BGPAdvertisements = []ironlbv1.BGPAdvertisement{bgpAdv("all")}
	}
	if s.EndpointSlices == nil {
		for _, sv := range s.Services {
			s.EndpointSlices = append(s.EndpointSlices, slice(sv.Namespace+"/"+sv.Name, ep("c", yes, yes)))
		}
	}
	return s
}

// route is an expected Prefix for the given Services, to every peer and with no attributes.
func route(prefix string, services ...string) plan.Prefix {
	return plan.Prefix{Prefix: netip.MustParsePrefix(prefix), Services: services}
}

func withComms(p plan.Prefix, cs ...string) plan.Prefix {
	for _, c := range cs {
		p.Communities = append(p.Communities, ironlbv1.Community(c))
	}
	return p
}

func withLocalPref(p plan.Prefix, v int64) plan.Prefix {
	p.LocalPref = &v
	return p
}

func withPeers(p plan.Prefix, names ...string) plan.Prefix {
	p.Peers = names
	return p
}

// wantPrefixes fails the test unless got are the want prefixes, in order.
func wantPrefixes(t *testing.T, got, want []plan.Prefix) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = samePrefix(got[i], want[i])
	}
	if !ok {
		t.Errorf("Prefixes:%s\nwant:%s", describePrefixes(got), describePrefixes(want))
	}
}

func samePrefix(a, b plan.Prefix) bool {
	if a.Prefix != b.Prefix || !slices.Equal(a.Communities, b.Communities) || !slices.Equal(a.Services, b.Services) ||
		a.Endpoints != b.Endpoints {
		return false
	}
	// nil Peers means every peer; an empty non-nil list would mean none.
	if (a.Peers == nil) != (b.Peers == nil) || !slices.Equal(a.Peers, b.Peers) {
		return false
	}
	if (a.LocalPref == nil) != (b.LocalPref == nil) || (a.LocalPref != nil && *a.LocalPref != *b.LocalPref) {
		return false
	}
	return true
}

func describePrefixes(ps []plan.Prefix) string {
	var b strings.Builder
	for _, p := range ps {
		lp := "none"
		if p.LocalPref != nil {
			lp = fmt.Sprint(*p.LocalPref)
		}
		peers := "every peer"
		if p.Peers != nil {
			peers = fmt.Sprint(p.Peers)
		}
		fmt.Fprintf(&b, "\n  %s services=%v communities=%v localPref=%s peers=%s endpoints=%d", p.Prefix, p.Services, p.Communities, lp, peers, p.Endpoints)
	}
	if b.Len() == 0 {
		return " (none)"
	}
	return b.String()
}

// ---- table ----------------------------------------------------------------------------

func TestDecideBGP(t *testing.T) {
	web := func(opts ...svcOpt) []corev1.Service {
		return []corev1.Service{svc("ns/web", []string{"198.18.0.1"}, opts...)}
	}
	cases := []struct {
		name string
		snap plan.Snapshot
		want []plan.Prefix
	}{
		// externalTrafficPolicy: Cluster needs a ready endpoint somewhere.
		{
			name: "cluster: a ready endpoint on another node is enough",
			snap: plan.Snapshot{Services: web()},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/web")},
		},
		{
			name: "cluster: a ready endpoint on this node",
			snap: plan.Snapshot{Services: web(),
				EndpointSlices: []discoveryv1.EndpointSlice{slice("ns/web", ep("a", yes, yes))}},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/web")},
		},
		{
			name: "cluster: no endpoint at all, nothing is advertised",
			snap: plan.Snapshot{Services: web(), EndpointSlices: []discoveryv1.EndpointSlice{}},
			want: nil,
		},
		{
			name: "cluster: an empty EndpointSlice, nothing is advertised",
			snap: plan.Snapshot{Services: web(), EndpointSlices: []discoveryv1.EndpointSlice{slice("ns/web")}},
			want: nil,
		},
		{
			name: "cluster: only endpoints neither ready nor serving, nothing is advertised",
			snap: plan.Snapshot{Services: web(),
				EndpointSlices: []discoveryv1.EndpointSlice{slice("ns/web", ep("b", no, no), ep("c", no, nil))}},
			want: nil,
		},
		{
			name: "cluster: a terminating endpoint that still serves counts",
			snap: plan.Snapshot{Services: web(),
				EndpointSlices: []discoveryv1.EndpointSlice{slice("ns/web", ep("b", no, yes))}},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/web")},
		},
		{
			name: "cluster: an unset Ready condition means ready",
			snap: plan.Snapshot{Services: web(),
				EndpointSlices: []discoveryv1.EndpointSlice{slice("ns/web", ep("b", nil, nil))}},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/web")},
		},
		{
			name: "cluster: an endpoint without a node still counts",
			snap: plan.Snapshot{Services: web(),
				EndpointSlices: []discoveryv1.EndpointSlice{slice("ns/web", ep("", yes, yes))}},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/web")},
		},
		{
			name: "cluster: a slice without the service-name label belongs to no Service",
			snap: plan.Snapshot{Services: web(),
				EndpointSlices: []discoveryv1.EndpointSlice{unlabelledSlice("ns/web", ep("b", yes, yes))}},
			want: nil,
		},
		{
			name: "cluster: the endpoints of a same-named Service in another namespace do not count",
			snap: plan.Snapshot{Services: web(),
				EndpointSlices: []discoveryv1.EndpointSlice{slice("other/web", ep("b", yes, yes))}},
			want: nil,
		},
		{
			name: "cluster: one ready endpoint among unready ones in several slices",
			snap: plan.Snapshot{Services: web(),
				EndpointSlices: []discoveryv1.EndpointSlice{
					slice("ns/web", ep("b", no, no)),
					slice("ns/web", ep("c", no, no), ep("b", yes, yes)),
				}},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/web")},
		},

		// externalTrafficPolicy: Local needs a ready endpoint on this node.
		{
			name: "local: a ready endpoint on this node",
			snap: plan.Snapshot{Services: web(local()),
				EndpointSlices: []discoveryv1.EndpointSlice{slice("ns/web", ep("a", yes, yes))}},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/web")},
		},
		{
			name: "local: ready endpoints only on other nodes, nothing is advertised",
			snap: plan.Snapshot{Services: web(local()),
				EndpointSlices: []discoveryv1.EndpointSlice{slice("ns/web", ep("b", yes, yes), ep("c", yes, yes))}},
			want: nil,
		},
		{
			name: "local: the endpoint on this node is not ready, nothing is advertised",
			snap: plan.Snapshot{Services: web(local()),
				EndpointSlices: []discoveryv1.EndpointSlice{slice("ns/web", ep("a", no, no), ep("b", yes, yes))}},
			want: nil,
		},
		{
			name: "local: a serving terminating endpoint on this node counts",
			snap: plan.Snapshot{Services: web(local()),
				EndpointSlices: []discoveryv1.EndpointSlice{slice("ns/web", ep("a", no, yes))}},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/web")},
		},
		{
			name: "local: another node advertises what this one does not",
			snap: plan.Snapshot{Node: "b", Services: web(local()),
				EndpointSlices: []discoveryv1.EndpointSlice{slice("ns/web", ep("b", yes, yes))}},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/web")},
		},
		{
			name: "local and cluster Services side by side",
			snap: plan.Snapshot{
				Services: []corev1.Service{
					svc("ns/loc", []string{"198.18.0.2"}, local()),
					svc("ns/clu", []string{"198.18.0.3"}),
				},
				EndpointSlices: []discoveryv1.EndpointSlice{
					slice("ns/loc", ep("b", yes, yes)),
					slice("ns/clu", ep("b", yes, yes)),
				}},
			want: []plan.Prefix{route("198.18.0.3/32", "ns/clu")},
		},

		// This node.
		{
			name: "node excluded from load balancers: nothing",
			snap: plan.Snapshot{Services: web(),
				Nodes: []corev1.Node{node("a", nodeLabels(corev1.LabelNodeExcludeBalancers, "")), node("b"), node("c")}},
			want: nil,
		},
		{
			name: "node excluded from load balancers, with a value: nothing",
			snap: plan.Snapshot{Services: web(),
				Nodes: []corev1.Node{node("a", nodeLabels(corev1.LabelNodeExcludeBalancers, "true")), node("b"), node("c")}},
			want: nil,
		},
		{
			name: "another node excluded: this one still advertises",
			snap: plan.Snapshot{Services: web(),
				Nodes: []corev1.Node{node("a"), node("b", nodeLabels(corev1.LabelNodeExcludeBalancers, "")), node("c")}},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/web")},
		},
		{
			name: "node with NetworkUnavailable=True: nothing",
			snap: plan.Snapshot{Services: web(),
				Nodes: []corev1.Node{node("a", condition(corev1.NodeNetworkUnavailable, corev1.ConditionTrue)), node("b"), node("c")}},
			want: nil,
		},
		{
			name: "node with NetworkUnavailable=False advertises",
			snap: plan.Snapshot{Services: web(),
				Nodes: []corev1.Node{node("a", condition(corev1.NodeNetworkUnavailable, corev1.ConditionFalse)), node("b"), node("c")}},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/web")},
		},
		{
			name: "node with NetworkUnavailable=True and a local endpoint: nothing",
			snap: plan.Snapshot{Services: web(local()),
				Nodes:          []corev1.Node{node("a", condition(corev1.NodeNetworkUnavailable, corev1.ConditionTrue)), node("b"), node("c")},
				EndpointSlices: []discoveryv1.EndpointSlice{slice("ns/web", ep("a", yes, yes))}},
			want: nil,
		},
		{
			name: "this node has no Node object: nothing",
			snap: plan.Snapshot{Node: "ghost", Services: web()},
			want: nil,
		},
		{
			name: "no Node objects at all: nothing",
			snap: plan.Snapshot{Services: web(), Nodes: []corev1.Node{}},
			want: nil,
		},

		// Which Services count.
		{
			name: "no pools at all: nothing",
			snap: plan.Snapshot{Services: web(), Pools: []ironlbv1.IPAddressPool{}},
			want: nil,
		},
		{
			name: "dual-stack Service: a /32 and a /128",
			snap: plan.Snapshot{Services: []corev1.Service{svc("ns/ds", []string{"2001:db8::7", "198.18.0.7"})}},
			want: []plan.Prefix{route("198.18.0.7/32", "ns/ds"), route("2001:db8::7/128", "ns/ds")},
		},
		{
			name: "two Services sharing an address: one prefix listing both",
			snap: plan.Snapshot{Services: []corev1.Service{
				svc("ns/web-udp", []string{"198.18.0.9"}),
				svc("ns/web-tcp", []string{"198.18.0.9"}),
			}},
			want: []plan.Prefix{route("198.18.0.9/32", "ns/web-tcp", "ns/web-udp")},
		},
		{
			name: "sharing an address, one Service without endpoints: the other still advertises it",
			snap: plan.Snapshot{
				Services: []corev1.Service{
					svc("ns/web-udp", []string{"198.18.0.9"}),
					svc("ns/web-tcp", []string{"198.18.0.9"}),
				},
				EndpointSlices: []discoveryv1.EndpointSlice{slice("ns/web-tcp", ep("b", yes, yes))},
			},
			want: []plan.Prefix{route("198.18.0.9/32", "ns/web-tcp")},
		},

		// Which advertisements select an address.
		{
			name: "the pool recorded on the Service decides between overlapping pools",
			snap: plan.Snapshot{
				Pools: []ironlbv1.IPAddressPool{
					pool("aa-small", nil, "198.18.0.0/28"),
					pool("main", nil, "198.18.0.0/24"),
				},
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("main-only", pools("main"))},
				Services: []corev1.Service{
					svc("ns/recorded", []string{"198.18.0.2"}, fromPool("main")),
					svc("ns/unrecorded", []string{"198.18.0.3"}),
				},
			},
			want: []plan.Prefix{route("198.18.0.2/32", "ns/recorded")},
		},
		{
			name: "nodeSelectors matching this node",
			snap: plan.Snapshot{Services: web(),
				Nodes:             []corev1.Node{node("a", nodeLabels("rack", "r1")), node("b", nodeLabels("rack", "r2"))},
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("r1", nodeSel("rack", "r1"))}},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/web")},
		},
		{
			name: "nodeSelectors not matching this node: nothing",
			snap: plan.Snapshot{Services: web(),
				Nodes:             []corev1.Node{node("a", nodeLabels("rack", "r1")), node("b", nodeLabels("rack", "r2"))},
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("r2", nodeSel("rack", "r2"))}},
			want: nil,
		},
		{
			name: "nodeSelectors: only the advertisement selecting this node applies",
			snap: plan.Snapshot{Services: web(),
				Nodes: []corev1.Node{node("a", nodeLabels("rack", "r1")), node("b", nodeLabels("rack", "r2"))},
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{
					bgpAdv("r1", nodeSel("rack", "r1"), comms("65000:1")),
					bgpAdv("r2", nodeSel("rack", "r2"), comms("65000:2"), lpref(500), toPeers("far")),
				}},
			want: []plan.Prefix{withComms(route("198.18.0.1/32", "ns/web"), "65000:1")},
		},

		// Aggregation.
		{
			name: "default: a /32 and a /128 per address",
			snap: plan.Snapshot{Services: []corev1.Service{
				svc("ns/a", []string{"198.18.0.1"}),
				svc("ns/b", []string{"2001:db8::1"}),
			}},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/a"), route("2001:db8::1/128", "ns/b")},
		},
		{
			name: "aggregationLength 24: two addresses in one /24 give one prefix listing both",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("agg", aggLen(24))},
				Services: []corev1.Service{
					svc("ns/b", []string{"198.18.0.200"}),
					svc("ns/a", []string{"198.18.0.1"}),
				},
			},
			want: []plan.Prefix{route("198.18.0.0/24", "ns/a", "ns/b")},
		},
		{
			name: "aggregationLength 25: two addresses in different /25s give two prefixes",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("agg", aggLen(25))},
				Services: []corev1.Service{
					svc("ns/b", []string{"198.18.0.200"}),
					svc("ns/a", []string{"198.18.0.1"}),
				},
			},
			want: []plan.Prefix{route("198.18.0.0/25", "ns/a"), route("198.18.0.128/25", "ns/b")},
		},
		{
			name: "aggregationLength 32 is the address alone",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("agg", aggLen(32))},
				Services:          web(),
			},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/web")},
		},
		{
			name: "aggregationLengthV6 64 aggregates IPv6 only; aggregationLength IPv4 only",
			snap: plan.Snapshot{
				Pools:             []ironlbv1.IPAddressPool{pool("main", nil, "198.18.0.0/24", "2001:db8::/64")},
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("agg", aggLenV6(64))},
				Services: []corev1.Service{
					svc("ns/v6a", []string{"2001:db8::1"}),
					svc("ns/v6b", []string{"2001:db8::2"}),
					svc("ns/v4", []string{"198.18.0.1"}),
				},
			},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/v4"), route("2001:db8::/64", "ns/v6a", "ns/v6b")},
		},
		{
			name: "an aggregate beyond the pool is not sent: the addresses go alone",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("agg", aggLen(16), aggLenV6(64))},
				Services: []corev1.Service{
					svc("ns/a", []string{"198.18.0.1", "2001:db8::1"}),
					svc("ns/b", []string{"198.18.0.2"}),
				},
			},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/a"), route("198.18.0.2/32", "ns/b"), route("2001:db8::1/128", "ns/a")},
		},
		{
			name: "aggregationLength 0 never becomes a default route",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("agg", aggLen(0))},
				Services:          []corev1.Service{svc("ns/a", []string{"198.18.0.1"})},
			},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/a")},
		},
		{
			name: "an aggregate across two pools is beyond each of them",
			snap: plan.Snapshot{
				Pools: []ironlbv1.IPAddressPool{
					pool("low", nil, "198.18.0.0/25"), pool("high", nil, "198.18.0.128/25"),
				},
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("agg", aggLen(24))},
				Services:          []corev1.Service{svc("ns/a", []string{"198.18.0.1"})},
			},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/a")},
		},
		{
			name: "aggregationLength does not apply to IPv6 addresses",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("agg", aggLen(24))},
				Services:          []corev1.Service{svc("ns/v6", []string{"2001:db8::1"})},
			},
			want: []plan.Prefix{route("2001:db8::1/128", "ns/v6")},
		},
		{
			name: "an aggregate and a host route from two advertisements are two prefixes",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{
					bgpAdv("agg", aggLen(24), comms("65000:24")),
					bgpAdv("host", comms("65000:32")),
				},
				Services: web(),
			},
			want: []plan.Prefix{
				withComms(route("198.18.0.0/24", "ns/web"), "65000:24"),
				withComms(route("198.18.0.1/32", "ns/web"), "65000:32"),
			},
		},

		{
			name: "aggregates of one address sort shortest first",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{
					bgpAdv("host", comms("65000:32")),
					bgpAdv("agg25", aggLen(25), comms("65000:25")),
					bgpAdv("agg24", aggLen(24), comms("65000:24")),
				},
				Services: web(),
			},
			want: []plan.Prefix{
				withComms(route("198.18.0.0/24", "ns/web"), "65000:24"),
				withComms(route("198.18.0.0/25", "ns/web"), "65000:25"),
				withComms(route("198.18.0.1/32", "ns/web"), "65000:32"),
			},
		},

		// Attributes and combining advertisements.
		{
			name: "one advertisement's attributes",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{
					bgpAdv("x", comms("65000:2", "large:1:2:3", "65000:1"), lpref(150), toPeers("r2", "r1")),
				},
				Services: web(),
			},
			want: []plan.Prefix{withPeers(withLocalPref(withComms(route("198.18.0.1/32", "ns/web"),
				"65000:1", "65000:2", "large:1:2:3"), 150), "r1", "r2")},
		},
		{
			name: "two advertisements on one prefix: communities union, highest localPref, peers union",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{
					bgpAdv("x", comms("65000:2", "no-export", "65000:1"), lpref(100), toPeers("r2", "r1")),
					bgpAdv("y", comms("65000:1", "large:1:2:3"), lpref(300), toPeers("r3", "r1")),
					bgpAdv("z", lpref(200), toPeers("r2")),
				},
				Services: web(),
			},
			want: []plan.Prefix{withPeers(withLocalPref(withComms(route("198.18.0.1/32", "ns/web"),
				"65000:1", "65000:2", "large:1:2:3", "no-export"), 300), "r1", "r2", "r3")},
		},
		{
			name: "highest localPref wins whatever the order",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("high", lpref(300)), bgpAdv("low", lpref(100))},
				Services:          web(),
			},
			want: []plan.Prefix{withLocalPref(route("198.18.0.1/32", "ns/web"), 300)},
		},
		{
			name: "an advertisement without localPref does not clear another's",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("set", lpref(50)), bgpAdv("unset")},
				Services:          web(),
			},
			want: []plan.Prefix{withLocalPref(route("198.18.0.1/32", "ns/web"), 50)},
		},
		{
			name: "localPref 0 is kept",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("zero", lpref(0))},
				Services:          web(),
			},
			want: []plan.Prefix{withLocalPref(route("198.18.0.1/32", "ns/web"), 0)},
		},
		{
			name: "an advertisement without peers sends the prefix to every peer",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("some", toPeers("r1")), bgpAdv("every")},
				Services:          web(),
			},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/web")},
		},
		{
			name: "an advertisement without peers listed second also means every peer",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("every"), bgpAdv("some", toPeers("r1"))},
				Services:          web(),
			},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/web")},
		},
		{
			name: "an empty, non-nil peers list means every peer",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{
					{ObjectMeta: metav1.ObjectMeta{Name: "empty"}, Spec: ironlbv1.BGPAdvertisementSpec{Peers: []string{}}},
				},
				Services: web(),
			},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/web")},
		},
		{
			name: "aggregated Services with different advertisements combine on the aggregate",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{
					bgpAdv("web", aggLen(24), svcSel("app", "web"), comms("65000:1"), toPeers("r1")),
					bgpAdv("api", aggLen(24), svcSel("app", "api"), comms("65000:2"), lpref(10), toPeers("r2")),
				},
				Services: []corev1.Service{
					svc("ns/web", []string{"198.18.0.1"}, svcLabels("app", "web")),
					svc("ns/api", []string{"198.18.0.2"}, svcLabels("app", "api")),
				},
			},
			want: []plan.Prefix{withPeers(withLocalPref(withComms(route("198.18.0.0/24", "ns/api", "ns/web"),
				"65000:1", "65000:2"), 10), "r1", "r2")},
		},
		{
			name: "a Service selected by two advertisements is listed once",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("x", comms("65000:1")), bgpAdv("y", comms("65000:1"))},
				Services:          web(),
			},
			want: []plan.Prefix{withComms(route("198.18.0.1/32", "ns/web"), "65000:1")},
		},

		// Order.
		{
			name: "output sorted by prefix: numerically, IPv4 before IPv6",
			snap: plan.Snapshot{Services: []corev1.Service{
				svc("ns/s1", []string{"2001:db8::10"}),
				svc("ns/s2", []string{"198.18.0.10"}),
				svc("ns/s3", []string{"2001:db8::9"}),
				svc("ns/s4", []string{"198.18.0.100"}),
				svc("ns/s5", []string{"198.18.0.9"}),
			}},
			want: []plan.Prefix{
				route("198.18.0.9/32", "ns/s5"),
				route("198.18.0.10/32", "ns/s2"),
				route("198.18.0.100/32", "ns/s4"),
				route("2001:db8::9/128", "ns/s3"),
				route("2001:db8::10/128", "ns/s1"),
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := plan.Prefixes(withBGPDefaults(c.snap))
			wantPrefixes(t, got, c.want)
		})
	}
}

// Every speaker lists the objects in its own order; all must reach the same routes.
func TestDecideBGPIgnoresOrder(t *testing.T) {
	snap := withBGPDefaults(plan.Snapshot{
		Nodes: []corev1.Node{node("a", nodeLabels("rack", "r1")), node("b", nodeLabels("rack", "r2"))},
		Pools: []ironlbv1.IPAddressPool{
			pool("main", lbl("tier", "front"), "198.18.0.0/24", "2001:db8::/120"),
			pool("aa-overlap", nil, "198.18.0.0/28"),
			pool("extra", lbl("tier", "back"), "198.18.1.0/24"),
		},
		BGPAdvertisements: []ironlbv1.BGPAdvertisement{
			bgpAdv("all", comms("65000:1"), toPeers("r1")),
			bgpAdv("agg", pools("main"), aggLen(26), aggLenV6(124), comms("large:1:2:3", "65000:1"), lpref(100), toPeers("r2")),
			bgpAdv("back", poolSel("tier", "back"), lpref(300)),
			bgpAdv("web", svcSel("app", "web"), comms("no-export"), toPeers("r3", "r1")),
			bgpAdv("r2only", nodeSel("rack", "r2"), lpref(900)),
		},
	})
	snap.EndpointSlices = nil
	for i := range 40 {
		key := fmt.Sprintf("ns%d/svc%d", i%3, i)
		ips := []string{fmt.Sprintf("198.18.%d.%d", i%2, i*5%250+1)}
		if i%4 == 0 {
			ips = append(ips, fmt.Sprintf("2001:db8::%x", i+1))
		}
		opts := []svcOpt{svcLabels("app", []string{"web", "api"}[i%2])}
		if i%5 == 0 {
			opts = append(opts, local())
		}
		if i%7 == 0 {
			opts = append(opts, fromPool("aa-overlap"))
		}
		snap.Services = append(snap.Services, svc(key, ips, opts...))
		if i%3 != 0 {
			snap.EndpointSlices = append(snap.EndpointSlices, slice(key, ep([]string{"a", "b"}[i%2], yes, yes)))
		}
	}
	want := plan.Prefixes(snap)
	if len(want) < 5 {
		t.Fatalf("the snapshot gives only %d prefixes; it is meant to exercise more:%s", len(want), describePrefixes(want))
	}
	for i := 1; i < len(want); i++ {
		if want[i-1].Prefix.Addr().Compare(want[i].Prefix.Addr()) > 0 {
			t.Fatalf("output not sorted:%s", describePrefixes(want))
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for run := range 50 {
		s := snap
		s.Services = shuffled(r, snap.Services)
		s.EndpointSlices = shuffled(r, snap.EndpointSlices)
		s.Nodes = shuffled(r, snap.Nodes)
		s.Pools = shuffled(r, snap.Pools)
		s.BGPAdvertisements = shuffled(r, snap.BGPAdvertisements)
		got := plan.Prefixes(s)
		ok := len(got) == len(want)
		for i := 0; ok && i < len(got); i++ {
			ok = samePrefix(got[i], want[i])
		}
		if !ok {
			t.Fatalf("run %d: a shuffled snapshot gives%s\nwant:%s", run, describePrefixes(got), describePrefixes(want))
		}
	}
}
