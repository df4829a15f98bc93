package plan_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/speaker/plan"
)

// bgpAnnotations sets the Service's BGP attribute annotations ("" leaves one out).
func bgpAnnotations(communities, localPref string) svcOpt {
	return func(s *corev1.Service) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		if communities != "" {
			s.Annotations[ironlbv1.AnnotationBGPCommunities] = communities
		}
		if localPref != "" {
			s.Annotations[ironlbv1.AnnotationBGPLocalPref] = localPref
		}
	}
}

// The merge rule of a Service's ironlb.io/bgp-communities and ironlb.io/bgp-local-pref
// with its advertisements' attributes, and between Services that share a prefix.
func TestPrefixesServiceAttributes(t *testing.T) {
	base := []ironlbv1.BGPAdvertisement{
		bgpAdv("a", comms("64512:100"), lpref(150)),
		bgpAdv("b", comms("64512:200"), lpref(250)),
	}
	cases := []struct {
		name string
		snap plan.Snapshot
		want []plan.Prefix
	}{
		{
			name: "communities added to the advertisements', localPref replaces the highest of theirs",
			snap: plan.Snapshot{BGPAdvertisements: base, Services: []corev1.Service{
				svc("ns/web", []string{"198.18.0.1", "2001:db8::1"}, bgpAnnotations("65000:100,no-export", "400")),
			}},
			want: []plan.Prefix{
				withLocalPref(withComms(route("198.18.0.1/32", "ns/web"), "64512:100", "64512:200", "65000:100", "no-export"), 400),
				withLocalPref(withComms(route("2001:db8::1/128", "ns/web"), "64512:100", "64512:200", "65000:100", "no-export"), 400),
			},
		},
		{
			name: "a lower localPref replaces too: it is the Service's, not a candidate for the highest",
			snap: plan.Snapshot{BGPAdvertisements: base, Services: []corev1.Service{
				svc("ns/web", []string{"198.18.0.1"}, bgpAnnotations("", "50")),
			}},
			want: []plan.Prefix{withLocalPref(withComms(route("198.18.0.1/32", "ns/web"), "64512:100", "64512:200"), 50)},
		},
		{
			name: "communities alone keep the advertisements' localPref",
			snap: plan.Snapshot{BGPAdvertisements: base, Services: []corev1.Service{
				svc("ns/web", []string{"198.18.0.1"}, bgpAnnotations("large:65000:1:2", "")),
			}},
			want: []plan.Prefix{withLocalPref(withComms(route("198.18.0.1/32", "ns/web"), "64512:100", "64512:200", "large:65000:1:2"), 250)},
		},
		{
			name: "a localPref where no advertisement has one",
			snap: plan.Snapshot{Services: []corev1.Service{svc("ns/web", []string{"198.18.0.1"}, bgpAnnotations("", "7"))}},
			want: []plan.Prefix{withLocalPref(route("198.18.0.1/32", "ns/web"), 7)},
		},
		{
			name: "a community the advertisement has, spelled with a leading zero, is there once",
			snap: plan.Snapshot{BGPAdvertisements: base, Services: []corev1.Service{
				svc("ns/web", []string{"198.18.0.1"}, bgpAnnotations("64512:0100", "")),
			}},
			want: []plan.Prefix{withLocalPref(withComms(route("198.18.0.1/32", "ns/web"), "64512:100", "64512:200"), 250)},
		},
		{
			name: "a bad community: the route keeps the advertisements' attributes, the valid localPref beside it is not applied",
			snap: plan.Snapshot{BGPAdvertisements: base, Services: []corev1.Service{
				svc("ns/web", []string{"198.18.0.1"}, bgpAnnotations("65000:100,bogus", "400")),
			}},
			want: []plan.Prefix{withLocalPref(withComms(route("198.18.0.1/32", "ns/web"), "64512:100", "64512:200"), 250)},
		},
		{
			name: "a bad localPref: the route keeps the advertisements' attributes",
			snap: plan.Snapshot{BGPAdvertisements: base, Services: []corev1.Service{
				svc("ns/web", []string{"198.18.0.1"}, bgpAnnotations("65000:100", "-1")),
			}},
			want: []plan.Prefix{withLocalPref(withComms(route("198.18.0.1/32", "ns/web"), "64512:100", "64512:200"), 250)},
		},
		{
			name: "the annotations make no route: a Service no advertisement covers is not advertised",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("api", svcSel("app", "api"))},
				Services:          []corev1.Service{svc("ns/web", []string{"198.18.0.1"}, bgpAnnotations("65000:1", "400"))},
			},
			want: []plan.Prefix{},
		},
		{
			name: "shared address: communities merge and the highest localPref of the Services wins (an unannotated one keeps the advertisements')",
			snap: plan.Snapshot{BGPAdvertisements: base, Services: []corev1.Service{
				svc("ns/low", []string{"198.18.0.1"}, bgpAnnotations("65000:1", "100")),
				svc("ns/plain", []string{"198.18.0.1"}),
			}},
			want: []plan.Prefix{withLocalPref(withComms(route("198.18.0.1/32", "ns/low", "ns/plain"), "64512:100", "64512:200", "65000:1"), 250)},
		},
		{
			name: "shared address, both annotated: the higher localPref, both Services' communities",
			snap: plan.Snapshot{BGPAdvertisements: base, Services: []corev1.Service{
				svc("ns/high", []string{"198.18.0.1"}, bgpAnnotations("65000:2", "400")),
				svc("ns/low", []string{"198.18.0.1"}, bgpAnnotations("65000:1", "100")),
			}},
			want: []plan.Prefix{withLocalPref(withComms(route("198.18.0.1/32", "ns/high", "ns/low"), "64512:100", "64512:200", "65000:1", "65000:2"), 400)},
		},
		{
			name: "aggregate: an annotated Service's attributes go on the aggregate it is in",
			snap: plan.Snapshot{
				BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("agg", aggLen(24), comms("64512:300"))},
				Services: []corev1.Service{
					svc("ns/api", []string{"198.18.0.2"}),
					svc("ns/web", []string{"198.18.0.1"}, bgpAnnotations("no-export", "300")),
				},
			},
			want: []plan.Prefix{withLocalPref(withComms(route("198.18.0.0/24", "ns/api", "ns/web"), "64512:300", "no-export"), 300)},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := plan.Prefixes(withBGPDefaults(c.snap))
			wantPrefixes(t, got, c.want)
		})
	}
}
