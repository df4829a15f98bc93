// Package pool keeps the allocator's pools in step with the IPAddressPool objects: it
// compiles each pool's spec, marks pools that overlap an older one as conflicting, holds a
// deleted pool back with a finalizer while Services still use it, and writes the pool's
// status (usage per family and conditions).
package pool

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/controller/allocator"
	"github.com/ironlb/ironlb/internal/ipset"
)

// Compile turns a pool object into the allocator's view. A pool whose addresses do not
// parse (the CRD schema refuses that, so only an object written around it) comes back
// with an error and must not be used.
func Compile(p *ironlbv1.IPAddressPool) (allocator.Pool, error) {
	addrs, err := ipset.Parse(strs(p.Spec.Addresses))
	if err != nil {
		return allocator.Pool{}, fmt.Errorf("spec.addresses: %w", err)
	}
	reserved, err := ipset.Parse(strs(p.Spec.Reserved))
	if err != nil {
		return allocator.Pool{}, fmt.Errorf("spec.reserved: %w", err)
	}
	out := allocator.Pool{
		Name:          p.Name,
		Addresses:     addrs,
		Reserved:      reserved,
		AutoAssign:    p.Spec.AutoAssign == nil || *p.Spec.AutoAssign,
		AvoidBuggyIPs: p.Spec.AvoidBuggyIPs,
		Anycast:       prefixAnycast(p.Spec.Addresses),

		AllowCrossNamespaceSharing: p.Spec.AllowCrossNamespaceSharing,
	}
	if sa := p.Spec.ServiceAllocation; sa != nil {
		alloc := &allocator.ServiceAllocation{Priority: sa.Priority, Namespaces: sa.Namespaces}
		for i := range sa.NamespaceSelectors {
			sel, err := metav1.LabelSelectorAsSelector(&sa.NamespaceSelectors[i])
			if err != nil {
				return allocator.Pool{}, fmt.Errorf("spec.serviceAllocation.namespaceSelectors[%d]: %w", i, err)
			}
			alloc.NamespaceSelectors = append(alloc.NamespaceSelectors, sel)
		}
		for i := range sa.ServiceSelectors {
			sel, err := metav1.LabelSelectorAsSelector(&sa.ServiceSelectors[i])
			if err != nil {
				return allocator.Pool{}, fmt.Errorf("spec.serviceAllocation.serviceSelectors[%d]: %w", i, err)
			}
			alloc.ServiceSelectors = append(alloc.ServiceSelectors, sel)
		}
		out.Allocation = alloc
	}
	return out, nil
}

// prefixAnycast finds the subnet-router anycast address (RFC 4291 2.6.1) of every IPv6
// CIDR entry longer than /64 and shorter than /127: its first address, which Linux joins
// as anycast when the prefix is on a link. A /64's own is the allocator's rule already;
// /127 and /128 have none (RFC 6164, and Linux joins none). Ranges name no prefix.
func prefixAnycast(in []ironlbv1.AddressRange) ipset.Set {
	var out []ipset.Range
	for _, a := range in {
		p, err := netip.ParsePrefix(strings.TrimSpace(string(a)))
		if err != nil || !p.Addr().Is6() || p.Bits() <= 64 || p.Bits() >= 127 {
			continue
		}
		out = append(out, ipset.Range{First: p.Addr(), Last: p.Addr()})
	}
	return ipset.New(out...)
}

func strs(in []ironlbv1.AddressRange) []string {
	out := make([]string, len(in))
	for i, a := range in {
		out[i] = string(a)
	}
	return out
}

// Conflicts finds, for each pool that overlaps an older pool, a message naming the older
// pool and the overlap. Older means created earlier, ties broken by name, so every
// controller replica reaches the same verdict. A pool overlapping an older pool that is
// itself in conflict is still in conflict: Services may hold addresses of either.
func Conflicts(pools []ironlbv1.IPAddressPool) map[string]string {
	type entry struct {
		pool *ironlbv1.IPAddressPool
		set  ipset.Set
	}
	var entries []entry
	for i := range pools {
		set, err := ipset.Parse(strs(pools[i].Spec.Addresses))
		if err != nil {
			continue
		}
		entries = append(entries, entry{&pools[i], set})
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if c := a.pool.CreationTimestamp.Compare(b.pool.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.pool.Name, b.pool.Name)
	})
	out := map[string]string{}
	for i, e := range entries {
		for _, older := range entries[:i] {
			if overlap := e.set.Intersect(older.set); !overlap.IsEmpty() {
				out[e.pool.Name] = fmt.Sprintf("addresses %s overlap pool %s, which is older; this pool is not used until the overlap is removed", overlap, older.pool.Name)
				break
			}
		}
	}
	return out
}
