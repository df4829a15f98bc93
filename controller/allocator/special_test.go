package allocator

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/ironlb/ironlb/internal/ipset"
)

// TestNeverTheUnspecifiedAddress: a pool spanning 0.0.0.0/0 or ::/0 never hands out the
// unspecified address, avoidBuggyIPs or not: no client can reach it.
func TestNeverTheUnspecifiedAddress(t *testing.T) {
	for _, tc := range []struct {
		cidr, want string
		f          ipset.Family
	}{{"0.0.0.0/0", "0.0.0.1", ipset.IPv4}, {"::/0", "::1", ipset.IPv6}} {
		a := newWith(pool("all", tc.cidr))
		req := svc("ns/a")
		req.Families = []ipset.Family{tc.f}
		asg, err := a.Assign(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := asg.IPs[0].String(); got != tc.want {
			t.Errorf("pool %s handed out %s first, want %s", tc.cidr, got, tc.want)
		}
	}
}

// TestAvoidBuggySkipsSubnetRouterAnycast: with avoidBuggyIPs, the first address of each
// IPv6 /64 (the subnet-router anycast address, RFC 4291 2.6.1) is skipped, and usage
// counts say so.
func TestAvoidBuggySkipsSubnetRouterAnycast(t *testing.T) {
	p := pool("v6", "2001:db8:1::/63")
	p.AvoidBuggyIPs = true
	a := newWith(p)
	req := svc("ns/a")
	req.Families = []ipset.Family{ipset.IPv6}
	asg, err := a.Assign(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := asg.IPs[0].String(); got != "2001:db8:1::1" {
		t.Errorf("first address %s, want 2001:db8:1::1", got)
	}
	// Two /64s: 2^65 addresses, two of them skipped, one held.
	u := a.Usage("v6")[ipset.IPv6]
	want := "36893488147419103229" // 2^65 - 2 - 1
	if u.Available.String() != want {
		t.Errorf("available %s, want %s", u.Available, want)
	}
	// The anycast address of the second /64 is never handed out either.
	small := pool("edge", "2001:db8:2:0:ffff:ffff:ffff:ffff-2001:db8:2:1::1")
	small.AvoidBuggyIPs = true
	b := newWith(small)
	var got []string
	for i := range 3 {
		r := svc("ns/" + string(rune('a'+i)))
		r.Families = []ipset.Family{ipset.IPv6}
		asg, err := b.Assign(r)
		var aerr *Error
		if errors.As(err, &aerr) {
			got = append(got, string(aerr.Reason))
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		got = append(got, asg.IPs[0].String())
	}
	if want := []string{"2001:db8:2:0:ffff:ffff:ffff:ffff", "2001:db8:2:1::1", string(PoolExhausted)}; !equalStrings(got, want) {
		t.Errorf("handed out %v, want %v", got, want)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestAvoidBuggySkipsSmallPrefixAnycast: a pool written as an IPv6 prefix longer than /64
// has a subnet-router anycast address of its own, the prefix's first address, which Linux
// answers as anycast once the prefix is on a link (seen live: 2001:db8:102::/124 handed out
// 2001:db8:102::, unreachable from a Linux client). With avoidBuggyIPs it is skipped, and
// counted as not available; without it, it is handed out as before.
func TestAvoidBuggySkipsSmallPrefixAnycast(t *testing.T) {
	for _, tc := range []struct {
		name      string
		avoid     bool
		wantFirst string
		wantAvail string
	}{
		{"avoidBuggyIPs", true, "2001:db8:102::11", "14"},
		{"without avoidBuggyIPs", false, "2001:db8:102::10", "15"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pool("v6", "2001:db8:102::10/124")
			p.Anycast = ipset.MustParse("2001:db8:102::10/128")
			p.AvoidBuggyIPs = tc.avoid
			a := newWith(p)
			req := svc("ns/a")
			req.Families = []ipset.Family{ipset.IPv6}
			asg, err := a.Assign(req)
			if err != nil {
				t.Fatal(err)
			}
			if got := asg.IPs[0].String(); got != tc.wantFirst {
				t.Errorf("first address %s, want %s", got, tc.wantFirst)
			}
			if got := a.Usage("v6")[ipset.IPv6].Available.String(); got != tc.wantAvail {
				t.Errorf("available %s, want %s", got, tc.wantAvail)
			}
		})
	}
	// The anycast address can still be asked for by address.
	p := pool("v6", "2001:db8:102::/124")
	p.Anycast = ipset.MustParse("2001:db8:102::/128")
	p.AvoidBuggyIPs = true
	a := newWith(p)
	req := svc("ns/b")
	req.Families = []ipset.Family{ipset.IPv6}
	req.IPs = []netip.Addr{netip.MustParseAddr("2001:db8:102::")}
	if asg, err := a.Assign(req); err != nil || asg.IPs[0].String() != "2001:db8:102::" {
		t.Errorf("asking for the anycast address: got %v, %v", asg.IPs, err)
	}
}
