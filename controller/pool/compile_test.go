package pool

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
)

// TestCompileFindsPrefixAnycast: the subnet-router anycast address of a pool entry is the
// first address of an IPv6 prefix longer than /64 (a /64's own is already skipped by rule)
// and shorter than /127 (RFC 6164: /127 and /128 have none, Linux joins none). Ranges and
// IPv4 have none.
func TestCompileFindsPrefixAnycast(t *testing.T) {
	p := &ironlbv1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: ironlbv1.IPAddressPoolSpec{
		Addresses: []ironlbv1.AddressRange{
			"2001:db8:102::/124", " 2001:db8:102:0:1::100/120 ", "2001:db8:103::/64", "2001:db8:104::/127",
			"2001:db8:104::8/128", "2001:db8:105::10-2001:db8:105::20", "198.18.0.0/28",
		},
		AvoidBuggyIPs: true,
	}}
	got, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := "2001:db8:102::/128, 2001:db8:102:0:1::100/128"; got.Anycast.String() != want {
		t.Errorf("anycast %s, want %s", got.Anycast, want)
	}
}
