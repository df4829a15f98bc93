package allocator

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/ironlb/ironlb/internal/ipset"
)

// Assign returns the IPs the Service should have, allocating what it lacks.
// Errors are *Error.
//
// What the Service already holds is kept as long as it still fits the
// request, even if its pool was edited, shrunk, put in conflict or deleted:
// an IP never moves on its own. A held IP that no longer fits (the user asked
// for another IP or pool, dropped the family, or can no longer share with
// its co-holders) is released before the new one is sought, and stays
// released if that fails.
func (a *Allocator) Assign(req Request) (Assignment, error) {
	a.mu.Lock()
	defer a.mu.Unlock()

	want := WantedFamilies(req)
	if err := checkRequestedFamilies(req, want); err != nil {
		// A contradiction in the Service itself: no release elsewhere can fix it.
		delete(a.waiting, req.Service)
		return Assignment{}, err
	}
	prof := profileOf(req)

	kept := map[ipset.Family]heldIP{}
	if h := a.holdings[req.Service]; h != nil {
		for _, held := range slices.Clone(h.ips) {
			f := ipset.FamilyOf(held.ip)
			if slices.Contains(want, f) && a.stillFits(req, prof, held) {
				kept[f] = held
			} else {
				a.detach(req.Service, held)
				a.freed.raise()
			}
		}
	}

	var taken []heldIP
	var failed []*Error
	for _, f := range want {
		if _, ok := kept[f]; ok {
			continue
		}
		held, err := a.allocate(req, prof, f)
		if err != nil {
			failed = append(failed, err)
			if req.Policy == PreferDualStack {
				continue
			}
			break
		}
		a.ensureHolding(req.Service, prof)
		a.attach(req.Service, held)
		taken = append(taken, held)
	}

	if len(failed) > 0 {
		a.waiting[req.Service] = struct{}{}
	} else {
		delete(a.waiting, req.Service)
	}
	switch {
	case len(failed) > 0 && req.Policy != PreferDualStack:
		// All or nothing for the families it lacked: keep what it kept,
		// give back what this call took.
		for _, held := range taken {
			a.detach(req.Service, held)
		}
		a.finish(req.Service, prof, want)
		return Assignment{}, failed[0]
	case len(kept)+len(taken) == 0:
		return Assignment{}, failed[0]
	}
	as := a.finish(req.Service, prof, want)
	as.Missing = failed
	return as, nil
}

// finish records the Service's current sharing profile on what it still
// holds and orders its IPs like the wanted families.
func (a *Allocator) finish(service string, prof shareProfile, want []ipset.Family) Assignment {
	if a.holdings[service] == nil {
		return Assignment{}
	}
	h := a.ensureHolding(service, prof)
	slices.SortStableFunc(h.ips, func(x, y heldIP) int {
		return slices.Index(want, ipset.FamilyOf(x.ip)) - slices.Index(want, ipset.FamilyOf(y.ip))
	})
	return h.assignment()
}

// WantedFamilies turns spec.ipFamilies and the policy into the families to
// hold: the first one for SingleStack, all of them (deduplicated) otherwise.
func WantedFamilies(req Request) []ipset.Family {
	var want []ipset.Family
	for _, f := range req.Families {
		if (f == ipset.IPv4 || f == ipset.IPv6) && !slices.Contains(want, f) {
			want = append(want, f)
		}
	}
	if len(want) == 0 {
		want = []ipset.Family{ipset.IPv4}
	}
	if req.Policy == SingleStack {
		want = want[:1]
	}
	return want
}

// checkRequestedFamilies refuses a requested IP of a family the Service does
// not use, before anything is changed: it is a contradiction in the Service,
// and guessing either way would surprise someone.
func checkRequestedFamilies(req Request, want []ipset.Family) *Error {
	for _, ip := range req.IPs {
		if ip.IsValid() && !slices.Contains(want, ipset.FamilyOf(ip)) {
			return errWrongFamily(req, ip, want)
		}
	}
	return nil
}

// requestedIP returns the explicitly requested IP of family f.
func requestedIP(req Request, f ipset.Family) (netip.Addr, bool) {
	for _, ip := range req.IPs {
		if ip.IsValid() && ipset.FamilyOf(ip) == f {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// stillFits reports whether a held IP still satisfies the request (rule 1):
// the requested IP and pool, if any, are the held ones, and every co-holder
// can still share with the Service as it is now.
func (a *Allocator) stillFits(req Request, prof shareProfile, held heldIP) bool {
	if ip, ok := requestedIP(req, ipset.FamilyOf(held.ip)); ok && ip != held.ip {
		return false
	}
	if req.Pool != "" && req.Pool != held.pool {
		return false
	}
	_, ok := a.sharingVerdict(req.Service, prof, held.ip, nil)
	return ok
}

// sharingVerdict checks the Service against every other holder of ip and
// returns the first one it cannot share with. scopedBy is the pool the Service
// takes ip from when its sharing key must stay in its namespace (see tenancy.go),
// nil when it keeps an address it already holds or claims one at start-up: those
// are never re-checked against tenancy, so that no held address moves.
func (a *Allocator) sharingVerdict(service string, prof shareProfile, ip netip.Addr, scopedBy *poolState) (blocker, bool) {
	e := a.ips[ip]
	if e == nil {
		return blocker{}, true
	}
	for _, other := range e.holders {
		if other == service {
			continue
		}
		op := a.holdings[other].profile
		if !canShare(prof, op) {
			return blocker{service: other, mine: prof, theirs: op}, false
		}
		if scopedBy != nil && prof.namespace != op.namespace {
			return blocker{service: other, mine: prof, theirs: op, scopedPool: scopedBy.Name}, false
		}
	}
	return blocker{}, true
}

// blocker is a holder that prevents sharing, with both profiles so the
// error can say why; scopedPool names the pool whose namespace scoping is the
// only thing in the way, if that is the cause.
type blocker struct {
	service      string
	mine, theirs shareProfile
	scopedPool   string
}

func (b blocker) why() string {
	if b.scopedPool != "" {
		return whyNotShareScoped(b.mine, b.theirs, b.scopedPool)
	}
	return whyNotShare(b.mine, b.theirs)
}

// bothKeyed tells a sharing conflict (both Services asked to share, but
// cannot) from a plain "IP in use".
func (b blocker) bothKeyed() bool { return b.mine.key != "" && b.theirs.key != "" }

// allocate finds an IP of family f for the request (rules 2 to 5) without
// recording it.
func (a *Allocator) allocate(req Request, prof shareProfile, f ipset.Family) (heldIP, *Error) {
	if req.Pool != "" {
		p := a.pools[req.Pool]
		if p == nil || p.Conflict {
			return heldIP{}, errRequestedPool(req, p)
		}
		if !p.allows(req) {
			return heldIP{}, errPoolNotAllowed(req, p, fmt.Sprintf("IPAddressPool %q", p.Name))
		}
		if ip, ok := requestedIP(req, f); ok {
			return a.allocateRequested(req, prof, ip, p)
		}
		return a.allocateFrom(req, prof, f, []*poolState{p})
	}
	if ip, ok := requestedIP(req, f); ok {
		return a.allocateRequested(req, prof, ip, nil)
	}
	cands := a.candidates(req)
	if len(cands) == 0 {
		return heldIP{}, a.errNoMatchingPool(req)
	}
	return a.allocateFrom(req, prof, f, cands)
}

// allocateRequested handles an explicitly requested IP (rule 2): it must be
// in a usable pool (only in want, when a pool was requested too) that serves
// the Service, reserved addresses and autoAssign: false pools included, and it
// is never taken from a Service that cannot share it.
func (a *Allocator) allocateRequested(req Request, prof shareProfile, ip netip.Addr, want *poolState) (heldIP, *Error) {
	var pool, refused *poolState
	if want != nil {
		if want.Addresses.Contains(ip) {
			pool = want
		}
	} else {
		for _, p := range a.poolsInOrder() {
			if p.Conflict || !p.Addresses.Contains(ip) {
				continue
			}
			if p.allows(req) {
				pool = p
				break
			}
			if refused == nil {
				refused = p
			}
		}
	}
	switch {
	case pool == nil && refused != nil:
		return heldIP{}, errPoolNotAllowed(req, refused, "IP "+ip.String())
	case pool == nil:
		return heldIP{}, a.errNotInPool(req, ip, want)
	}
	var scope *poolState
	if namespaceScoped(pool) {
		scope = pool
	}
	if b, ok := a.sharingVerdict(req.Service, prof, ip, scope); !ok {
		return heldIP{}, errInUse(req, ip, b)
	}
	return heldIP{ip: ip, pool: pool.Name}, nil
}

// candidates returns the pools automatic assignment may use for the request,
// in try order (rule 4).
func (a *Allocator) candidates(req Request) []*poolState {
	var withAlloc, without []*poolState
	for _, p := range a.poolsInOrder() {
		switch {
		case p.Conflict || !p.AutoAssign:
		case p.Allocation == nil:
			without = append(without, p)
		case p.Allocation.matches(req):
			withAlloc = append(withAlloc, p)
		}
	}
	return append(withAlloc, without...)
}

// allocateFrom takes an address of family f from the first of pools that has
// one: an IP the Service's sharing key already holds if it can share it
// (rule 5), else the lowest free one.
func (a *Allocator) allocateFrom(req Request, prof shareProfile, f ipset.Family, pools []*poolState) (heldIP, *Error) {
	var withFamily []*poolState
	for _, p := range pools {
		if p.fam(f) != nil {
			withFamily = append(withFamily, p)
		}
	}
	if len(withFamily) == 0 {
		return heldIP{}, errFamilyUnavailable(req, f, pools)
	}
	if prof.key != "" {
		if held, ok := a.reusableSharedIP(req.Service, prof, f, withFamily); ok {
			return held, nil
		}
	}
	for _, p := range withFamily {
		if ip, ok := p.fam(f).free.lowest(); ok {
			return heldIP{ip: ip, pool: p.Name}, nil
		}
	}
	return heldIP{}, errExhausted(req, f, withFamily)
}

// reusableSharedIP finds, in the first pool that has one, the lowest IP of
// family f held under the Service's sharing key that it may share. Only
// addresses automatic assignment could hand out qualify, so a reserved IP is
// never given away automatically just because a sharer asked for it. The
// cost grows with the number of Services using the key, never with the
// pool.
func (a *Allocator) reusableSharedIP(service string, prof shareProfile, f ipset.Family, pools []*poolState) (heldIP, bool) {
	best, bestPool := netip.Addr{}, len(pools)
	for other := range a.byKey[prof.key] {
		if other == service {
			continue
		}
		for _, held := range a.holdings[other].ips {
			ip := held.ip
			if ipset.FamilyOf(ip) != f {
				continue
			}
			i := slices.IndexFunc(pools[:min(bestPool+1, len(pools))], func(p *poolState) bool { return p.autoAssignable(ip) })
			if i < 0 || i > bestPool || i == bestPool && !ip.Less(best) {
				continue
			}
			var scope *poolState
			if namespaceScoped(pools[i]) {
				scope = pools[i]
			}
			if _, ok := a.sharingVerdict(service, prof, ip, scope); ok {
				best, bestPool = ip, i
			}
		}
	}
	if bestPool == len(pools) {
		return heldIP{}, false
	}
	return heldIP{ip: best, pool: pools[bestPool].Name}, true
}
