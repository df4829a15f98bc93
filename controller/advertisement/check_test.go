package advertisement

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
)

func testPool(name string, labels map[string]string, addrs ...string) ironlbv1.IPAddressPool {
	p := ironlbv1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	for _, a := range addrs {
		p.Spec.Addresses = append(p.Spec.Addresses, ironlbv1.AddressRange(a))
	}
	return p
}

func testPeer(name string) ironlbv1.BGPPeer {
	return ironlbv1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func length(n int32) *int32 { return &n }

func TestCheck(t *testing.T) {
	pools := []ironlbv1.IPAddressPool{
		testPool("v4", map[string]string{"tier": "web"}, "198.18.0.0/24"),
		testPool("v6", nil, "2001:db8::/64"),
		testPool("range", nil, "198.18.1.10-198.18.1.20"),
		testPool("broken", nil, "not-an-address"),
	}
	peers := []ironlbv1.BGPPeer{testPeer("r1"), testPeer("r2")}
	cases := []struct {
		name   string
		sel    ironlbv1.PoolSelection
		bgp    *ironlbv1.BGPAdvertisementSpec
		pools  []ironlbv1.IPAddressPool
		reason string
		// message must contain every one of these.
		message []string
	}{
		{name: "layer 2, every pool", reason: ReasonReady, message: []string{"v4", "v6", "range"}},
		{name: "named pool exists", sel: ironlbv1.PoolSelection{IPAddressPools: []string{"v4"}}, reason: ReasonReady, message: []string{"pool(s) v4"}},
		{name: "named pools missing, listed sorted", sel: ironlbv1.PoolSelection{IPAddressPools: []string{"v4", "zeta", "alpha"}},
			reason: ReasonPoolNotFound, message: []string{"spec.ipAddressPools", "alpha, zeta"}},
		{name: "selector matching nothing", sel: ironlbv1.PoolSelection{IPAddressPoolSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"tier": "db"}}}},
			reason: ReasonNoPoolSelected, message: []string{"no IPAddressPool matches"}},
		{name: "selector matching one pool", sel: ironlbv1.PoolSelection{IPAddressPoolSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"tier": "web"}}}},
			reason: ReasonReady, message: []string{"pool(s) v4"}},
		{name: "no pools at all", pools: []ironlbv1.IPAddressPool{}, reason: ReasonNoPoolSelected},
		{name: "bgp peers exist", bgp: &ironlbv1.BGPAdvertisementSpec{Peers: []string{"r1", "r2"}}, reason: ReasonReady},
		{name: "bgp peer missing", bgp: &ironlbv1.BGPAdvertisementSpec{Peers: []string{"r1", "r9"}},
			reason: ReasonPeerNotFound, message: []string{"spec.peers", "r9"}},
		{name: "missing pool is reported before missing peer", sel: ironlbv1.PoolSelection{IPAddressPools: []string{"gone"}},
			bgp: &ironlbv1.BGPAdvertisementSpec{Peers: []string{"r9"}}, reason: ReasonPoolNotFound},
		{name: "aggregate equal to the pool", sel: ironlbv1.PoolSelection{IPAddressPools: []string{"v4"}},
			bgp: &ironlbv1.BGPAdvertisementSpec{AggregationLength: length(24)}, reason: ReasonReady},
		{name: "aggregate inside the pool", sel: ironlbv1.PoolSelection{IPAddressPools: []string{"v4"}},
			bgp: &ironlbv1.BGPAdvertisementSpec{AggregationLength: length(26)}, reason: ReasonReady},
		{name: "aggregate beyond the pool", sel: ironlbv1.PoolSelection{IPAddressPools: []string{"v4"}},
			bgp: &ironlbv1.BGPAdvertisementSpec{AggregationLength: length(16)}, reason: ReasonAggregationBeyondPool,
			message: []string{"spec.aggregationLength 16", "pool v4", "198.18.0.0/24", "IPv4"}},
		{name: "length 0 would be a default route", sel: ironlbv1.PoolSelection{IPAddressPools: []string{"v4"}},
			bgp: &ironlbv1.BGPAdvertisementSpec{AggregationLength: length(0)}, reason: ReasonAggregationBeyondPool},
		{name: "a range pool is not whole /28 blocks", sel: ironlbv1.PoolSelection{IPAddressPools: []string{"range"}},
			bgp: &ironlbv1.BGPAdvertisementSpec{AggregationLength: length(28)}, reason: ReasonAggregationBeyondPool, message: []string{"pool range"}},
		{name: "a range pool with host routes", sel: ironlbv1.PoolSelection{IPAddressPools: []string{"range"}},
			bgp: &ironlbv1.BGPAdvertisementSpec{AggregationLength: length(32)}, reason: ReasonReady},
		{name: "IPv4 length does not apply to an IPv6 pool", sel: ironlbv1.PoolSelection{IPAddressPools: []string{"v6"}},
			bgp: &ironlbv1.BGPAdvertisementSpec{AggregationLength: length(8)}, reason: ReasonReady},
		{name: "IPv6 aggregate beyond the pool", sel: ironlbv1.PoolSelection{IPAddressPools: []string{"v6"}},
			bgp: &ironlbv1.BGPAdvertisementSpec{AggregationLengthV6: length(48)}, reason: ReasonAggregationBeyondPool,
			message: []string{"spec.aggregationLengthV6 48", "IPv6"}},
		{name: "IPv6 aggregate equal to the pool", sel: ironlbv1.PoolSelection{IPAddressPools: []string{"v6"}},
			bgp: &ironlbv1.BGPAdvertisementSpec{AggregationLengthV6: length(64)}, reason: ReasonReady},
		{name: "a pool with invalid addresses is left to its own condition", sel: ironlbv1.PoolSelection{IPAddressPools: []string{"broken"}},
			bgp: &ironlbv1.BGPAdvertisementSpec{AggregationLength: length(8)}, reason: ReasonReady},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := pools
			if c.pools != nil {
				in = c.pools
			}
			got := Check(c.sel, c.bgp, in, peers)
			wantStatus := metav1.ConditionFalse
			if c.reason == ReasonReady {
				wantStatus = metav1.ConditionTrue
			}
			if got.Type != ironlbv1.ConditionReady || got.Status != wantStatus || got.Reason != c.reason {
				t.Fatalf("got %s=%s reason %s (%q), want %s reason %s", got.Type, got.Status, got.Reason, got.Message, wantStatus, c.reason)
			}
			for _, m := range c.message {
				if !strings.Contains(got.Message, m) {
					t.Errorf("message %q lacks %q", got.Message, m)
				}
			}
		})
	}
}
