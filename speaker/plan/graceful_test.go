package plan_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/speaker/plan"
)

// cordonedAt is when the speaker saw node a cordoned, in the graceful-shutdown tests.
var cordonedAt = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// gracefulPeer is a BGPPeer with gracefulShutdownTime d (0: none).
func gracefulPeer(name string, d time.Duration) ironlbv1.BGPPeer {
	p := ironlbv1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: ironlbv1.BGPPeerSpec{MyASN: 64513, PeerASN: 64512, PeerAddress: "198.18.10.1"}}
	if d > 0 {
		p.Spec.GracefulShutdownTime = &metav1.Duration{Duration: d}
	}
	return p
}

// RFC 8326 on a cordon: node a is cordoned; peer "gs" asks for a 30 s graceful shutdown,
// "gs10" for 10 s, "plain" for none.
func TestPrefixesGracefulShutdown(t *testing.T) {
	peers := []ironlbv1.BGPPeer{gracefulPeer("gs", 30*time.Second), gracefulPeer("gs10", 10*time.Second), gracefulPeer("plain", 0)}
	services := []corev1.Service{svc("ns/web", []string{"198.18.0.1"})}
	drain := bgpAdv("drain", excludeCordoned, comms("64512:7"))
	at := func(d time.Duration) time.Time { return cordonedAt.Add(d) }
	cases := []struct {
		name string
		snap plan.Snapshot
		want []plan.Prefix
	}{
		{
			name: "in the window: sent only to the peers still in theirs, with GRACEFUL_SHUTDOWN beside the advertisement's communities",
			snap: plan.Snapshot{Nodes: []corev1.Node{node("a", cordoned)}, BGPAdvertisements: []ironlbv1.BGPAdvertisement{drain},
				Now: at(5 * time.Second), CordonedSince: cordonedAt},
			want: []plan.Prefix{withPeers(withComms(route("198.18.0.1/32", "ns/web"), "64512:7", "graceful-shutdown"), "gs", "gs10")},
		},
		{
			name: "a shorter window runs out first",
			snap: plan.Snapshot{Nodes: []corev1.Node{node("a", cordoned)}, BGPAdvertisements: []ironlbv1.BGPAdvertisement{drain},
				Now: at(10 * time.Second), CordonedSince: cordonedAt},
			want: []plan.Prefix{withPeers(withComms(route("198.18.0.1/32", "ns/web"), "64512:7", "graceful-shutdown"), "gs")},
		},
		{
			name: "every window run out: withdrawn",
			snap: plan.Snapshot{Nodes: []corev1.Node{node("a", cordoned)}, BGPAdvertisements: []ironlbv1.BGPAdvertisement{drain},
				Now: at(30 * time.Second), CordonedSince: cordonedAt},
			want: []plan.Prefix{},
		},
		{
			name: "the cordon not timed (CordonedSince zero): withdrawn at once",
			snap: plan.Snapshot{Nodes: []corev1.Node{node("a", cordoned)}, BGPAdvertisements: []ironlbv1.BGPAdvertisement{drain},
				Now: at(time.Second)}, // no CordonedSince
			want: []plan.Prefix{},
		},
		{
			name: "not cordoned: the plain route to every peer",
			snap: plan.Snapshot{Nodes: []corev1.Node{node("a")}, BGPAdvertisements: []ironlbv1.BGPAdvertisement{drain},
				Now: at(time.Second), CordonedSince: cordonedAt},
			want: []plan.Prefix{withComms(route("198.18.0.1/32", "ns/web"), "64512:7")},
		},
		{
			name: "the advertisement sends to peers without graceful shutdown only: withdrawn",
			snap: plan.Snapshot{Nodes: []corev1.Node{node("a", cordoned)},
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("drain", excludeCordoned, toPeers("plain", "gs10"))},
				Now:               at(15 * time.Second), CordonedSince: cordonedAt},
			want: []plan.Prefix{},
		},
		{
			name: "the advertisement's peers narrow the graceful ones",
			snap: plan.Snapshot{Nodes: []corev1.Node{node("a", cordoned)},
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("drain", excludeCordoned, toPeers("plain", "gs10"))},
				Now:               at(time.Second), CordonedSince: cordonedAt},
			want: []plan.Prefix{withPeers(withComms(route("198.18.0.1/32", "ns/web"), "graceful-shutdown"), "gs10")},
		},
		{
			name: "another advertisement keeps the cordoned node: the plain route, no GRACEFUL_SHUTDOWN",
			snap: plan.Snapshot{Nodes: []corev1.Node{node("a", cordoned)},
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{drain, bgpAdv("keep")}, Now: at(time.Second), CordonedSince: cordonedAt},
			want: []plan.Prefix{route("198.18.0.1/32", "ns/web")},
		},
		{
			name: "left out by nodeSelectors, not by the cordon: withdrawn at once",
			snap: plan.Snapshot{Nodes: []corev1.Node{node("a", cordoned)},
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("drain", excludeCordoned, nodeSel("zone", "x"))},
				Now:               at(time.Second), CordonedSince: cordonedAt},
			want: []plan.Prefix{},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.snap.Services, c.snap.BGPPeers = services, peers
			got := plan.Prefixes(withBGPDefaults(c.snap))
			wantPrefixes(t, got, c.want)
		})
	}
}

// The plan asks to be made again when a window runs out, the earliest first.
func TestGracefulShutdownEnds(t *testing.T) {
	base := plan.Snapshot{Node: "a", Nodes: []corev1.Node{node("a", cordoned)}, CordonedSince: cordonedAt,
		BGPPeers: []ironlbv1.BGPPeer{gracefulPeer("gs", 30*time.Second), gracefulPeer("gs10", 10*time.Second), gracefulPeer("plain", 0)}}
	for _, c := range []struct {
		name string
		edit func(*plan.Snapshot)
		want time.Time
	}{
		{"both running: the shorter", func(s *plan.Snapshot) { s.Now = cordonedAt.Add(time.Second) }, cordonedAt.Add(10 * time.Second)},
		{"one left", func(s *plan.Snapshot) { s.Now = cordonedAt.Add(10 * time.Second) }, cordonedAt.Add(30 * time.Second)},
		{"all run out", func(s *plan.Snapshot) { s.Now = cordonedAt.Add(30 * time.Second) }, time.Time{}},
		{"not cordoned", func(s *plan.Snapshot) { s.Now = cordonedAt; s.Nodes = []corev1.Node{node("a")} }, time.Time{}},
		{"cordon not timed", func(s *plan.Snapshot) { s.Now = cordonedAt; s.CordonedSince = time.Time{} }, time.Time{}},
	} {
		s := base
		c.edit(&s)
		if got := plan.GracefulShutdownEnds(s); !got.Equal(c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
		if got := plan.BGP(s).Recheck; !got.Equal(c.want) {
			t.Errorf("%s: BGP plan Recheck %v, want %v", c.name, got, c.want)
		}
	}
}

// The speaker times a cordon it sees happen, not one that was there when it started.
func TestCordonClock(t *testing.T) {
	at := func(s int) time.Time { return cordonedAt.Add(time.Duration(s) * time.Second) }
	plain, cordonedA := []corev1.Node{node("a"), node("b", cordoned)}, []corev1.Node{node("b"), node("a", cordoned)}
	for _, c := range []struct {
		name  string
		plans [][]corev1.Node // what successive plans read, one second apart
		want  time.Time       // Since after the last
	}{
		{"seen happen: timed from the plan that saw it", [][]corev1.Node{plain, plain, cordonedA, cordonedA}, at(2)},
		{"cordoned at the first plan: not timed, ever", [][]corev1.Node{cordonedA, cordonedA, cordonedA}, time.Time{}},
		{"cordoned at start, uncordoned, cordoned again: timed", [][]corev1.Node{cordonedA, plain, cordonedA}, at(2)},
		{"uncordoned: zero", [][]corev1.Node{plain, cordonedA, plain}, time.Time{}},
		{"Node object missing meanwhile: still timed", [][]corev1.Node{plain, cordonedA, nil, cordonedA}, at(1)},
		{"Node object missing at first, then cordoned: timed", [][]corev1.Node{nil, plain, cordonedA}, at(2)},
		{"another node cordoned: zero", [][]corev1.Node{plain, plain}, time.Time{}},
	} {
		var clock plan.CordonClock
		for i, nodes := range c.plans {
			clock = clock.Observe(nodes, "a", at(i))
		}
		if got := clock.Since(); !got.Equal(c.want) {
			t.Errorf("%s: Since %v, want %v", c.name, got, c.want)
		}
	}
}
