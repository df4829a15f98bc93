package allocator

import (
	"testing"

	"github.com/ironlb/ironlb/internal/ipset"
)

var (
	v4First = []ipset.Family{ipset.IPv4, ipset.IPv6}
	v6First = []ipset.Family{ipset.IPv6, ipset.IPv4}
)

func stack(key string, policy FamilyPolicy, families ...ipset.Family) Request {
	r := svc(key)
	r.Policy, r.Families = policy, families
	return r
}

func TestFamilies(t *testing.T) {
	dual := pool("dual", "10.0.0.0/24", "2001:db8::/120")
	onlyV4 := pool("v4", "10.0.0.0/24")
	fullV6 := pool("fullv6", "10.0.1.0/24", "2001:db8:1::/128")
	withIP := func(r Request, addrs ...string) Request { r.IPs = ips(addrs...); return r }

	runScenarios(t, []scenario{
		{name: "no families means IPv4", pools: []Pool{dual},
			req: svc("ns/x"), wantIPs: []string{"10.0.0.0"}},
		{name: "single stack IPv6", pools: []Pool{dual},
			req: stack("ns/x", SingleStack, ipset.IPv6), wantIPs: []string{"2001:db8::"}},
		{name: "single stack uses only the first family", pools: []Pool{dual},
			req: stack("ns/x", SingleStack, v6First...), wantIPs: []string{"2001:db8::"}},
		{name: "prefer dual gets both, in families order", pools: []Pool{dual},
			req: stack("ns/x", PreferDualStack, v6First...), wantIPs: []string{"2001:db8::", "10.0.0.0"}, wantPools: []string{"dual", "dual"}},
		{name: "prefer dual across two pools", pools: []Pool{onlyV4, pool("v6", "2001:db8::/120")},
			req: stack("ns/x", PreferDualStack, v4First...), wantIPs: []string{"10.0.0.0", "2001:db8::"}, wantPools: []string{"v4", "v6"}},
		{name: "prefer dual settles for one family", pools: []Pool{onlyV4},
			req: stack("ns/x", PreferDualStack, v6First...), wantIPs: []string{"10.0.0.0"}},
		{name: "prefer dual with no family at all fails with the first family's error", pools: []Pool{pool("other", "2001:db8:9::/128")},
			before: []Request{stack("ns/1", SingleStack, ipset.IPv6)},
			req:    stack("ns/x", PreferDualStack, v4First...), reason: FamilyUnavailable, mentions: []string{"IPv4"}},
		{name: "require dual gets both", pools: []Pool{dual},
			req: stack("ns/x", RequireDualStack, v4First...), wantIPs: []string{"10.0.0.0", "2001:db8::"}},
		{name: "require dual fails without IPv6", pools: []Pool{onlyV4},
			req: stack("ns/x", RequireDualStack, v4First...), reason: FamilyUnavailable, mentions: []string{"IPv6"}},
		{name: "require dual fails when IPv6 is full", pools: []Pool{fullV6},
			before: []Request{stack("ns/1", SingleStack, ipset.IPv6)},
			req:    stack("ns/x", RequireDualStack, v4First...), reason: PoolExhausted, mentions: []string{"IPv6"}},
		{name: "requested IP for one family, the other automatic", pools: []Pool{dual},
			req: withIP(stack("ns/x", RequireDualStack, v4First...), "10.0.0.9"), wantIPs: []string{"10.0.0.9", "2001:db8::"}},
		{name: "requested IPs for both families", pools: []Pool{dual},
			req: withIP(stack("ns/x", RequireDualStack, v4First...), "2001:db8::7", "10.0.0.9"), wantIPs: []string{"10.0.0.9", "2001:db8::7"}},
	})
}

// TestRequireDualStackTakesNothingNew: when one family fails, the one that
// succeeded in the same call is given back.
func TestRequireDualStackTakesNothingNew(t *testing.T) {
	a := newWith(pool("p", "10.0.0.0/30", "2001:db8::/128"))
	mustAssign(t, a, stack("ns/v6", SingleStack, ipset.IPv6))
	_, err := a.Assign(stack("ns/x", RequireDualStack, v4First...))
	checkErr(t, err, PoolExhausted, "IPv6", "ns/x")
	checkHolding(t, a, "ns/x")
	if u := a.Usage("p")[ipset.IPv4]; u.Assigned != 0 {
		t.Errorf("IPv4 assigned = %d after the failed call, want 0", u.Assigned)
	}

	// A single-stack holder that turns RequireDualStack keeps its IPv4 IP
	// when IPv6 is unavailable.
	mustAssign(t, a, svc("ns/y"))
	_, err = a.Assign(stack("ns/y", RequireDualStack, v4First...))
	checkErr(t, err, PoolExhausted)
	checkHolding(t, a, "ns/y", "10.0.0.0")
}

// TestPreferDualStackGainsFamilyLater: a PreferDualStack Service holding one
// family gets the other once a pool offers it, keeping the first.
func TestPreferDualStackGainsFamilyLater(t *testing.T) {
	a := newWith(pool("v4", "10.0.0.0/24"))
	req := stack("ns/x", PreferDualStack, v6First...)
	as := mustAssign(t, a, req)
	checkAssignment(t, as, []string{"10.0.0.0"}, []string{"v4"})
	if len(as.Missing) != 1 || as.Missing[0].Reason != FamilyUnavailable {
		t.Errorf("Missing = %v, want one FamilyUnavailable", as.Missing)
	}
	mustAssign(t, a, svc("ns/other"))

	a.SetPool(pool("v6", "2001:db8::/120"))
	as = mustAssign(t, a, req)
	checkAssignment(t, as, []string{"2001:db8::", "10.0.0.0"}, []string{"v6", "v4"})
	if len(as.Missing) != 0 {
		t.Errorf("Missing = %v, want none", as.Missing)
	}
	checkHolding(t, a, "ns/x", "2001:db8::", "10.0.0.0")
}

// TestFamilyChanges: dropping a family releases it; switching the order
// keeps both IPs.
func TestFamilyChanges(t *testing.T) {
	a := newWith(pool("dual", "10.0.0.0/24", "2001:db8::/120"))
	mustAssign(t, a, stack("ns/x", RequireDualStack, v4First...))
	checkAssignment(t, mustAssign(t, a, stack("ns/x", PreferDualStack, v6First...)), []string{"2001:db8::", "10.0.0.0"}, nil)
	checkAssignment(t, mustAssign(t, a, stack("ns/x", SingleStack, v4First...)), []string{"10.0.0.0"}, nil)
	if u := a.Usage("dual")[ipset.IPv6]; u.Assigned != 0 {
		t.Errorf("IPv6 still assigned after dropping the family: %d", u.Assigned)
	}
	checkAssignment(t, mustAssign(t, a, stack("ns/y", SingleStack, ipset.IPv6)), []string{"2001:db8::"}, nil)
}
