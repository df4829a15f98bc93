package allocator

import (
	"cmp"
	"math/big"
	"net/netip"
	"slices"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/ironlb/ironlb/internal/ipset"
)

// poolState is a Pool plus what the allocator derives from it.
type poolState struct {
	Pool
	// assignable is Addresses minus Reserved, the unspecified addresses and,
	// with AvoidBuggyIPs, Anycast: what automatic assignment may consider
	// before the per-address avoidBuggy rules and holdings are applied.
	assignable ipset.Set
	v4, v6     *familyState
}

// familyState is one family of one pool.
type familyState struct {
	free *freeList
	// total and assignable are fixed for a pool version; held counts move
	// with every holding, so Usage never has to walk anything.
	total      *big.Int
	assignable *big.Int
	// held counts distinct held IPs of the family inside Addresses;
	// heldAssignable those of them that are also counted in assignable.
	held           int64
	heldAssignable int64
}

// fam returns the state of family f, nil when the pool has none of it.
func (p *poolState) fam(f ipset.Family) *familyState {
	switch f {
	case ipset.IPv4:
		return p.v4
	case ipset.IPv6:
		return p.v6
	}
	return nil
}

// autoAssignable reports whether automatic assignment may ever hand out ip
// from this pool (ignoring whether someone holds it).
func (p *poolState) autoAssignable(ip netip.Addr) bool {
	return p.assignable.Contains(ip) && (!p.AvoidBuggyIPs || !isBuggy(ip))
}

// unspecified holds 0.0.0.0 and ::, which a pool of 0.0.0.0/0 or ::/0 contains but no
// client can reach: automatic assignment never hands them out.
var unspecified = ipset.MustParse("0.0.0.0/32", "::/128")

// newPoolState builds the pool's free lists from its addresses minus held,
// the sorted list of every held IP (whoever holds it, whatever pool it is
// attributed to), so that a pool edit can never hand out a held address.
func newPoolState(p Pool, held []netip.Addr) *poolState {
	ps := &poolState{Pool: p, assignable: p.Addresses.Subtract(p.Reserved).Subtract(unspecified)}
	if p.AvoidBuggyIPs {
		// Taken out of assignable, they drop out of the free list and the counts
		// alike, and autoAssignable refuses them.
		ps.assignable = ps.assignable.Subtract(p.Anycast)
	}
	for _, f := range p.Addresses.Families() {
		fs := &familyState{
			total:      p.Addresses.Size(f),
			assignable: countAssignable(ps.assignable.OfFamily(f).Ranges(), p.AvoidBuggyIPs),
		}
		var heldFree []netip.Addr
		for _, ip := range held {
			if ipset.FamilyOf(ip) != f || !p.Addresses.Contains(ip) {
				continue
			}
			fs.held++
			if ps.autoAssignable(ip) {
				fs.heldAssignable++
				heldFree = append(heldFree, ip)
			}
		}
		fs.free = buildFreeList(ps.assignable.OfFamily(f).Ranges(), heldFree, p.AvoidBuggyIPs)
		switch f {
		case ipset.IPv4:
			ps.v4 = fs
		case ipset.IPv6:
			ps.v6 = fs
		}
	}
	return ps
}

// markHeld records that ip became held (it had no holder before).
func (p *poolState) markHeld(ip netip.Addr) {
	fs := p.fam(ipset.FamilyOf(ip))
	if fs == nil || !p.Addresses.Contains(ip) {
		return
	}
	fs.held++
	if p.autoAssignable(ip) {
		fs.heldAssignable++
		fs.free.take(ip)
	}
}

// markFree records that ip lost its last holder.
func (p *poolState) markFree(ip netip.Addr) {
	fs := p.fam(ipset.FamilyOf(ip))
	if fs == nil || !p.Addresses.Contains(ip) {
		return
	}
	fs.held--
	if p.autoAssignable(ip) {
		fs.heldAssignable--
		fs.free.put(ip)
	}
}

func (p *poolState) usage() map[ipset.Family]Usage {
	out := make(map[ipset.Family]Usage, 2)
	for _, f := range []ipset.Family{ipset.IPv4, ipset.IPv6} {
		if fs := p.fam(f); fs != nil {
			avail := new(big.Int).Sub(fs.assignable, big.NewInt(fs.heldAssignable))
			out[f] = Usage{Total: new(big.Int).Set(fs.total), Assigned: fs.held, Available: avail}
		}
	}
	return out
}

// matches reports whether the pool's serviceAllocation selects the Service.
// Namespaces and namespace selectors are alternatives; service selectors
// must match too when there are any.
func (a *ServiceAllocation) matches(req Request) bool {
	nsOK := len(a.Namespaces) == 0 && len(a.NamespaceSelectors) == 0 ||
		slices.Contains(a.Namespaces, req.Namespace) ||
		anyMatches(a.NamespaceSelectors, req.NamespaceLabels)
	if !nsOK {
		return false
	}
	return len(a.ServiceSelectors) == 0 || anyMatches(a.ServiceSelectors, req.ServiceLabels)
}

// anyMatches treats a nil selector as matching nothing, as
// metav1.LabelSelectorAsSelector does for a nil LabelSelector.
func anyMatches(sels []labels.Selector, set map[string]string) bool {
	for _, s := range sels {
		if s != nil && s.Matches(labels.Set(set)) {
			return true
		}
	}
	return false
}

// comparePools is the documented try order: pools with a serviceAllocation
// first, numbered priorities before unnumbered, lower numbers first, ties by
// name; then pools without a serviceAllocation by name. Every controller
// replica therefore picks the same pool.
func comparePools(a, b *poolState) int {
	if c := cmp.Compare(rank(a), rank(b)); c != 0 {
		return c
	}
	if a.Allocation != nil && a.Allocation.Priority != nil && b.Allocation.Priority != nil {
		if c := cmp.Compare(*a.Allocation.Priority, *b.Allocation.Priority); c != 0 {
			return c
		}
	}
	return cmp.Compare(a.Name, b.Name)
}

// rank groups pools: 0 with a numbered serviceAllocation, 1 with an
// unnumbered one, 2 without serviceAllocation.
func rank(p *poolState) int {
	switch {
	case p.Allocation == nil:
		return 2
	case p.Allocation.Priority == nil:
		return 1
	}
	return 0
}
