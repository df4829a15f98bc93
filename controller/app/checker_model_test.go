package app_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
)

// The checker's reference model: what the user asked for (Services and pools, as the
// checker wrote them) and the rules the design promises, written here from the README and
// the design, not from the allocator, so that a bug in the allocator is not copied into
// its own judge.

// The checker's two namespaces: one named by the team pool's namespace rule, one selected
// by its label rule.
const (
	nsA = "checker-a"
	nsB = "checker-b"
)

var checkerNamespaceLabels = map[string]map[string]string{nsA: {"team": "a"}, nsB: {"team": "b"}}

// svcSpec is one Service as the checker last wrote it.
type svcSpec struct {
	ns       string
	families []string // "v4", "v6", in order; fixed at creation (the primary cannot change)
	policy   corev1.IPFamilyPolicy
	key      string // sharing key, "" for none
	port     int32
	local    bool   // externalTrafficPolicy Local
	selector string // app=<selector>
	tier     string // the Service's tier label, which the team pool may select on
	pool     string // requested pool, "" for none
	ips      map[string]string
	// malformed is the annotation the checker broke, "" if none; the other fields still
	// hold the last well-formed request, which the controller must keep serving.
	malformed string
	lb        bool
}

// wanted is the families the Service should hold (design: SingleStack its family, the
// dual-stack policies every family of spec.ipFamilies).
func (s *svcSpec) wanted() []string {
	if s.policy == corev1.IPFamilyPolicySingleStack {
		return s.families[:1]
	}
	return s.families
}

// poolSpec is one pool as the checker last wrote it; the pools' shapes are fixed, the
// checker flips their knobs.
type poolSpec struct {
	exists, deleting bool
	wide             bool // the "wide" pool's v4 range is a /28 (else a /29)
	autoAssign       bool
	rule             int // team pool: 0 namespace nsA by name, 1 namespaces labelled team=b, 2 Services labelled tier=web
	cross            bool
	crossEver        bool // allowCrossNamespaceSharing was true at some point
	// created is the pool object's creationTimestamp (whole seconds, as the API server
	// keeps it): the younger of two overlapping pools is in Conflict.
	created time.Time
}

// The pools: "wide" (never deleted, grows and shrinks), "team" (tenancy, a reserved
// address), "late" (overlaps wide while wide is a /28, so it is then in Conflict).
var checkerPools = []string{"wide", "team", "late"}

const teamReserved = "198.18.151.7"

func (m *model) poolAddresses(name string) []string {
	switch name {
	case "wide":
		if m.pools["wide"].wide {
			return []string{"198.18.150.0/28", "2001:db8:150::/125"}
		}
		return []string{"198.18.150.0/29", "2001:db8:150::/125"}
	case "team":
		return []string{"198.18.151.0/29"}
	}
	return []string{"198.18.150.8/29", "2001:db8:151::/126"}
}

func (m *model) poolObjectSpec(name string) ironlbv1.IPAddressPoolSpec {
	p := m.pools[name]
	spec := ironlbv1.IPAddressPoolSpec{Addresses: addrs(m.poolAddresses(name)...), AutoAssign: ptr.To(p.autoAssign),
		AllowCrossNamespaceSharing: p.cross}
	if name == "team" {
		spec.Reserved = addrs(teamReserved + "/32")
		sa := &ironlbv1.ServiceAllocation{}
		switch p.rule {
		case 0:
			sa.Namespaces = []string{nsA}
		case 1:
			sa.NamespaceSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"team": "b"}}}
		default:
			sa.ServiceSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"tier": "web"}}}
		}
		spec.ServiceAllocation = sa
	}
	return spec
}

// contains tells whether the pool's addresses (reserved included) contain ip.
func (m *model) contains(pool string, ip netip.Addr) bool {
	for _, c := range m.poolAddresses(pool) {
		if netip.MustParsePrefix(c).Contains(ip) {
			return true
		}
	}
	return false
}

// addresses lists every address of the family in the pool, in order.
func (m *model) addresses(pool, fam string) []netip.Addr {
	var out []netip.Addr
	for _, c := range m.poolAddresses(pool) {
		p := netip.MustParsePrefix(c)
		if family(p.Addr()) != fam {
			continue
		}
		for a := p.Addr(); p.Contains(a); a = a.Next() {
			out = append(out, a)
		}
	}
	return out
}

func family(ip netip.Addr) string {
	if ip.Is4() {
		return "v4"
	}
	return "v6"
}

// conflict: late overlaps the older wide pool while wide is a /28.
// conflict: late overlaps wide while wide is a /28, and then the younger of the two is in
// Conflict, by creation time with ties (both created in one second) by name, as the
// controller orders them: "late" sorts before "wide".
func (m *model) conflict(pool string) bool {
	wide, late := m.pools["wide"], m.pools["late"]
	if !wide.wide || !late.exists || (pool != "wide" && pool != "late") {
		return false
	}
	lateOlder := !late.created.After(wide.created)
	return (pool == "wide") == lateOlder
}

// usable: a pool that may hand out new addresses (exists, not being deleted, no conflict).
func (m *model) usable(pool string) bool {
	p := m.pools[pool]
	return p != nil && p.exists && !p.deleting && !m.conflict(pool)
}

// allows is tenancy: the team pool serves only the Services its rule selects.
func (m *model) allows(pool string, s *svcSpec) bool {
	if pool != "team" {
		return true
	}
	switch m.pools["team"].rule {
	case 0:
		return s.ns == nsA
	case 1:
		return checkerNamespaceLabels[s.ns]["team"] == "b"
	}
	return s.tier == "web"
}

// shareable is design invariant 1 plus tenancy: same non-empty key, disjoint ports, same
// traffic policy and with Local the same selector; across namespaces only if sameNS is
// not required.
func shareable(a, b *svcSpec, sameNS bool) bool {
	ok := a.key != "" && a.key == b.key && a.port != b.port && a.local == b.local && (!a.local || a.selector == b.selector)
	return ok && (!sameNS || a.ns == b.ns)
}

// randomSpec draws a new Service.
func (m *model) randomSpec(rng *rand.Rand) *svcSpec {
	s := &svcSpec{ns: []string{nsA, nsB}[rng.IntN(2)], lb: true}
	switch rng.IntN(4) {
	case 0:
		s.families, s.policy = []string{"v4"}, corev1.IPFamilyPolicySingleStack
	case 1:
		s.families, s.policy = []string{"v6"}, corev1.IPFamilyPolicySingleStack
	case 2:
		s.families, s.policy = []string{"v4", "v6"}, corev1.IPFamilyPolicyPreferDualStack
	default:
		s.families, s.policy = []string{"v6", "v4"}, corev1.IPFamilyPolicyRequireDualStack
	}
	m.randomizeRequest(rng, s)
	return s
}

// randomizeRequest draws everything of a Service an edit may change.
func (m *model) randomizeRequest(rng *rand.Rand, s *svcSpec) {
	s.key = []string{"", "k", "k", "j"}[rng.IntN(4)]
	s.port = 80 + int32(rng.IntN(2))
	s.local = rng.IntN(3) == 0
	s.selector = []string{"x", "y"}[rng.IntN(2)]
	s.tier = []string{"web", "db"}[rng.IntN(2)]
	s.pool = ""
	if rng.IntN(4) == 0 {
		s.pool = []string{"wide", "team", "late", "gone"}[rng.IntN(4)]
	}
	s.ips = map[string]string{}
	for _, f := range s.wanted() {
		if rng.IntN(5) != 0 {
			continue
		}
		if f == "v4" {
			s.ips[f] = []string{"198.18.150.%d", "198.18.151.%d", "198.18.152.%d"}[rng.IntN(3)]
			s.ips[f] = fmt.Sprintf(s.ips[f], rng.IntN(16))
		} else {
			s.ips[f] = fmt.Sprintf("2001:db8:%d::%d", 150+rng.IntN(2), rng.IntN(8))
		}
	}
	s.malformed = ""
}

// malformedValues are the broken annotations an edit may write (invariant 5: the Service
// keeps what it holds and says why).
var malformedValues = map[string]string{
	ironlbv1.AnnotationLoadBalancerIPs: "198.18.150.300",
	ironlbv1.AnnotationAddressPool:     " ",
	ironlbv1.AnnotationAllowSharedIP:   "",
}

// object renders the Service the checker writes.
func (s *svcSpec) object(name string) *corev1.Service {
	ann := map[string]string{}
	if s.key != "" {
		ann[ironlbv1.AnnotationAllowSharedIP] = s.key
	}
	if s.pool != "" {
		ann[ironlbv1.AnnotationAddressPool] = s.pool
	}
	var ips []string
	for _, f := range s.families {
		if ip, ok := s.ips[f]; ok {
			ips = append(ips, ip)
		}
	}
	if len(ips) > 0 {
		ann[ironlbv1.AnnotationLoadBalancerIPs] = strings.Join(ips, ",")
	}
	if s.malformed != "" {
		ann[s.malformed] = malformedValues[s.malformed]
	}
	svc := lbService(s.ns, name, ann, s.port)
	svc.Labels = map[string]string{"tier": s.tier}
	svc.Spec.Selector = map[string]string{"app": s.selector}
	svc.Spec.IPFamilyPolicy = ptr.To(s.policy)
	for _, f := range s.families {
		svc.Spec.IPFamilies = append(svc.Spec.IPFamilies, map[string]corev1.IPFamily{"v4": corev1.IPv4Protocol, "v6": corev1.IPv6Protocol}[f])
	}
	if s.local {
		svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	}
	if !s.lb {
		svc.Spec.Type = corev1.ServiceTypeClusterIP
		svc.Spec.ExternalTrafficPolicy = ""
	}
	return svc
}

// applyTo copies the spec onto a Service read from the API server, for an edit.
func (s *svcSpec) applyTo(cur *corev1.Service, name string) {
	want := s.object(name)
	cur.Annotations, cur.Labels = want.Annotations, want.Labels
	cur.Spec.Selector = want.Spec.Selector
	cur.Spec.Ports[0].Port = want.Spec.Ports[0].Port
	cur.Spec.Ports[0].NodePort = 0
	cur.Spec.Type = want.Spec.Type
	cur.Spec.ExternalTrafficPolicy = want.Spec.ExternalTrafficPolicy
	cur.Spec.HealthCheckNodePort = 0
	if !s.lb {
		cur.Spec.AllocateLoadBalancerNodePorts = nil
	}
}

func (m *model) names() []string {
	out := make([]string, 0, len(m.specs))
	for n := range m.specs {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
