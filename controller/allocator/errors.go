package allocator

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/ironlb/ironlb/internal/ipset"
)

// The messages below are shown as they are in `kubectl describe svc`, so
// each one is a full sentence that names the Service, the pool, the IP, the
// family and the other Service involved, and says what to change where it
// can.

func errWrongFamily(req Request, ip netip.Addr, want []ipset.Family) *Error {
	return &Error{
		Reason: FamilyUnavailable,
		Message: fmt.Sprintf("Service %s requests %s, an %s address, but it only uses %s (spec.ipFamilies and spec.ipFamilyPolicy %s); request an address of those families or change spec.ipFamilies.",
			req.Service, ip, ipset.FamilyOf(ip), familyList(want), req.Policy),
	}
}

func errRequestedPool(req Request, p *poolState) *Error {
	why := "which does not exist"
	if p != nil {
		why = "which overlaps an older pool and is not used for new assignments until the overlap is removed"
	}
	return &Error{
		Reason:  NoMatchingPool,
		Message: fmt.Sprintf("Service %s requests IPAddressPool %q, %s.", req.Service, req.Pool, why),
	}
}

// errNoMatchingPool explains why no pool may serve the Service
// automatically, listing the pools by what excludes them.
func (a *Allocator) errNoMatchingPool(req Request) *Error {
	var noAuto, conflict, notSelected []string
	for _, p := range a.poolsInOrder() {
		switch {
		case p.Conflict:
			conflict = append(conflict, p.Name)
		case !p.AutoAssign:
			noAuto = append(noAuto, p.Name)
		default:
			notSelected = append(notSelected, p.Name)
		}
	}
	msg := fmt.Sprintf("No IPAddressPool can give Service %s an address automatically: ", req.Service)
	if len(a.pools) == 0 {
		msg += "there are no IPAddressPools; create one."
	} else {
		var parts []string
		if len(notSelected) > 0 {
			parts = append(parts, poolNames(notSelected)+" "+verb(notSelected, "has a serviceAllocation that does not", "have a serviceAllocation that does not")+" select it")
		}
		if len(noAuto) > 0 {
			parts = append(parts, poolNames(noAuto)+" "+verb(noAuto, "has", "have")+" autoAssign disabled")
		}
		if len(conflict) > 0 {
			parts = append(parts, poolNames(conflict)+" "+verb(conflict, "overlaps an older pool", "overlap older pools"))
		}
		msg += strings.Join(parts, "; ") + ". Request a pool or an address, or change a pool's serviceAllocation or autoAssign."
	}
	return &Error{Reason: NoMatchingPool, Message: msg}
}

func errFamilyUnavailable(req Request, f ipset.Family, pools []*poolState) *Error {
	names := namesOf(pools)
	return &Error{
		Reason: FamilyUnavailable,
		Message: fmt.Sprintf("No %s address for Service %s: the %s it may use (%s) %s no %s addresses.",
			f, req.Service, verb(names, "IPAddressPool", "IPAddressPools"), quoted(names), verb(names, "has", "have"), f),
	}
}

func errExhausted(req Request, f ipset.Family, pools []*poolState) *Error {
	names := namesOf(pools)
	return &Error{
		Reason: PoolExhausted,
		Message: fmt.Sprintf("No free %s address for Service %s: every %s address that %s may hand out automatically is in use.",
			f, req.Service, f, poolNames(names)),
	}
}

// errNotInPool explains a requested IP outside the usable pools; want is the
// requested pool, if any.
func (a *Allocator) errNotInPool(req Request, ip netip.Addr, want *poolState) *Error {
	var in, conflict []string
	for _, p := range a.poolsInOrder() {
		if p.Addresses.Contains(ip) {
			if p.Conflict {
				conflict = append(conflict, p.Name)
			} else {
				in = append(in, p.Name)
			}
		}
	}
	var msg string
	switch {
	case want != nil && len(in) > 0:
		msg = fmt.Sprintf("Requested IP %s for Service %s is not in the requested IPAddressPool %q but in %s.", ip, req.Service, want.Name, poolNames(in))
	case want != nil:
		msg = fmt.Sprintf("Requested IP %s for Service %s is not in the requested IPAddressPool %q.", ip, req.Service, want.Name)
	case len(conflict) > 0:
		msg = fmt.Sprintf("Requested IP %s for Service %s is only in %s, which %s an older pool and is not used until the overlap is removed.",
			ip, req.Service, poolNames(conflict), verb(conflict, "overlaps", "overlap"))
	default:
		msg = fmt.Sprintf("Requested IP %s for Service %s is not in any IPAddressPool.", ip, req.Service)
	}
	return &Error{Reason: RequestedIPNotInPool, Message: msg}
}

func errInUse(req Request, ip netip.Addr, b blocker) *Error {
	if b.bothKeyed() {
		return &Error{
			Reason:  SharingConflict,
			Message: fmt.Sprintf("Service %s cannot share IP %s with Service %s: %s.", req.Service, ip, b.service, b.why()),
		}
	}
	return &Error{
		Reason:  RequestedIPInUse,
		Message: fmt.Sprintf("Requested IP %s for Service %s is already used by Service %s, and they cannot share it: %s.", ip, req.Service, b.service, b.why()),
	}
}

func namesOf(pools []*poolState) []string {
	out := make([]string, len(pools))
	for i, p := range pools {
		out[i] = p.Name
	}
	return out
}

// poolNames writes `IPAddressPool "a"` or `IPAddressPools "a", "b"`.
func poolNames(names []string) string {
	return verb(names, "IPAddressPool ", "IPAddressPools ") + quoted(names)
}

// quoted writes `"a", "b"`.
func quoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

func verb(names []string, one, many string) string {
	if len(names) == 1 {
		return one
	}
	return many
}

func familyList(fs []ipset.Family) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = f.String()
	}
	return strings.Join(s, " and ")
}
