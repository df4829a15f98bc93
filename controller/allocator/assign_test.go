package allocator

import (
	"slices"
	"testing"

	"github.com/ironlb/ironlb/internal/ipset"
)

// scenario is one allocation case: pools, Services assigned first (each must
// succeed), then the request under test and its expected outcome.
type scenario struct {
	name      string
	pools     []Pool
	before    []Request
	req       Request
	wantIPs   []string
	wantPools []string
	reason    Reason   // "" means success
	mentions  []string // words the error message must contain
}

func runScenarios(t *testing.T, tests []scenario) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newWith(tt.pools...)
			for _, r := range tt.before {
				mustAssign(t, a, r)
			}
			as, err := a.Assign(tt.req)
			checkErr(t, err, tt.reason, tt.mentions...)
			if tt.reason != "" {
				return
			}
			checkAssignment(t, as, tt.wantIPs, tt.wantPools)
			checkHolding(t, a, tt.req.Service, tt.wantIPs...)
		})
	}
}

// inNS builds a request in a namespace with namespace and Service labels.
func inNS(key string, nsLabels, svcLabels map[string]string) Request {
	r := svc(key)
	r.NamespaceLabels, r.ServiceLabels = nsLabels, svcLabels
	return r
}

func TestAutomaticAssignment(t *testing.T) {
	noAuto := pool("manual", "10.0.9.0/24")
	noAuto.AutoAssign = false
	conflict := pool("late", "10.0.8.0/24")
	conflict.Conflict = true
	reserved := pool("r", "10.0.0.0/29")
	reserved.Reserved = ipset.MustParse("10.0.0.0/30")
	buggy := pool("b", "10.0.0.254-10.0.1.1")
	buggy.AvoidBuggyIPs = true
	full := pool("full", "10.0.0.0/31")
	v6 := pool("v6", "2001:db8::/120")

	runScenarios(t, []scenario{
		{name: "lowest free address", pools: []Pool{pool("a", "10.0.0.0/24")},
			req: svc("ns/x"), wantIPs: []string{"10.0.0.0"}, wantPools: []string{"a"}},
		{name: "next after holders", pools: []Pool{pool("a", "10.0.0.0/24")},
			before: []Request{svc("ns/1"), svc("ns/2")},
			req:    svc("ns/x"), wantIPs: []string{"10.0.0.2"}},
		{name: "pools without serviceAllocation by name", pools: []Pool{pool("b", "10.0.1.0/24"), pool("a", "10.0.2.0/24")},
			req: svc("ns/x"), wantIPs: []string{"10.0.2.0"}, wantPools: []string{"a"}},
		{name: "next pool when the first is full", pools: []Pool{full, pool("zz", "10.0.5.0/24")},
			before: []Request{svc("ns/1"), svc("ns/2")},
			req:    svc("ns/x"), wantIPs: []string{"10.0.5.0"}, wantPools: []string{"zz"}},
		{name: "serviceAllocation pools before plain ones", pools: []Pool{
			pool("a", "10.0.1.0/24"),
			withAlloc(pool("z", "10.0.2.0/24"), ServiceAllocation{}),
		}, req: svc("ns/x"), wantPools: []string{"z"}, wantIPs: []string{"10.0.2.0"}},
		{name: "lower priority first", pools: []Pool{
			withAlloc(pool("a", "10.0.1.0/24"), ServiceAllocation{Priority: prio(20)}),
			withAlloc(pool("b", "10.0.2.0/24"), ServiceAllocation{Priority: prio(10)}),
		}, req: svc("ns/x"), wantPools: []string{"b"}, wantIPs: []string{"10.0.2.0"}},
		{name: "numbered priority before unnumbered", pools: []Pool{
			withAlloc(pool("a", "10.0.1.0/24"), ServiceAllocation{}),
			withAlloc(pool("b", "10.0.2.0/24"), ServiceAllocation{Priority: prio(1000)}),
		}, req: svc("ns/x"), wantPools: []string{"b"}, wantIPs: []string{"10.0.2.0"}},
		{name: "equal priority by name", pools: []Pool{
			withAlloc(pool("b", "10.0.1.0/24"), ServiceAllocation{Priority: prio(5)}),
			withAlloc(pool("a", "10.0.2.0/24"), ServiceAllocation{Priority: prio(5)}),
		}, req: svc("ns/x"), wantPools: []string{"a"}, wantIPs: []string{"10.0.2.0"}},
		{name: "namespace list matches", pools: []Pool{
			pool("a", "10.0.1.0/24"),
			withAlloc(pool("z", "10.0.2.0/24"), ServiceAllocation{Namespaces: []string{"other", "ns"}}),
		}, req: svc("ns/x"), wantPools: []string{"z"}, wantIPs: []string{"10.0.2.0"}},
		{name: "namespace list does not match", pools: []Pool{
			pool("a", "10.0.1.0/24"),
			withAlloc(pool("z", "10.0.2.0/24"), ServiceAllocation{Namespaces: []string{"other"}}),
		}, req: svc("ns/x"), wantPools: []string{"a"}, wantIPs: []string{"10.0.1.0"}},
		{name: "namespace selector matches", pools: []Pool{
			pool("a", "10.0.1.0/24"),
			withAlloc(pool("z", "10.0.2.0/24"), ServiceAllocation{Namespaces: []string{"other"}, NamespaceSelectors: []labelsSelector{sel("env", "prod")}}),
		}, req: inNS("ns/x", map[string]string{"env": "prod"}, nil), wantPools: []string{"z"}, wantIPs: []string{"10.0.2.0"}},
		{name: "namespace selector does not match", pools: []Pool{
			pool("a", "10.0.1.0/24"),
			withAlloc(pool("z", "10.0.2.0/24"), ServiceAllocation{NamespaceSelectors: []labelsSelector{sel("env", "prod")}}),
		}, req: inNS("ns/x", map[string]string{"env": "dev"}, nil), wantPools: []string{"a"}, wantIPs: []string{"10.0.1.0"}},
		{name: "service selector must match too", pools: []Pool{
			pool("a", "10.0.1.0/24"),
			withAlloc(pool("z", "10.0.2.0/24"), ServiceAllocation{Namespaces: []string{"ns"}, ServiceSelectors: []labelsSelector{sel("tier", "web")}}),
		}, req: inNS("ns/x", nil, map[string]string{"tier": "db"}), wantPools: []string{"a"}, wantIPs: []string{"10.0.1.0"}},
		{name: "service selector matches", pools: []Pool{
			pool("a", "10.0.1.0/24"),
			withAlloc(pool("z", "10.0.2.0/24"), ServiceAllocation{ServiceSelectors: []labelsSelector{sel("tier", "db"), sel("tier", "web")}}),
		}, req: inNS("ns/x", nil, map[string]string{"tier": "web"}), wantPools: []string{"z"}, wantIPs: []string{"10.0.2.0"}},
		{name: "autoAssign false is skipped", pools: []Pool{noAuto, pool("z", "10.0.2.0/24")},
			req: svc("ns/x"), wantPools: []string{"z"}, wantIPs: []string{"10.0.2.0"}},
		{name: "conflict pool is skipped", pools: []Pool{conflict, pool("z", "10.0.2.0/24")},
			req: svc("ns/x"), wantPools: []string{"z"}, wantIPs: []string{"10.0.2.0"}},
		{name: "reserved addresses are skipped", pools: []Pool{reserved},
			req: svc("ns/x"), wantIPs: []string{"10.0.0.4"}},
		{name: "avoidBuggyIPs skips .255 and .0", pools: []Pool{buggy},
			before: []Request{svc("ns/1")},
			req:    svc("ns/x"), wantIPs: []string{"10.0.1.1"}},

		{name: "no pools at all", req: svc("ns/x"), reason: NoMatchingPool, mentions: []string{"ns/x", "no IPAddressPools"}},
		{name: "no pool selects the Service", pools: []Pool{
			noAuto, conflict,
			withAlloc(pool("z", "10.0.2.0/24"), ServiceAllocation{Namespaces: []string{"other"}}),
		}, req: svc("ns/x"), reason: NoMatchingPool, mentions: []string{`"manual"`, "autoAssign", `"late"`, "overlaps", `"z"`, "serviceAllocation"}},
		{name: "family missing in candidates", pools: []Pool{pool("a", "10.0.1.0/24"), pool("b", "10.0.2.0/24")},
			req: Request{Service: "ns/x", Namespace: "ns", Families: []ipset.Family{ipset.IPv6}}, reason: FamilyUnavailable,
			mentions: []string{"IPv6", "ns/x", `"a", "b"`}},
		{name: "all candidates full", pools: []Pool{full, v6},
			before: []Request{svc("ns/1"), svc("ns/2")},
			req:    svc("ns/x"), reason: PoolExhausted, mentions: []string{"IPv4", `"full"`, "ns/x"}},
		{name: "only buggy addresses left", pools: []Pool{buggy},
			before: []Request{svc("ns/1"), svc("ns/2")},
			req:    svc("ns/x"), reason: PoolExhausted},
		{name: "only reserved addresses left", pools: []Pool{reserved},
			before: []Request{svc("ns/1"), svc("ns/2"), svc("ns/3"), svc("ns/4")},
			req:    svc("ns/x"), reason: PoolExhausted},
	})
}

func TestRequestedIP(t *testing.T) {
	noAuto := pool("manual", "10.0.9.0/24")
	noAuto.AutoAssign = false
	conflict := pool("late", "10.0.8.0/24")
	conflict.Conflict = true
	reserved := pool("r", "10.0.0.0/29")
	reserved.Reserved = ipset.MustParse("10.0.0.0/30")
	buggy := pool("b", "10.0.0.0/23")
	buggy.AvoidBuggyIPs = true
	selective := withAlloc(pool("sel", "10.0.7.0/24"), ServiceAllocation{Namespaces: []string{"other"}})

	want := func(key string, addrs ...string) Request {
		r := svc(key)
		r.IPs = ips(addrs...)
		return r
	}
	withPool := func(r Request, p string) Request { r.Pool = p; return r }

	runScenarios(t, []scenario{
		{name: "address in a pool", pools: []Pool{pool("a", "10.0.1.0/24")},
			req: want("ns/x", "10.0.1.77"), wantIPs: []string{"10.0.1.77"}, wantPools: []string{"a"}},
		{name: "reserved address on request", pools: []Pool{reserved},
			req: want("ns/x", "10.0.0.1"), wantIPs: []string{"10.0.0.1"}, wantPools: []string{"r"}},
		{name: "autoAssign false pool on request", pools: []Pool{noAuto},
			req: want("ns/x", "10.0.9.9"), wantIPs: []string{"10.0.9.9"}, wantPools: []string{"manual"}},
		{name: "buggy address on request", pools: []Pool{buggy},
			req: want("ns/x", "10.0.0.255"), wantIPs: []string{"10.0.0.255"}},
		{name: "serviceAllocation limits requests too", pools: []Pool{selective},
			req: want("ns/x", "10.0.7.1"), reason: PoolNotAllowed, mentions: []string{`"sel"`, "10.0.7.1"}},
		{name: "address and matching pool", pools: []Pool{pool("a", "10.0.1.0/24"), pool("b", "10.0.2.0/24")},
			req: withPool(want("ns/x", "10.0.2.5"), "b"), wantIPs: []string{"10.0.2.5"}, wantPools: []string{"b"}},

		{name: "address in no pool", pools: []Pool{pool("a", "10.0.1.0/24")},
			req: want("ns/x", "10.0.3.1"), reason: RequestedIPNotInPool, mentions: []string{"10.0.3.1", "ns/x", "not in any"}},
		{name: "address only in a conflict pool", pools: []Pool{conflict},
			req: want("ns/x", "10.0.8.1"), reason: RequestedIPNotInPool, mentions: []string{"10.0.8.1", `"late"`, "overlaps"}},
		{name: "address not in the requested pool", pools: []Pool{pool("a", "10.0.1.0/24"), pool("b", "10.0.2.0/24")},
			req: withPool(want("ns/x", "10.0.1.5"), "b"), reason: RequestedIPNotInPool, mentions: []string{"10.0.1.5", `"b"`, `"a"`}},
		{name: "address held by a Service without sharing", pools: []Pool{pool("a", "10.0.1.0/24")},
			before: []Request{svc("ns/old")},
			req:    want("ns/x", "10.0.1.0"), reason: RequestedIPInUse, mentions: []string{"10.0.1.0", "ns/old", "ns/x"}},
		{name: "address of a family the Service does not use", pools: []Pool{pool("a", "10.0.1.0/24", "2001:db8::/120")},
			req: want("ns/x", "2001:db8::1"), reason: FamilyUnavailable, mentions: []string{"2001:db8::1", "IPv6", "IPv4"}},
	})
}

func TestRequestedPool(t *testing.T) {
	noAuto := pool("manual", "10.0.9.0/24")
	noAuto.AutoAssign = false
	conflict := pool("late", "10.0.8.0/24")
	conflict.Conflict = true
	selective := withAlloc(pool("sel", "10.0.7.0/24"), ServiceAllocation{Namespaces: []string{"other"}})
	full := pool("full", "10.0.0.0/32")
	inPool := func(key, p string) Request { r := svc(key); r.Pool = p; return r }

	runScenarios(t, []scenario{
		{name: "only that pool", pools: []Pool{pool("a", "10.0.1.0/24"), pool("b", "10.0.2.0/24")},
			req: inPool("ns/x", "b"), wantIPs: []string{"10.0.2.0"}, wantPools: []string{"b"}},
		{name: "even with autoAssign false", pools: []Pool{pool("a", "10.0.1.0/24"), noAuto},
			req: inPool("ns/x", "manual"), wantIPs: []string{"10.0.9.0"}, wantPools: []string{"manual"}},
		{name: "not if serviceAllocation does not select it", pools: []Pool{selective},
			req: inPool("ns/x", "sel"), reason: PoolNotAllowed, mentions: []string{`"sel"`, "ns/x", `"other"`}},
		{name: "unknown pool", pools: []Pool{pool("a", "10.0.1.0/24")},
			req: inPool("ns/x", "nope"), reason: NoMatchingPool, mentions: []string{`"nope"`, "does not exist", "ns/x"}},
		{name: "conflict pool", pools: []Pool{conflict},
			req: inPool("ns/x", "late"), reason: NoMatchingPool, mentions: []string{`"late"`, "overlaps"}},
		{name: "requested pool full, others free", pools: []Pool{full, pool("a", "10.0.1.0/24")},
			before: []Request{inPool("ns/1", "full")},
			req:    inPool("ns/x", "full"), reason: PoolExhausted, mentions: []string{`"full"`}},
		{name: "requested pool lacks the family", pools: []Pool{pool("a", "10.0.1.0/24")},
			req: Request{Service: "ns/x", Pool: "a", Families: []ipset.Family{ipset.IPv6}}, reason: FamilyUnavailable, mentions: []string{"IPv6", `"a"`}},
	})
}

// TestEveryReasonReached guards the list of reasons: a new Reason needs a
// test that produces it.
func TestEveryReasonReached(t *testing.T) {
	reached := map[Reason]bool{}
	a := newWith(pool("a", "10.0.0.0/32"))
	try := func(r Request) {
		if _, err := a.Assign(r); err != nil {
			reached[reasonOf(err)] = true
		}
	}
	try(svc("ns/1"))
	try(svc("ns/2")) // PoolExhausted
	r := svc("ns/3")
	r.Pool = "nope"
	try(r) // NoMatchingPool
	r = svc("ns/4")
	r.IPs = ips("10.9.9.9")
	try(r) // RequestedIPNotInPool
	r = svc("ns/5")
	r.IPs = ips("10.0.0.0")
	try(r) // RequestedIPInUse
	r.SharingKey = "k"
	a.Release("ns/1")
	first := svc("ns/1")
	first.SharingKey = "other"
	try(first)
	try(r) // SharingConflict
	r = svc("ns/6")
	r.Families = []ipset.Family{ipset.IPv6}
	try(r) // FamilyUnavailable
	a.SetPool(withAlloc(pool("tenant", "10.1.0.0/24"), ServiceAllocation{Namespaces: []string{"team"}}))
	r = svc("ns/7")
	r.Pool = "tenant"
	try(r) // PoolNotAllowed
	for _, want := range []Reason{NoMatchingPool, PoolExhausted, RequestedIPNotInPool, RequestedIPInUse, SharingConflict, FamilyUnavailable, PoolNotAllowed} {
		if !reached[want] {
			t.Errorf("reason %s never produced", want)
		}
	}
}

// TestDeterminism: the same inputs give the same IPs, whatever order pools
// were added in, because pools are tried in a documented order and ties are
// broken by name, never by map order.
func TestDeterminism(t *testing.T) {
	pools := []Pool{
		withAlloc(pool("p1", "10.1.0.0/28"), ServiceAllocation{Priority: prio(1)}),
		withAlloc(pool("p1b", "10.2.0.0/28"), ServiceAllocation{Priority: prio(1)}),
		withAlloc(pool("np", "10.3.0.0/28"), ServiceAllocation{}),
		pool("plain-b", "10.4.0.0/28"),
		pool("plain-a", "10.5.0.0/28"),
	}
	run := func(order []int) []string {
		a := New()
		for _, i := range order {
			a.SetPool(pools[i])
		}
		var got []string
		for i := range 80 {
			as, err := a.Assign(svc("ns/s" + string(rune('a'+i%26)) + string(rune('a'+i/26))))
			if err != nil {
				got = append(got, string(reasonOf(err)))
				continue
			}
			got = append(got, as.Pools[0]+"="+as.IPs[0].String())
		}
		return got
	}
	want := run([]int{0, 1, 2, 3, 4})
	// 16 addresses each, tried in the order p1, p1b, np, plain-a, plain-b.
	for i, p := range []string{"p1", "p1b", "np", "plain-a", "plain-b"} {
		if got := want[i*16]; got[:len(p)+1] != p+"=" {
			t.Errorf("service %d got %s, want pool %s", i*16, got, p)
		}
	}
	for _, order := range [][]int{{4, 3, 2, 1, 0}, {2, 0, 4, 1, 3}} {
		if got := run(order); !slices.Equal(got, want) {
			t.Errorf("pool order %v changed the result:\n got %v\nwant %v", order, got, want)
		}
	}
}
