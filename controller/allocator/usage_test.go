package allocator

import (
	"fmt"
	"math/big"
	"testing"

	"github.com/ironlb/ironlb/internal/ipset"
)

func checkUsage(t *testing.T, a *Allocator, p string, f ipset.Family, total string, assigned int64, available string) {
	t.Helper()
	u, ok := a.Usage(p)[f]
	if !ok {
		t.Fatalf("Usage(%s) has no %s entry", p, f)
	}
	if u.Total.String() != total || u.Assigned != assigned || u.Available.String() != available {
		t.Errorf("Usage(%s)[%s] = total %v, assigned %d, available %v; want %s, %d, %s",
			p, f, u.Total, u.Assigned, u.Available, total, assigned, available)
	}
}

func TestUsageIPv4(t *testing.T) {
	p := pool("p", "10.0.0.0/24")
	p.Reserved = ipset.MustParse("10.0.0.0/30", "10.0.0.255/32") // 5 reserved, 2 of them buggy
	p.AvoidBuggyIPs = true
	a := newWith(p)
	// 256 addresses; automatic may use 10.0.0.4-10.0.0.254 = 251.
	checkUsage(t, a, "p", ipset.IPv4, "256", 0, "251")
	if _, ok := a.Usage("p")[ipset.IPv6]; ok {
		t.Error("IPv4-only pool reports IPv6 usage")
	}

	for i := range 3 {
		mustAssign(t, a, svc(fmt.Sprintf("ns/%d", i)))
	}
	checkUsage(t, a, "p", ipset.IPv4, "256", 3, "248")

	// Explicit requests for a reserved and a buggy address count as
	// assigned but do not change what automatic assignment has left.
	r := svc("ns/reserved")
	r.IPs = ips("10.0.0.1")
	mustAssign(t, a, r)
	r = svc("ns/buggy")
	r.IPs = ips("10.0.0.0")
	mustAssign(t, a, r)
	checkUsage(t, a, "p", ipset.IPv4, "256", 5, "248")

	// Turning avoidBuggyIPs off changes nothing here, because both buggy
	// addresses are reserved: 256 - 5 reserved = 251, minus the 3 automatic
	// holders (the other two holders are on reserved addresses) = 248.
	p.AvoidBuggyIPs = false
	a.SetPool(p)
	checkUsage(t, a, "p", ipset.IPv4, "256", 5, "248")
	p.Reserved = ipset.Set{}
	a.SetPool(p)
	checkUsage(t, a, "p", ipset.IPv4, "256", 5, "251")

	a.Release("ns/0")
	checkUsage(t, a, "p", ipset.IPv4, "256", 4, "252")

	// A holder left outside by a shrink no longer counts.
	p.Addresses = ipset.MustParse("10.0.0.128/25")
	a.SetPool(p)
	checkUsage(t, a, "p", ipset.IPv4, "128", 0, "128")

	if u := a.Usage("nope"); u != nil {
		t.Errorf("Usage of an unknown pool = %v, want nil", u)
	}
}

func TestUsageIPv6(t *testing.T) {
	p := pool("p", "2001:db8::/64")
	p.Reserved = ipset.MustParse("2001:db8::/120") // 256
	p.AvoidBuggyIPs = true                         // no effect on IPv6
	a := newWith(p)
	two64 := new(big.Int).Lsh(big.NewInt(1), 64)
	total := two64.String()
	avail := new(big.Int).Sub(two64, big.NewInt(256))
	checkUsage(t, a, "p", ipset.IPv6, total, 0, avail.String())

	v6 := stack("ns/x", SingleStack, ipset.IPv6)
	checkAssignment(t, mustAssign(t, a, v6), []string{"2001:db8::100"}, nil)
	checkUsage(t, a, "p", ipset.IPv6, total, 1, avail.Sub(avail, big.NewInt(1)).String())

	// Usage returns copies: changing them does not change the pool.
	u := a.Usage("p")[ipset.IPv6]
	u.Total.SetInt64(0)
	u.Available.SetInt64(0)
	checkUsage(t, a, "p", ipset.IPv6, total, 1, avail.String())
}

// TestUsageOverlappingPools: an IP held inside two pools (one in conflict)
// counts as assigned in both, but only the attributed pool has it as holder.
func TestUsageOverlappingPools(t *testing.T) {
	late := pool("late", "10.0.0.0/30")
	late.Conflict = true
	a := newWith(pool("a", "10.0.0.0/24"), late)
	mustAssign(t, a, svc("ns/x"))
	checkUsage(t, a, "a", ipset.IPv4, "256", 1, "255")
	checkUsage(t, a, "late", ipset.IPv4, "4", 1, "3")
	if a.Holders("a") != 1 || a.Holders("late") != 0 {
		t.Errorf("Holders = %d, %d; want 1, 0", a.Holders("a"), a.Holders("late"))
	}
}
