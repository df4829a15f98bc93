package allocator

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
)

// Tenancy: a pool whose serviceAllocation names namespaces or selectors belongs to the
// Services it selects. It serves only them, for automatic assignment (candidates) and
// also when a Service names the pool or one of its addresses, so that one team cannot
// take another team's addresses by asking for them. Sharing keys are scoped the same way:
// a key joins Services of one namespace unless the pool allows cross-namespace sharing.
//
// Both rules are checked only when a Service takes a new address. An address already held
// stays where it is after a pool edit, a restart or a leader change (design invariant 2):
// tightening a pool stops newcomers, it never evicts anyone.

// allows reports whether the pool may give a new address to the Service. A pool without
// serviceAllocation, or with only a priority, serves everyone.
func (p *poolState) allows(req Request) bool {
	return p.Allocation == nil || p.Allocation.matches(req)
}

// rule describes the pool's serviceAllocation in words, for the PoolNotAllowed message.
func (a *ServiceAllocation) rule() string {
	var who []string
	if len(a.Namespaces) > 0 {
		who = append(who, "namespaces "+quoted(a.Namespaces))
	}
	for _, s := range a.NamespaceSelectors {
		who = append(who, fmt.Sprintf("namespaces labelled %q", selectorString(s)))
	}
	rule := strings.Join(who, " or ")
	if len(a.ServiceSelectors) > 0 {
		var svcs []string
		for _, s := range a.ServiceSelectors {
			svcs = append(svcs, fmt.Sprintf("%q", selectorString(s)))
		}
		if rule != "" {
			rule += ", and of those "
		}
		rule += "Services labelled " + strings.Join(svcs, " or ")
	}
	return rule
}

func selectorString(s labels.Selector) string {
	if s == nil {
		return "<nothing>"
	}
	return s.String()
}

// errPoolNotAllowed explains that the pool's serviceAllocation does not select the
// Service; what names what the Service asked for (the pool, or one of its addresses).
func errPoolNotAllowed(req Request, p *poolState, what string) *Error {
	return &Error{
		Reason: PoolNotAllowed,
		Message: fmt.Sprintf("Service %s asks for %s, but IPAddressPool %q serves only %s (spec.serviceAllocation); use another pool or change the pool's serviceAllocation.",
			req.Service, what, p.Name, p.Allocation.rule()),
	}
}

// namespaceScoped reports whether a sharing key must stay inside one namespace for an
// address taken from the pool.
func namespaceScoped(p *poolState) bool { return p == nil || !p.AllowCrossNamespaceSharing }

// whyNotShareScoped completes "they cannot share it: ..." when the namespaces are what
// keeps two otherwise compatible Services apart.
func whyNotShareScoped(a, b shareProfile, pool string) string {
	return fmt.Sprintf("they are in different namespaces (%q and %q), and IPAddressPool %q does not set allowCrossNamespaceSharing",
		a.namespace, b.namespace, pool)
}
