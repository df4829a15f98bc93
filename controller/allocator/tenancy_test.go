package allocator

import (
	"testing"

	"github.com/ironlb/ironlb/internal/ipset"
)

// tenantPool is a pool that serves only namespace "team" (by name), Services labelled
// tier=web, or namespaces labelled team=blue, depending on the rule given.
func tenantPool(name, cidr string, sa ServiceAllocation) Pool {
	return withAlloc(pool(name, cidr), sa)
}

// TestPoolNotAllowed: a pool whose serviceAllocation names namespaces or selectors serves
// only the Services it selects, also when a Service names the pool or one of its
// addresses; the others get PoolNotAllowed, with a message naming the pool and the rule.
func TestPoolNotAllowed(t *testing.T) {
	byName := tenantPool("team", "10.0.1.0/24", ServiceAllocation{Namespaces: []string{"team"}})
	bySelector := tenantPool("blue", "10.0.2.0/24", ServiceAllocation{NamespaceSelectors: []labelsSelector{sel("team", "blue")}})
	byService := tenantPool("web", "10.0.3.0/24", ServiceAllocation{ServiceSelectors: []labelsSelector{sel("tier", "web")}})
	onlyPriority := tenantPool("first", "10.0.4.0/24", ServiceAllocation{Priority: prio(1)})
	reserved := byName
	reserved.Reserved = ipset.MustParse("10.0.1.10/32")
	inPool := func(r Request, p string) Request { r.Pool = p; return r }
	wantIP := func(r Request, a string) Request { r.IPs = ips(a); return r }

	runScenarios(t, []scenario{
		{name: "named pool, other namespace", pools: []Pool{byName},
			req: inPool(svc("other/x"), "team"), reason: PoolNotAllowed, mentions: []string{`"team"`, "other/x", "namespaces"}},
		{name: "named pool, its namespace", pools: []Pool{byName},
			req: inPool(svc("team/x"), "team"), wantIPs: []string{"10.0.1.0"}, wantPools: []string{"team"}},
		{name: "requested address, other namespace", pools: []Pool{byName},
			req: wantIP(svc("other/x"), "10.0.1.7"), reason: PoolNotAllowed, mentions: []string{`"team"`, "10.0.1.7", "other/x"}},
		{name: "requested address and pool, other namespace", pools: []Pool{byName},
			req: inPool(wantIP(svc("other/x"), "10.0.1.7"), "team"), reason: PoolNotAllowed, mentions: []string{`"team"`}},
		{name: "requested address, its namespace", pools: []Pool{byName},
			req: wantIP(svc("team/x"), "10.0.1.7"), wantIPs: []string{"10.0.1.7"}},
		{name: "reserved address, other namespace", pools: []Pool{reserved},
			req: wantIP(svc("other/x"), "10.0.1.10"), reason: PoolNotAllowed, mentions: []string{`"team"`}},
		{name: "reserved address, its namespace", pools: []Pool{reserved},
			req: wantIP(svc("team/x"), "10.0.1.10"), wantIPs: []string{"10.0.1.10"}},
		{name: "namespace selector refuses", pools: []Pool{bySelector},
			req: inPool(inNS("other/x", map[string]string{"team": "red"}, nil), "blue"), reason: PoolNotAllowed, mentions: []string{`"blue"`, "team=blue"}},
		{name: "namespace selector admits", pools: []Pool{bySelector},
			req: inPool(inNS("other/x", map[string]string{"team": "blue"}, nil), "blue"), wantIPs: []string{"10.0.2.0"}},
		{name: "service selector refuses", pools: []Pool{byService},
			req: wantIP(inNS("ns/x", nil, map[string]string{"tier": "db"}), "10.0.3.3"), reason: PoolNotAllowed, mentions: []string{`"web"`, "tier=web"}},
		{name: "service selector admits", pools: []Pool{byService},
			req: wantIP(inNS("ns/x", nil, map[string]string{"tier": "web"}), "10.0.3.3"), wantIPs: []string{"10.0.3.3"}},
		{name: "a priority alone restricts nothing", pools: []Pool{onlyPriority},
			req: inPool(svc("ns/x"), "first"), wantIPs: []string{"10.0.4.0"}},
		{name: "automatic assignment still says NoMatchingPool", pools: []Pool{byName},
			req: svc("other/x"), reason: NoMatchingPool},
	})
}

// TestTenancyAtAcquisitionOnly: the rule is checked when a Service takes an address, never
// for one it holds, so editing a pool's serviceAllocation moves nobody (design invariant 2).
func TestTenancyAtAcquisitionOnly(t *testing.T) {
	open := pool("p", "10.0.0.0/24")
	a := newWith(open)
	x := svc("other/x")
	x.Pool = "p"
	checkAssignment(t, mustAssign(t, a, x), []string{"10.0.0.0"}, []string{"p"})
	a.SetPool(tenantPool("p", "10.0.0.0/24", ServiceAllocation{Namespaces: []string{"team"}}))
	checkAssignment(t, mustAssign(t, a, x), []string{"10.0.0.0"}, []string{"p"})
	// A newcomer from the same namespace is refused.
	y := svc("other/y")
	y.Pool = "p"
	_, err := a.Assign(y)
	checkErr(t, err, PoolNotAllowed, `"p"`)
	// The holder is retried once the pool lets it in again.
	if w := a.Waiting(); len(w) != 1 || w[0] != "other/y" {
		t.Errorf("waiting = %v, want [other/y]", w)
	}
}

// TestSharingScopedToNamespace: a sharing key only joins Services of one namespace unless
// the pool sets AllowCrossNamespaceSharing, and that too is checked at acquisition only.
func TestSharingScopedToNamespace(t *testing.T) {
	first := sharer("a/web", "k", 80)
	thief := sharer("b/web", "k", 8443)
	neighbour := sharer("a/api", "k", 443)

	a := newWith(pool("p", "10.0.0.0/24"))
	checkAssignment(t, mustAssign(t, a, first), []string{"10.0.0.0"}, nil)
	checkAssignment(t, mustAssign(t, a, thief), []string{"10.0.0.1"}, nil)
	checkAssignment(t, mustAssign(t, a, neighbour), []string{"10.0.0.0"}, nil)
	a.Release(thief.Service)
	explicit := thief
	explicit.IPs = ips("10.0.0.0")
	_, err := a.Assign(explicit)
	checkErr(t, err, SharingConflict, "a/", "b/web", "namespace", "allowCrossNamespaceSharing")

	open := pool("p", "10.0.0.0/24")
	open.AllowCrossNamespaceSharing = true
	a.SetPool(open)
	checkAssignment(t, mustAssign(t, a, thief), []string{"10.0.0.0"}, nil)
	checkAssignment(t, mustAssign(t, a, explicit), []string{"10.0.0.0"}, nil)

	// Turning it off again keeps the shared address where it is, even across a restart
	// (Claim), but no one else from another namespace joins.
	a.SetPool(pool("p", "10.0.0.0/24"))
	checkAssignment(t, mustAssign(t, a, explicit), []string{"10.0.0.0"}, nil)
	b := newWith(pool("p", "10.0.0.0/24"))
	for _, r := range []Request{first, explicit} {
		if err := b.Claim(r, ips("10.0.0.0"), "p"); err != nil {
			t.Fatalf("claim %s: %v", r.Service, err)
		}
	}
	late := sharer("c/web", "k", 8080)
	checkAssignment(t, mustAssign(t, b, late), []string{"10.0.0.1"}, nil)
}
