package plan_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/speaker/plan"
)

// TestExcludeCordonedNodesPerAddress checks that excludeCordonedNodes acts on the addresses
// its own advertisement covers: with node a cordoned, the web pool (flagged) leaves a in
// both modes, and the db pool (not flagged) keeps it; the cordoned node's BGP sessions
// stay configured either way.
func TestExcludeCordonedNodesPerAddress(t *testing.T) {
	services := []corev1.Service{svc("ns/db", []string{"198.18.0.200"}), svc("ns/web", []string{"198.18.0.10"})}
	opts := [][]advOpt{{pools("p-web"), excludeCordoned}, {pools("p-db")}}
	router := ironlbv1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "router"},
		Spec: ironlbv1.BGPPeerSpec{MyASN: 64512, PeerASN: 64513, PeerAddress: "198.18.10.1"}}
	snap := plan.Snapshot{Node: "a", Services: services,
		Pools:    []ironlbv1.IPAddressPool{pool("p-web", nil, "198.18.0.0/25"), pool("p-db", nil, "198.18.0.128/25")},
		Nodes:    []corev1.Node{node("a", cordoned), node("b"), node("c")},
		BGPPeers: []ironlbv1.BGPPeer{router}}
	for i, o := range opts {
		name := []string{"web", "db"}[i]
		snap.L2Advertisements = append(snap.L2Advertisements, l2(name, o...))
		snap.BGPAdvertisements = append(snap.BGPAdvertisements, bgpAdv(name, o...))
	}

	got := plan.Announcements(withDefaults(snap))
	want := []plan.Announcement{
		ann("198.18.0.10", owner("198.18.0.10", []string{"b", "c"}), "ns/web"),
		ann("198.18.0.200", owner("198.18.0.200", []string{"a", "b", "c"}), "ns/db"),
	}
	if len(got) != len(want) || !matches(got[0], want[0]) || !matches(got[1], want[1]) {
		t.Errorf("layer 2: Announcements:%s\nwant:%s", describe(got), describe(want))
	}

	bgpPlan := plan.BGP(withBGPDefaults(snap))
	wantBGP := []plan.Prefix{route("198.18.0.200/32", "ns/db")}
	if p := plan.Prefixes(withBGPDefaults(snap)); len(p) != 1 || !samePrefix(p[0], wantBGP[0]) {
		t.Errorf("BGP: Prefixes:%s\nwant:%s", describePrefixes(p), describePrefixes(wantBGP))
	}
	if n := len(bgpPlan.Config.Peers); n != 1 {
		t.Errorf("cordoned node has %d BGP sessions, want 1: cordoning withdraws routes, not sessions", n)
	}
}

// TestExcludeCordonedNodesReason checks the reason an address has no node when the only
// live node is cordoned, and that uncordoning brings it back.
func TestExcludeCordonedNodesReason(t *testing.T) {
	snap := plan.Snapshot{
		Services:         []corev1.Service{svc("ns/web", []string{"198.18.0.1"})},
		Nodes:            []corev1.Node{node("a", cordoned), node("b")},
		Alive:            alive("a"),
		L2Advertisements: []ironlbv1.L2Advertisement{l2("drain", excludeCordoned)},
	}
	got := plan.Announcements(withDefaults(snap))
	want := withReason(ann("198.18.0.1", "", "ns/web"), "no eligible node: 1 node(s) is cordoned")
	if len(got) != 1 || !matches(got[0], want) {
		t.Errorf("cordoned: Announcements:%s\nwant:%s", describe(got), describe([]plan.Announcement{want}))
	}

	snap.Nodes = []corev1.Node{node("a"), node("b")}
	got = plan.Announcements(withDefaults(snap))
	want = ann("198.18.0.1", "a", "ns/web")
	if len(got) != 1 || !matches(got[0], want) {
		t.Errorf("uncordoned: Announcements:%s\nwant:%s", describe(got), describe([]plan.Announcement{want}))
	}
}
