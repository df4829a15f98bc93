package allocator

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/ironlb/ironlb/internal/ipset"
)

// Claim records that the Service already holds ips, as read from its status
// when the controller starts, before anything new is allocated. Nothing is
// moved or checked against pools: an IP outside every pool is still recorded
// (an orphan, see Orphans) and never handed to anyone else, and reserved or
// conflict-pool IPs are fine. poolHint is the Service's ip-allocated-from-pool
// annotation (pools, comma separated); claimPool says how it attributes each IP.
//
// Only the first valid IP of each family counts. The Service's holding
// becomes exactly those IPs. If a Service that cannot share with this one
// already holds one of them, Claim records nothing and returns a
// RequestedIPInUse *Error: the Service that claimed first keeps the IP. The
// controller claims unchanged Services before those whose sharing request
// changed since their addresses were confirmed, each oldest first (see
// package bootstrap), so the rule is the runtime one.
func (a *Allocator) Claim(req Request, ips []netip.Addr, poolHint string) error {
	a.mu.Lock()
	defer a.mu.Unlock()

	var claimed []netip.Addr
	var families []ipset.Family
	for _, ip := range ips {
		f := ipset.FamilyOf(ip)
		if !ip.IsValid() || ip.Zone() != "" || slices.Contains(families, f) {
			continue
		}
		claimed = append(claimed, ip)
		families = append(families, f)
	}

	prof := profileOf(req)
	if req.SharingKeyUnknown && prof.key == "" {
		prof.key = a.keyHeldAt(claimed)
	}
	for _, ip := range claimed {
		if b, ok := a.sharingVerdict(req.Service, prof, ip, nil); !ok {
			return &Error{
				Reason: RequestedIPInUse,
				Message: fmt.Sprintf("Service %s had IP %s, but Service %s, which claimed it first, holds it too and they cannot share it: %s; %s keeps it.",
					req.Service, ip, b.service, b.why(), b.service),
			}
		}
	}

	if h := a.holdings[req.Service]; h != nil {
		for _, held := range slices.Clone(h.ips) {
			if !slices.Contains(claimed, held.ip) {
				a.detach(req.Service, held)
				a.freed.raise()
			}
		}
	}
	if len(claimed) == 0 {
		return nil
	}
	h := a.ensureHolding(req.Service, prof)
	hints := strings.Split(poolHint, ",")
	for _, ip := range claimed {
		if !slices.ContainsFunc(h.ips, func(x heldIP) bool { return x.ip == ip }) {
			a.attach(req.Service, heldIP{ip: ip, pool: a.claimPool(ip, hints...)})
		}
	}
	return nil
}

// keyHeldAt returns the sharing key of the first holder of any of ips, "" if none holds
// them: the key a Service whose own key annotation is unreadable shared them under.
func (a *Allocator) keyHeldAt(ips []netip.Addr) string {
	for _, ip := range ips {
		if e := a.ips[ip]; e != nil && len(e.holders) > 0 {
			return a.holdings[e.holders[0]].profile.key
		}
	}
	return ""
}
