package allocator

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/ironlb/ironlb/internal/ipset"
)

// TestRandomOperations drives the allocator with thousands of random
// Assign, Release, Claim, SetPool and DeletePool calls over a small address
// space (so pools run full, overlap and shrink often) and checks after every
// call:
//   - no IP is held by two Services that cannot share it (invariant 1);
//   - no Service's IPs change unless it was the one acted on (invariant 2),
//     and a Service asking again with the same request keeps what it held;
//   - a fresh automatic allocation is exactly what a brute-force reference
//     picks (lowest free address, pools in the documented order);
//   - every pool's free list and usage match a brute-force recount.
func TestRandomOperations(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4}
	steps := 2500
	if testing.Short() {
		steps = 500
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			w := newWorld(seed)
			for step := range steps {
				w.step(t, step)
				if t.Failed() {
					t.Fatalf("stopping at step %d (seed %d)", step, seed)
				}
			}
		})
	}
}

// world is the test's own record of what it asked for.
type world struct {
	rng   *rand.Rand
	a     *Allocator
	pools map[string]Pool
	reqs  map[string]Request // the last request each Service made
}

var (
	propPools    = []string{"a", "b", "c", "d"}
	propServices = func() []string {
		var s []string
		for i := range 30 {
			s = append(s, fmt.Sprintf("ns%d/svc%d", i%2, i))
		}
		return s
	}()
	propV4Base = ip("10.0.0.0")
	propV6Base = ip("2001:db8::")
)

func newWorld(seed uint64) *world {
	return &world{
		rng:   rand.New(rand.NewPCG(seed, 0x5eed)),
		a:     New(),
		pools: map[string]Pool{},
		reqs:  map[string]Request{},
	}
}

// addr returns the n-th address after base.
func addr(base netip.Addr, n int) netip.Addr {
	for range n {
		base = base.Next()
	}
	return base
}

// randomRange is a short range of 10.0.0.0/23 (crossing .255/.0 often) or
// of 2001:db8::/120.
func (w *world) randomRange(f ipset.Family) ipset.Range {
	if f == ipset.IPv4 {
		start := w.rng.IntN(500)
		return ipset.Range{First: addr(propV4Base, start), Last: addr(propV4Base, start+w.rng.IntN(12))}
	}
	start := w.rng.IntN(240)
	return ipset.Range{First: addr(propV6Base, start), Last: addr(propV6Base, start+w.rng.IntN(12))}
}

func (w *world) randomPool(name string) Pool {
	var rs []ipset.Range
	for range 1 + w.rng.IntN(2) {
		rs = append(rs, w.randomRange(ipset.IPv4))
	}
	var anycast ipset.Set
	if w.rng.IntN(2) == 0 {
		r := w.randomRange(ipset.IPv6)
		rs = append(rs, r)
		if w.rng.IntN(2) == 0 {
			// As if the entry were a prefix longer than /64: its first address is the
			// prefix's subnet-router anycast address (#12).
			anycast = ipset.New(ipset.Range{First: r.First, Last: r.First})
		}
	}
	p := Pool{
		Anycast:       anycast,
		Name:          name,
		Addresses:     ipset.New(rs...),
		AutoAssign:    w.rng.IntN(5) > 0,
		AvoidBuggyIPs: w.rng.IntN(2) == 0,
		Conflict:      w.rng.IntN(6) == 0,
	}
	if w.rng.IntN(3) == 0 {
		r := w.randomRange(ipset.IPv4)
		r.Last = r.First.Next()
		p.Reserved = ipset.New(r)
	}
	if w.rng.IntN(3) == 0 {
		sa := ServiceAllocation{}
		if w.rng.IntN(2) == 0 {
			sa.Priority = prio(int32(w.rng.IntN(3)))
		}
		if w.rng.IntN(2) == 0 {
			sa.Namespaces = []string{"ns0"}
		}
		p.Allocation = &sa
	}
	return p
}

func (w *world) randomRequest(service string, held map[string]Assignment) Request {
	r := svc(service)
	switch w.rng.IntN(5) {
	case 0:
	case 1:
		r.Families = []ipset.Family{ipset.IPv4}
	case 2:
		r.Families = []ipset.Family{ipset.IPv6}
	case 3:
		r.Families = v4First
	case 4:
		r.Families = v6First
	}
	r.Policy = FamilyPolicy(w.rng.IntN(3))
	if w.rng.IntN(5) == 0 {
		want := WantedFamilies(r)
		f := want[w.rng.IntN(len(want))]
		r.IPs = []netip.Addr{w.randomRange(f).First}
		// Half the time ask for an IP someone holds, to exercise sharing
		// and refusals.
		if other := propServices[w.rng.IntN(len(propServices))]; w.rng.IntN(2) == 0 && len(held[other].IPs) > 0 {
			r.IPs = held[other].IPs[:1]
			r.Families = []ipset.Family{ipset.FamilyOf(r.IPs[0])}
			r.Policy = SingleStack
		}
	}
	if w.rng.IntN(7) == 0 {
		r.Pool = append(propPools, "zz")[w.rng.IntN(5)]
	}
	if w.rng.IntN(2) == 0 {
		r.SharingKey = []string{"k1", "k2"}[w.rng.IntN(2)]
		for _, p := range []Port{{"TCP", 80}, {"TCP", 443}, {"UDP", 53}} {
			if w.rng.IntN(2) == 0 {
				r.Ports = append(r.Ports, p)
			}
		}
		if w.rng.IntN(3) == 0 {
			r.TrafficPolicyLocal = true
			r.Selector = map[string]string{"app": []string{"x", "y"}[w.rng.IntN(2)]}
		}
	}
	return r
}

// snapshot is every Service's holding.
func (w *world) snapshot() map[string]Assignment {
	out := map[string]Assignment{}
	for _, s := range propServices {
		if as, ok := w.a.Holding(s); ok {
			out[s] = as
		}
	}
	return out
}

func (w *world) step(t *testing.T, step int) {
	before := w.snapshot()
	target := propServices[w.rng.IntN(len(propServices))]
	sameRequest := false
	var result Assignment
	var resultErr error
	var fresh, checkRef bool
	var req Request

	switch op := w.rng.IntN(100); {
	case op < 55:
		prev, had := w.reqs[target]
		if had && w.rng.IntN(2) == 0 {
			req, sameRequest = prev, true
		} else {
			req = w.randomRequest(target, before)
		}
		_, held := before[target]
		fresh = !held
		checkRef = fresh && req.SharingKey == "" && len(req.IPs) == 0
		var ref refResult
		if checkRef {
			ref = w.reference(req, before)
		}
		result, resultErr = w.a.Assign(req)
		w.reqs[target] = req
		if checkRef {
			ref.check(t, req, result, resultErr)
		}
	case op < 75:
		w.a.Release(target)
	case op < 80:
		// A claim comes with the request that produced it, so repeating
		// that request must keep the claimed IPs.
		req = w.randomRequest(target, before)
		req.IPs, req.Pool = nil, ""
		var claimIPs []netip.Addr
		for _, f := range WantedFamilies(req) {
			claimIPs = append(claimIPs, w.randomRange(f).First)
		}
		if w.a.Claim(req, claimIPs, propPools[w.rng.IntN(len(propPools))]) == nil {
			w.reqs[target] = req
		}
	case op < 95:
		target = ""
		p := w.randomPool(propPools[w.rng.IntN(len(propPools))])
		w.pools[p.Name] = p
		w.a.SetPool(p)
	default:
		target = ""
		name := propPools[w.rng.IntN(len(propPools))]
		delete(w.pools, name)
		w.a.DeletePool(name)
	}

	after := w.snapshot()
	w.checkStability(t, before, after, target, sameRequest)
	w.checkSharing(t, after)
	w.checkInternals(t)
}

// checkStability: only the target's holding may change, and not even that
// when it repeated its request (it may only gain families).
func (w *world) checkStability(t *testing.T, before, after map[string]Assignment, target string, sameRequest bool) {
	for _, s := range propServices {
		b, a := before[s], after[s]
		if s == target {
			if sameRequest {
				for _, x := range b.IPs {
					if !slices.Contains(a.IPs, x) {
						t.Errorf("%s repeated its request and lost %v (had %v, has %v)", s, x, b.IPs, a.IPs)
					}
				}
			}
			continue
		}
		if !slices.Equal(b.IPs, a.IPs) {
			t.Errorf("%s was not acted on but its IPs changed from %v to %v", s, b.IPs, a.IPs)
		}
		for i := range b.Pools {
			if i < len(a.Pools) && b.Pools[i] != a.Pools[i] && b.Pools[i] != "" {
				t.Errorf("%s's IP %v moved from pool %q to %q", s, b.IPs[i], b.Pools[i], a.Pools[i])
			}
		}
	}
}

// checkSharing: every pair of holders of an IP may share it, judged from the
// requests the test made.
func (w *world) checkSharing(t *testing.T, held map[string]Assignment) {
	byIP := map[netip.Addr][]string{}
	for s, as := range held {
		for _, x := range as.IPs {
			byIP[x] = append(byIP[x], s)
		}
	}
	for x, holders := range byIP {
		for i := range holders {
			for j := i + 1; j < len(holders); j++ {
				if pi, pj := profileOf(w.reqs[holders[i]]), profileOf(w.reqs[holders[j]]); !canShare(pi, pj) {
					t.Errorf("%v held by %s and %s, which cannot share: %s", x, holders[i], holders[j], whyNotShare(pi, pj))
				}
			}
		}
	}
}

// checkInternals recounts every pool's free list, usage and holders from
// scratch.
func (w *world) checkInternals(t *testing.T) {
	w.a.mu.Lock()
	defer w.a.mu.Unlock()
	for name, p := range w.a.pools {
		for _, f := range []ipset.Family{ipset.IPv4, ipset.IPv6} {
			fs := p.fam(f)
			if fs == nil {
				if !p.Addresses.OfFamily(f).IsEmpty() {
					t.Errorf("pool %s has %s addresses but no state", name, f)
				}
				continue
			}
			var wantFree []netip.Addr
			var held int64
			for x := range p.Addresses.OfFamily(f).All() {
				_, isHeld := w.a.ips[x]
				if isHeld {
					held++
				}
				if !isHeld && p.autoAssignable(x) {
					wantFree = append(wantFree, x)
				}
			}
			if got := members(t, fs.free); !slices.Equal(got, wantFree) {
				t.Errorf("pool %s %s free list %v, want %v", name, f, got, wantFree)
			}
			u := p.usage()[f]
			if u.Assigned != held || u.Available.Int64() != int64(len(wantFree)) {
				t.Errorf("pool %s %s usage assigned %d available %v, want %d, %d", name, f, u.Assigned, u.Available, held, len(wantFree))
			}
		}
	}
	counted := map[string]int{}
	for s, h := range w.a.holdings {
		if len(h.ips) == 0 {
			t.Errorf("%s has an empty holding", s)
		}
		seen := map[string]bool{}
		for _, x := range h.ips {
			if !slices.Contains(w.a.ips[x.ip].holders, s) {
				t.Errorf("%s holds %v but is not among its holders", s, x.ip)
			}
			if !seen[x.pool] {
				counted[x.pool]++
				seen[x.pool] = true
			}
		}
	}
	for name, n := range counted {
		if got := len(w.a.byPool[name]); got != n {
			t.Errorf("byPool[%q] has %d Services, holdings say %d", name, got, n)
		}
	}
	if len(counted) != len(w.a.byPool) {
		t.Errorf("byPool has %d pools, holdings name %d", len(w.a.byPool), len(counted))
	}
}

// refResult is what a brute-force allocator gives a fresh Service without
// sharing key or requested IP: per wanted family, the IP or the reason.
type refResult struct {
	want    []ipset.Family
	ips     map[ipset.Family]netip.Addr
	reasons map[ipset.Family]Reason
}

// reference scans every address of every candidate pool in the documented
// order: the slow, obviously right version of what the free lists do.
func (w *world) reference(req Request, held map[string]Assignment) refResult {
	taken := map[netip.Addr]bool{}
	for _, as := range held {
		for _, x := range as.IPs {
			taken[x] = true
		}
	}
	var cands []Pool
	noMatch, notAllowed := false, false
	if req.Pool != "" {
		p, ok := w.pools[req.Pool]
		switch {
		case !ok || p.Conflict:
			noMatch = true
		case p.Allocation != nil && !p.Allocation.matches(req):
			notAllowed = true // tenancy: a named pool serves only whom it selects
		default:
			cands = []Pool{p}
		}
	} else {
		for _, p := range w.pools {
			if !p.Conflict && p.AutoAssign && (p.Allocation == nil || p.Allocation.matches(req)) {
				cands = append(cands, p)
			}
		}
		slices.SortFunc(cands, func(x, y Pool) int {
			rank := func(p Pool) (int, int32) {
				switch {
				case p.Allocation == nil:
					return 2, 0
				case p.Allocation.Priority == nil:
					return 1, 0
				}
				return 0, *p.Allocation.Priority
			}
			xr, xp := rank(x)
			yr, yp := rank(y)
			return cmp.Or(cmp.Compare(xr, yr), cmp.Compare(xp, yp), cmp.Compare(x.Name, y.Name))
		})
		noMatch = len(cands) == 0
	}
	r := refResult{want: WantedFamilies(req), ips: map[ipset.Family]netip.Addr{}, reasons: map[ipset.Family]Reason{}}
	for _, f := range r.want {
		switch {
		case noMatch:
			r.reasons[f] = NoMatchingPool
			continue
		case notAllowed:
			r.reasons[f] = PoolNotAllowed
			continue
		}
		hasFamily := false
	pools:
		for _, p := range cands {
			for x := range p.Addresses.OfFamily(f).All() {
				hasFamily = true
				if !taken[x] && !p.Reserved.Contains(x) && (!p.AvoidBuggyIPs || !isBuggy(x) && !p.Anycast.Contains(x)) {
					r.ips[f] = x
					break pools
				}
			}
		}
		if _, ok := r.ips[f]; !ok {
			r.reasons[f] = PoolExhausted
			if !hasFamily {
				r.reasons[f] = FamilyUnavailable
			}
		}
	}
	return r
}

func (r refResult) check(t *testing.T, req Request, got Assignment, err error) {
	t.Helper()
	var wantIPs []netip.Addr
	var firstReason Reason
	for _, f := range r.want {
		if x, ok := r.ips[f]; ok {
			wantIPs = append(wantIPs, x)
		} else if firstReason == "" {
			firstReason = r.reasons[f]
		}
	}
	wantErr := firstReason != "" && (req.Policy != PreferDualStack || len(wantIPs) == 0)
	switch {
	case wantErr && err == nil:
		t.Errorf("%s (%v %v pool %q): got %v, reference fails with %s", req.Service, req.Policy, req.Families, req.Pool, got.IPs, firstReason)
	case wantErr && reasonOf(err) != firstReason:
		t.Errorf("%s: reason %s (%v), reference %s", req.Service, reasonOf(err), err, firstReason)
	case !wantErr && err != nil:
		t.Errorf("%s (%v %v pool %q): failed with %v, reference gives %v", req.Service, req.Policy, req.Families, req.Pool, err, wantIPs)
	case !wantErr && !slices.Equal(got.IPs, wantIPs):
		t.Errorf("%s (%v %v pool %q): got %v, reference gives %v", req.Service, req.Policy, req.Families, req.Pool, got.IPs, wantIPs)
	}
}
