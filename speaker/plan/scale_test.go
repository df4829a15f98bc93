package plan_test

import (
	"fmt"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/speaker/plan"
)

// burstSnapshot is the lab's burst benchmark as the plan sees it: n single-stack Services
// with one address each from one /16 pool, three nodes alive, one L2 and one BGP
// advertisement selecting everything, and no EndpointSlices.
func burstSnapshot(n int) plan.Snapshot {
	s := plan.Snapshot{Node: "a", Nodes: nodes("a", "b", "c"), Alive: alive("a", "b", "c"),
		Pools:             []ironlbv1.IPAddressPool{pool("main", nil, "198.18.0.0/16")},
		L2Advertisements:  []ironlbv1.L2Advertisement{l2("all")},
		BGPAdvertisements: []ironlbv1.BGPAdvertisement{bgpAdv("all")},
	}
	base := netip.MustParseAddr("198.18.1.0").As4()
	for i := range n {
		ip := netip.AddrFrom4([4]byte{base[0], base[1], base[2] + byte(i/250), byte(1 + i%250)})
		sv := svc(fmt.Sprintf("bench/svc-%04d", i), []string{ip.String()}, fromPool("main"))
		sv.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80}}
		s.Services = append(s.Services, sv)
	}
	return s
}

func BenchmarkL2Burst3000(b *testing.B) {
	s := burstSnapshot(3000)
	b.ReportAllocs()
	for b.Loop() {
		_ = plan.L2(s)
	}
}

func BenchmarkBGPBurst3000(b *testing.B) {
	s := burstSnapshot(3000)
	b.ReportAllocs()
	for b.Loop() {
		_ = plan.BGP(s)
	}
}
