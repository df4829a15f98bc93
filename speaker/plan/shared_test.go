package plan_test

import (
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/speaker/plan"
)

// advSpec is an advertisement of either kind: the shared cases build an L2Advertisement
// for the layer-2 decision and a BGPAdvertisement for the BGP one from the same spec.
type advSpec struct {
	name string
	opts []advOpt
}

// served is an address both modes must serve, with the Services using it.
type served struct {
	ip       string
	services []string
}

// The rules both modes share (which Services count, which addresses an advertisement
// covers) are tested once here, against both: layer 2 must announce exactly the wanted
// addresses (each owned by the election winner among the live nodes a, b and c), and BGP
// must advertise exactly their host routes (every Service has a ready endpoint). A case
// that narrows the eligible nodes lists them: the layer-2 owner is elected among them, and
// BGP (on node a) advertises only when a is one of them.
func TestSharedSelection(t *testing.T) {
	abc := []string{"a", "b", "c"}
	cases := []struct {
		name     string
		services []corev1.Service
		nodes    []corev1.Node            // nil: a, b and c
		pools    []ironlbv1.IPAddressPool // nil: the default pool
		advs     []advSpec                // nil: one advertisement selecting everything
		class    string
		eligible []string // nil: a, b and c
		want     []served
	}{
		// Which Services count.
		{
			name: "only type LoadBalancer Services",
			services: []corev1.Service{
				svc("ns/np", []string{"198.18.0.2"}, ofType(corev1.ServiceTypeNodePort)),
				svc("ns/cip", []string{"198.18.0.3"}, ofType(corev1.ServiceTypeClusterIP)),
				svc("ns/ext", []string{"198.18.0.4"}, ofType(corev1.ServiceTypeExternalName)),
				svc("ns/lb", []string{"198.18.0.1"}),
			},
			want: []served{{"198.18.0.1", []string{"ns/lb"}}},
		},
		{
			name: "default class: Services naming a loadBalancerClass belong to someone else",
			services: []corev1.Service{
				svc("ns/theirs", []string{"198.18.0.2"}, class("other.io/lb")),
				svc("ns/ours", []string{"198.18.0.1"}),
			},
			want: []served{{"198.18.0.1", []string{"ns/ours"}}},
		},
		{
			name:  "named class: only Services of that class",
			class: "ironlb.io/l2",
			services: []corev1.Service{
				svc("ns/unclassed", []string{"198.18.0.1"}),
				svc("ns/ours", []string{"198.18.0.2"}, class("ironlb.io/l2")),
				svc("ns/theirs", []string{"198.18.0.3"}, class("other.io/lb")),
			},
			want: []served{{"198.18.0.2", []string{"ns/ours"}}},
		},
		{
			name: "only status ingress IPs count: none, hostname or garbage give nothing",
			services: []corev1.Service{
				svc("ns/pending", nil),
				svc("ns/named", nil, hostnameIngress("lb.example")),
				svc("ns/garbage", []string{"not-an-ip"}),
				svc("ns/ok", []string{"198.18.0.7"}),
			},
			want: []served{{"198.18.0.7", []string{"ns/ok"}}},
		},
		{
			name: "an address in no pool is not served",
			services: []corev1.Service{
				svc("ns/stray", []string{"198.19.0.1"}),
				svc("ns/web", []string{"198.18.0.1"}),
			},
			want: []served{{"198.18.0.1", []string{"ns/web"}}},
		},
		{
			name: "an address its recorded pool no longer contains (the pool shrank) is still served",
			services: []corev1.Service{
				svc("ns/kept", []string{"198.19.0.1", "2001:db8:1::1"}, fromPool("main")),
				svc("ns/web", []string{"198.18.0.1"}),
			},
			want: []served{{"198.18.0.1", []string{"ns/web"}}, {"198.19.0.1", []string{"ns/kept"}}, {"2001:db8:1::1", []string{"ns/kept"}}},
		},
		{
			name: "a kept address whose recorded pool is not advertised is not served",
			services: []corev1.Service{
				svc("ns/kept", []string{"198.19.0.1"}, fromPool("other")),
			},
			pools: []ironlbv1.IPAddressPool{pool("main", nil, "198.18.0.0/24"), pool("other", nil, "198.18.1.0/24")},
			advs:  []advSpec{{"main-only", []advOpt{pools("main")}}},
			want:  nil,
		},
		{
			name: "a kept address whose recorded pool is gone is not served",
			services: []corev1.Service{
				svc("ns/kept", []string{"198.19.0.1"}, fromPool("deleted")),
			},
			want: nil,
		},
		{
			name: "a kept address stays with the recorded pool of its own family",
			services: []corev1.Service{
				svc("ns/kept", []string{"2001:db8:1::1"}, fromPool("v4,v6")),
			},
			pools: []ironlbv1.IPAddressPool{pool("v4", nil, "198.18.0.0/24"), pool("v6", nil, "2001:db8::/120")},
			advs:  []advSpec{{"v4-only", []advOpt{pools("v4")}}},
			want:  nil,
		},
		{
			name:     "no advertisement: nothing is served",
			services: []corev1.Service{svc("ns/web", []string{"198.18.0.1"})},
			advs:     []advSpec{},
			want:     nil,
		},

		// Which addresses an advertisement covers.
		{
			name:     "pool selected by name (a range)",
			services: []corev1.Service{svc("ns/db", []string{"198.18.0.200"}), svc("ns/web", []string{"198.18.0.10"})},
			pools:    []ironlbv1.IPAddressPool{pool("p-web", nil, "198.18.0.0/25"), pool("p-db", nil, "198.18.0.128-198.18.0.255")},
			advs:     []advSpec{{"web", []advOpt{pools("p-web")}}},
			want:     []served{{"198.18.0.10", []string{"ns/web"}}},
		},
		{
			name:     "pool selected by name (CIDRs)",
			services: []corev1.Service{svc("ns/db", []string{"198.18.0.200"}), svc("ns/web", []string{"198.18.0.10"})},
			pools:    []ironlbv1.IPAddressPool{pool("p-web", nil, "198.18.0.0/25"), pool("p-db", nil, "198.18.0.128/25")},
			advs:     []advSpec{{"web", []advOpt{pools("p-web")}}},
			want:     []served{{"198.18.0.10", []string{"ns/web"}}},
		},
		{
			name:     "pool selected by label",
			services: []corev1.Service{svc("ns/db", []string{"198.18.0.200"}), svc("ns/web", []string{"198.18.0.10"})},
			pools:    []ironlbv1.IPAddressPool{pool("p-web", lbl("tier", "web"), "198.18.0.0/25"), pool("p-db", lbl("tier", "db"), "198.18.0.128/25")},
			advs:     []advSpec{{"web", []advOpt{poolSel("tier", "web")}}},
			want:     []served{{"198.18.0.10", []string{"ns/web"}}},
		},
		{
			name:     "pool selected by label, the other pool",
			services: []corev1.Service{svc("ns/db", []string{"198.18.0.200"}), svc("ns/web", []string{"198.18.0.10"})},
			pools:    []ironlbv1.IPAddressPool{pool("p-web", lbl("tier", "web"), "198.18.0.0/25"), pool("p-db", lbl("tier", "db"), "198.18.0.128/25")},
			advs:     []advSpec{{"db", []advOpt{poolSel("tier", "db")}}},
			want:     []served{{"198.18.0.200", []string{"ns/db"}}},
		},
		{
			name:     "an advertisement naming a missing pool selects nothing",
			services: []corev1.Service{svc("ns/web", []string{"198.18.0.10"})},
			advs:     []advSpec{{"gone", []advOpt{pools("gone")}}},
			want:     nil,
		},
		{
			name: "advertisement serviceSelectors",
			services: []corev1.Service{
				svc("ns/api", []string{"198.18.0.2"}, svcLabels("app", "api")),
				svc("ns/bare", []string{"198.18.0.3"}),
				svc("ns/web", []string{"198.18.0.1"}, svcLabels("app", "web")),
			},
			advs: []advSpec{{"web", []advOpt{svcSel("app", "web")}}},
			want: []served{{"198.18.0.1", []string{"ns/web"}}},
		},
		{
			name: "several serviceSelectors select the union",
			services: []corev1.Service{
				svc("ns/api", []string{"198.18.0.2"}, svcLabels("app", "api")),
				svc("ns/bare", []string{"198.18.0.3"}),
				svc("ns/db", []string{"198.18.0.4"}, svcLabels("app", "db")),
				svc("ns/web", []string{"198.18.0.1"}, svcLabels("app", "web")),
			},
			advs: []advSpec{{"web", []advOpt{svcSel("app", "web"), svcSel("app", "api")}}},
			want: []served{{"198.18.0.1", []string{"ns/web"}}, {"198.18.0.2", []string{"ns/api"}}},
		},

		// Which nodes an advertisement excludes (a is cordoned in each case).
		{
			name:     "a cordoned node stays eligible by default",
			services: []corev1.Service{svc("ns/web", []string{"198.18.0.1"})},
			nodes:    []corev1.Node{node("a", cordoned), node("b"), node("c")},
			want:     []served{{"198.18.0.1", []string{"ns/web"}}},
		},
		{
			name:     "excludeCordonedNodes: a cordoned node is not eligible",
			services: []corev1.Service{svc("ns/web", []string{"198.18.0.1"}), svc("ns/v6", []string{"2001:db8::1"})},
			nodes:    []corev1.Node{node("a", cordoned), node("b"), node("c")},
			advs:     []advSpec{{"drain", []advOpt{excludeCordoned}}},
			eligible: []string{"b", "c"},
			want:     []served{{"198.18.0.1", []string{"ns/web"}}, {"2001:db8::1", []string{"ns/v6"}}},
		},
		{
			name:     "excludeCordonedNodes: uncordoned nodes are all eligible",
			services: []corev1.Service{svc("ns/web", []string{"198.18.0.1"})},
			advs:     []advSpec{{"drain", []advOpt{excludeCordoned}}},
			want:     []served{{"198.18.0.1", []string{"ns/web"}}},
		},
		{
			name:     "a cordoned node stays eligible through another advertisement without the flag",
			services: []corev1.Service{svc("ns/web", []string{"198.18.0.1"})},
			nodes:    []corev1.Node{node("a", cordoned), node("b"), node("c")},
			advs:     []advSpec{{"drain", []advOpt{excludeCordoned}}, {"keep", nil}},
			want:     []served{{"198.18.0.1", []string{"ns/web"}}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			snap := plan.Snapshot{Services: c.services, Nodes: c.nodes, Pools: c.pools, Class: c.class}
			if c.advs != nil {
				snap.L2Advertisements = []ironlbv1.L2Advertisement{}
				snap.BGPAdvertisements = []ironlbv1.BGPAdvertisement{}
				for _, a := range c.advs {
					snap.L2Advertisements = append(snap.L2Advertisements, l2(a.name, a.opts...))
					snap.BGPAdvertisements = append(snap.BGPAdvertisements, bgpAdv(a.name, a.opts...))
				}
			}
			eligible := abc
			if c.eligible != nil {
				eligible = c.eligible
			}
			var wantL2 []plan.Announcement
			var wantBGP []plan.Prefix
			for _, w := range c.want {
				ip := netip.MustParseAddr(w.ip)
				wantL2 = append(wantL2, ann(w.ip, owner(w.ip, eligible), w.services...))
				if slices.Contains(eligible, "a") {
					wantBGP = append(wantBGP, route(netip.PrefixFrom(ip, ip.BitLen()).String(), w.services...))
				}
			}

			gotL2 := plan.Announcements(withDefaults(snap))
			ok := len(gotL2) == len(wantL2)
			for i := 0; ok && i < len(gotL2); i++ {
				ok = matches(gotL2[i], wantL2[i])
			}
			if !ok {
				t.Errorf("layer 2: Announcements:%s\nwant:%s", describe(gotL2), describe(wantL2))
			}
			gotBGP := plan.Prefixes(withBGPDefaults(snap))
			ok = len(gotBGP) == len(wantBGP)
			for i := 0; ok && i < len(gotBGP); i++ {
				ok = samePrefix(gotBGP[i], wantBGP[i])
			}
			if !ok {
				t.Errorf("BGP: Prefixes:%s\nwant:%s", describePrefixes(gotBGP), describePrefixes(wantBGP))
			}
		})
	}
}
