package plan_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/speaker/plan"
)

// weighted sets endpointWeightedECMP on a BGPAdvertisement.
var weighted = bgpOpt(func(s *ironlbv1.BGPAdvertisementSpec) { s.EndpointWeightedECMP = true })

func withEndpoints(p plan.Prefix, n int) plan.Prefix {
	p.Endpoints = n
	return p
}

// eps repeats an endpoint on node n times.
func eps(node string, n int, ready, serving *bool) []discoveryv1.Endpoint {
	out := make([]discoveryv1.Endpoint, n)
	for i := range out {
		out[i] = ep(node, ready, serving)
	}
	return out
}

// slice6 is slice for the Service's IPv6 endpoints: a dual-stack Service has one
// EndpointSlice per family, listing the same pods.
func slice6(key string, eps ...discoveryv1.Endpoint) discoveryv1.EndpointSlice {
	s := slice(key, eps...)
	s.Name += "-v6"
	s.AddressType = discoveryv1.AddressTypeIPv6
	return s
}

func joined(parts ...[]discoveryv1.Endpoint) []discoveryv1.Endpoint {
	var out []discoveryv1.Endpoint
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// The weight endpointWeightedECMP gives a route: this node's ready local endpoints of the
// prefix's Services, only for externalTrafficPolicy Local; node a is this node.
func TestPrefixesEndpointWeights(t *testing.T) {
	threeHereOneThere := []discoveryv1.EndpointSlice{
		slice("ns/web", joined(eps("a", 3, yes, yes), eps("b", 1, yes, yes))...),
		slice6("ns/web", joined(eps("a", 3, yes, yes), eps("b", 1, yes, yes))...),
	}
	cases := []struct {
		name string
		snap plan.Snapshot
		want []plan.Prefix
	}{
		{
			name: "three ready endpoints here: weight 3 on both families, each counting its own family's slice",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("w", weighted)},
				Services:          []corev1.Service{svc("ns/web", []string{"198.18.0.1", "2001:db8::1"}, local())},
				EndpointSlices:    threeHereOneThere,
			},
			want: []plan.Prefix{
				withEndpoints(route("198.18.0.1/32", "ns/web"), 3),
				withEndpoints(route("2001:db8::1/128", "ns/web"), 3),
			},
		},
		{
			name: "a family counts only its own slices: 2 IPv4 endpoints, 1 IPv6",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("w", weighted)},
				Services:          []corev1.Service{svc("ns/web", []string{"198.18.0.1", "2001:db8::1"}, local())},
				EndpointSlices:    []discoveryv1.EndpointSlice{slice("ns/web", eps("a", 2, yes, yes)...), slice6("ns/web", eps("a", 1, yes, yes)...)},
			},
			want: []plan.Prefix{
				withEndpoints(route("198.18.0.1/32", "ns/web"), 2),
				withEndpoints(route("2001:db8::1/128", "ns/web"), 1),
			},
		},
		{
			name: "the other node's endpoints do not count",
			snap: plan.Snapshot{
				Node:              "b",
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("w", weighted)},
				Services:          []corev1.Service{svc("ns/web", []string{"198.18.0.1"}, local())},
				EndpointSlices:    threeHereOneThere,
			},
			want: []plan.Prefix{withEndpoints(route("198.18.0.1/32", "ns/web"), 1)},
		},
		{
			name: "without the opt-in: no weight",
			snap: plan.Snapshot{
				Services:       []corev1.Service{svc("ns/web", []string{"198.18.0.1"}, local())},
				EndpointSlices: threeHereOneThere,
			},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/web")},
		},
		{
			name: "no ready local endpoint: withdrawn as without the opt-in",
			snap: plan.Snapshot{
				Node:              "c",
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("w", weighted)},
				Services:          []corev1.Service{svc("ns/web", []string{"198.18.0.1"}, local())},
				EndpointSlices:    threeHereOneThere,
			},
			want: []plan.Prefix{},
		},
		{
			name: "externalTrafficPolicy Cluster: advertised, without weight",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("w", weighted)},
				Services:          []corev1.Service{svc("ns/web", []string{"198.18.0.1"})},
				EndpointSlices:    threeHereOneThere,
			},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/web")},
		},
		{
			name: "not ready and not serving endpoints do not count",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("w", weighted)},
				Services:          []corev1.Service{svc("ns/web", []string{"198.18.0.1"}, local())},
				EndpointSlices:    []discoveryv1.EndpointSlice{slice("ns/web", joined(eps("a", 1, yes, yes), eps("a", 2, no, no))...)},
			},
			want: []plan.Prefix{withEndpoints(route("198.18.0.1/32", "ns/web"), 1)},
		},
		{
			name: "terminating endpoints do not count while a ready one is there (kube-proxy skips them)",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("w", weighted)},
				Services:          []corev1.Service{svc("ns/web", []string{"198.18.0.1"}, local())},
				EndpointSlices:    []discoveryv1.EndpointSlice{slice("ns/web", joined(eps("a", 2, yes, yes), eps("a", 3, no, yes))...)},
			},
			want: []plan.Prefix{withEndpoints(route("198.18.0.1/32", "ns/web"), 2)},
		},
		{
			name: "only terminating serving endpoints: they count (kube-proxy falls back to them)",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("w", weighted)},
				Services:          []corev1.Service{svc("ns/web", []string{"198.18.0.1"}, local())},
				EndpointSlices:    []discoveryv1.EndpointSlice{slice("ns/web", eps("a", 2, no, yes)...)},
			},
			want: []plan.Prefix{withEndpoints(route("198.18.0.1/32", "ns/web"), 2)},
		},
		{
			name: "endpoints of several slices add up",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("w", weighted)},
				Services:          []corev1.Service{svc("ns/web", []string{"198.18.0.1"}, local())},
				EndpointSlices: []discoveryv1.EndpointSlice{
					slice("ns/web", eps("a", 2, yes, yes)...), slice("ns/web", eps("a", 3, yes, yes)...),
				},
			},
			want: []plan.Prefix{withEndpoints(route("198.18.0.1/32", "ns/web"), 5)},
		},
		{
			name: "a shared address: the Services' endpoints add up",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("w", weighted)},
				Services: []corev1.Service{
					svc("ns/api", []string{"198.18.0.1"}, local()), svc("ns/web", []string{"198.18.0.1"}, local()),
				},
				EndpointSlices: []discoveryv1.EndpointSlice{slice("ns/api", eps("a", 2, yes, yes)...), slice("ns/web", eps("a", 1, yes, yes)...)},
			},
			want: []plan.Prefix{withEndpoints(route("198.18.0.1/32", "ns/api", "ns/web"), 3)},
		},
		{
			name: "a shared address with a Cluster Service: no weight, it would lie about the Cluster traffic",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("w", weighted)},
				Services: []corev1.Service{
					svc("ns/api", []string{"198.18.0.1"}), svc("ns/web", []string{"198.18.0.1"}, local()),
				},
				EndpointSlices: []discoveryv1.EndpointSlice{slice("ns/api", eps("a", 2, yes, yes)...), slice("ns/web", eps("a", 1, yes, yes)...)},
			},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/api", "ns/web")},
		},
		{
			name: "an aggregate: its Services add up, a dual-stack one counted once per family",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("w", weighted, aggLen(24))},
				Services: []corev1.Service{
					svc("ns/api", []string{"198.18.0.1", "198.18.0.2"}, local()), svc("ns/web", []string{"198.18.0.3"}, local()),
				},
				EndpointSlices: []discoveryv1.EndpointSlice{slice("ns/api", eps("a", 2, yes, yes)...), slice("ns/web", eps("a", 4, yes, yes)...)},
			},
			want: []plan.Prefix{withEndpoints(route("198.18.0.0/24", "ns/api", "ns/web"), 6)},
		},
		{
			name: "one of two advertisements of the prefix asks: weighted, with the other's attributes",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("w", weighted), bgpAdv("plain", comms("64512:1"))},
				Services:          []corev1.Service{svc("ns/web", []string{"198.18.0.1"}, local())},
				EndpointSlices:    threeHereOneThere,
			},
			want: []plan.Prefix{withEndpoints(withComms(route("198.18.0.1/32", "ns/web"), "64512:1"), 3)},
		},
		{
			name: "the weighted advertisement does not select this node: no weight from it",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("w", weighted, nodeSel("zone", "x")), bgpAdv("plain")},
				Services:          []corev1.Service{svc("ns/web", []string{"198.18.0.1"}, local())},
				EndpointSlices:    threeHereOneThere,
			},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/web")},
		},
		{
			name: "more endpoints than the bound count as the bound",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("w", weighted)},
				Services:          []corev1.Service{svc("ns/web", []string{"198.18.0.1"}, local())},
				EndpointSlices:    []discoveryv1.EndpointSlice{slice("ns/web", eps("a", 40000, yes, yes)...)},
			},
			want: []plan.Prefix{withEndpoints(route("198.18.0.1/32", "ns/web"), 32768)},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := plan.Prefixes(withBGPDefaults(c.snap))
			wantPrefixes(t, got, c.want)
		})
	}
}

// The largest weight still fits FRR's 32-bit bandwidth in bytes per second, and float32
// holds the unit's multiples exactly as far as the documentation says.
func TestLinkBandwidthUnitFits(t *testing.T) {
	if max := uint64(32768) * ironlbv1.LinkBandwidthPerEndpoint; max > 1<<32-1 {
		t.Errorf("32768 endpoints are %d bytes/s, more than 32 bits", max)
	}
	for n := 1; n <= 1000; n++ {
		v := n * ironlbv1.LinkBandwidthPerEndpoint
		if int(float32(v)) != v {
			t.Fatalf("%d endpoints (%d bytes/s) are not exact in float32", n, v)
		}
	}
}
