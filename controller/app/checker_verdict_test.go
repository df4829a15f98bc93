package app_test

import (
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
)

// observed is what the API server shows at a quiescent point.
type observed struct {
	held    map[string]map[string]netip.Addr // Service -> family -> address
	holders map[netip.Addr][]string
	conds   map[string]string // Service -> reason of a False IPAllocated condition
	msgs    map[string]string
}

func observe(got map[string]corev1.Service) observed {
	o := observed{held: map[string]map[string]netip.Addr{}, holders: map[netip.Addr][]string{}, conds: map[string]string{}, msgs: map[string]string{}}
	for name, svc := range got {
		o.held[name] = map[string]netip.Addr{}
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			ip, err := netip.ParseAddr(ing.IP)
			if err != nil {
				continue
			}
			o.held[name][family(ip)] = ip
			o.holders[ip] = append(o.holders[ip], name)
		}
		if c := meta.FindStatusCondition(svc.Status.Conditions, ironlbv1.ConditionIPAllocated); c != nil && c.Status == "False" {
			o.conds[name], o.msgs[name] = c.Reason, c.Message
		}
	}
	for _, hs := range o.holders {
		slices.Sort(hs)
	}
	return o
}

// expectFamily is the model's answer for one family of a Service that lacks it: "" when
// some address is there for it to take right now, else the reason it must be waiting with.
// It follows the documented order of checks: the named pool (exists and usable, serves the
// Service), then a requested address (in a usable pool that serves the Service, free or
// shareable), then automatic assignment (some pool, with the family, with a free address
// or one its sharing key may join).
func (m *model) expectFamily(name string, s *svcSpec, f string, o observed) string {
	var cands []string
	if s.pool != "" {
		if !m.usable(s.pool) {
			return ironlbv1.ReasonNoMatchingPool
		}
		if !m.allows(s.pool, s) {
			return ironlbv1.ReasonPoolNotAllowed
		}
		cands = []string{s.pool}
	}
	if req, ok := s.ips[f]; ok {
		ip := netip.MustParseAddr(req)
		pool := ""
		refused := false
		for _, p := range checkerPools {
			if (s.pool == "" || p == s.pool) && m.usable(p) && m.contains(p, ip) {
				if m.allows(p, s) {
					pool = p
					break
				}
				refused = true
			}
		}
		switch {
		case pool == "" && refused:
			return ironlbv1.ReasonPoolNotAllowed
		case pool == "":
			return ironlbv1.ReasonRequestedIPNotInPool
		}
		return m.joinVerdict(name, s, ip, pool, o)
	}
	if s.pool == "" {
		for _, p := range checkerPools {
			if m.usable(p) && m.pools[p].autoAssign && m.allows(p, s) {
				cands = append(cands, p)
			}
		}
		if len(cands) == 0 {
			return ironlbv1.ReasonNoMatchingPool
		}
	}
	hasFamily := false
	for _, p := range cands {
		for _, ip := range m.addresses(p, f) {
			hasFamily = true
			if neverAutomatic(p, ip) {
				continue
			}
			if len(o.holders[ip]) == 0 || s.key != "" && m.joinVerdict(name, s, ip, p, o) == "" {
				return ""
			}
		}
	}
	if !hasFamily {
		return ironlbv1.ReasonFamilyUnavailable
	}
	return ironlbv1.ReasonPoolExhausted
}

// unknownVerdict is the model admitting it cannot tell.
const unknownVerdict = "?"

// joinVerdict: may the Service take ip of pool now, given who holds it?
func (m *model) joinVerdict(name string, s *svcSpec, ip netip.Addr, pool string, o observed) string {
	for _, h := range o.holders[ip] {
		if h == name {
			continue
		}
		hs := m.specs[h]
		if hs.malformed == ironlbv1.AnnotationAllowSharedIP {
			// Its key is the one it had until a restart, then its co-holders' or none:
			// the model does not judge who may join it.
			return unknownVerdict
		}
		if !shareable(s, hs, !m.pools[pool].cross) {
			if s.key != "" && hs.key != "" {
				return ironlbv1.ReasonSharingConflict
			}
			return ironlbv1.ReasonRequestedIPInUse
		}
	}
	return ""
}

// checkService checks one LoadBalancer Service: its requested addresses, stability,
// liveness (it has every family the model can give it) and the truth of its reason.
func (m *model) checkService(step int, name string, o observed, errorf func(string, ...any)) {
	s := m.specs[name]
	held := o.held[name]
	before := m.lastHeld[name]
	if s.malformed != "" || !m.changed[name] {
		for f, ip := range before {
			if held[f] != ip {
				errorf("step %d: %s lost or moved its %s address %s (now %v) although its request did not change (%+v; condition %q: %s; holders %v)", step, name, f, ip, held[f], *s, o.conds[name], o.msgs[name], o.holders[ip])
			}
		}
	}
	if s.malformed != "" {
		if len(held) == 0 && o.conds[name] != request_InvalidAnnotation {
			errorf("step %d: %s has a malformed %s but its condition says %q", step, name, s.malformed, o.conds[name])
		}
		return
	}
	for f, ip := range held {
		if !slices.Contains(s.wanted(), f) {
			errorf("step %d: %s holds %s of a family it does not want", step, name, ip)
		}
		if req, ok := s.ips[f]; ok && netip.MustParseAddr(req) != ip {
			errorf("step %d: %s requested %s but has %s", step, name, req, ip)
		}
		if _, had := before[f]; !had && !m.poolChanged && m.newlyAllowedIn(s, ip) == "" {
			errorf("step %d: %s took %s from a pool whose serviceAllocation does not select it", step, name, ip)
		}
	}
	var missing, reasons []string
	for _, f := range s.wanted() {
		if _, ok := held[f]; ok {
			continue
		}
		missing = append(missing, f)
		r := m.expectFamily(name, s, f, o)
		if r == unknownVerdict {
			return
		}
		if r == "" {
			if s.policy != corev1.IPFamilyPolicyRequireDualStack || len(held) > 0 {
				errorf("step %d: %s lacks its %s address although the model can give it one (held %v, condition %q: %s)", step, name, f, held, o.conds[name], o.msgs[name])
			}
		} else {
			reasons = append(reasons, r)
		}
	}
	if len(held) > 0 || len(missing) == 0 {
		return
	}
	// The reason is that of a family the Service lacks; which one was reported first
	// depends on what others took since its last attempt, which is not a retry trigger.
	if len(reasons) == 0 {
		errorf("step %d: %s is pending (%q: %s) although the model can give it every family", step, name, o.conds[name], o.msgs[name])
	} else if !slices.Contains(reasons, o.conds[name]) {
		errorf("step %d: %s is pending with %q (%s), the model says %v", step, name, o.conds[name], o.msgs[name], reasons)
	}
}

// request_InvalidAnnotation is the request package's reason, spelled here once.
const request_InvalidAnnotation = "InvalidAnnotation"

// newlyAllowedIn returns a pool that contains ip and would have served the Service, "" if
// none: a newly taken address must come from a pool that allows the Service.
func (m *model) newlyAllowedIn(s *svcSpec, ip netip.Addr) string {
	for _, p := range checkerPools {
		if m.pools[p].exists && m.contains(p, ip) && m.allows(p, s) {
			return p
		}
	}
	return ""
}

// checkSafety is design invariant 1 with tenancy: two holders of one address must be able
// to share it, and across namespaces only in a pool that has allowed that at some point.
func (m *model) checkSafety(step int, o observed, errorf func(string, ...any)) {
	for ip, hs := range o.holders {
		for i := range hs {
			for j := i + 1; j < len(hs); j++ {
				a, b := m.specs[hs[i]], m.specs[hs[j]]
				if !shareable(a, b, false) {
					errorf("step %d: %s is held by %s and %s, which may not share it", step, ip, hs[i], hs[j])
				}
				if a.ns != b.ns && !m.crossEverIn(ip) {
					errorf("step %d: %s is shared across namespaces by %s and %s, which no pool of it ever allowed", step, ip, hs[i], hs[j])
				}
			}
		}
	}
}

func (m *model) crossEverIn(ip netip.Addr) bool {
	for _, p := range checkerPools {
		if m.pools[p].crossEver && m.contains(p, ip) {
			return true
		}
	}
	return false
}

// expectedUsage is the model's status of one family of a pool: total, assigned (distinct
// held addresses in the pool), available (neither reserved, nor unspecified, nor held).
func (m *model) expectedUsage(pool, f string, o observed) *ironlbv1.FamilyUsage {
	all := m.addresses(pool, f)
	if len(all) == 0 {
		return nil
	}
	u := &ironlbv1.FamilyUsage{Total: fmt.Sprint(len(all))}
	avail := 0
	for _, ip := range all {
		held := len(o.holders[ip]) > 0
		if held {
			u.Assigned++
		}
		if !held && !neverAutomatic(pool, ip) {
			avail++
		}
	}
	u.Available = big.NewInt(int64(avail)).String()
	return u
}

// poolStatusProblems compares every existing pool's status with the model; "" when equal.
func (m *model) poolStatusProblems(pools map[string]ironlbv1.IPAddressPool, o observed) string {
	var bad []string
	for _, name := range checkerPools {
		spec := m.pools[name]
		p, ok := pools[name]
		if !spec.exists || spec.deleting {
			continue
		}
		if !ok {
			bad = append(bad, name+" does not exist")
			continue
		}
		for f, got := range map[string]*ironlbv1.FamilyUsage{"v4": p.Status.IPv4, "v6": p.Status.IPv6} {
			want := m.expectedUsage(name, f, o)
			if !sameUsage(want, got) {
				bad = append(bad, fmt.Sprintf("pool %s %s status %+v, model %+v", name, f, got, want))
			}
		}
		conflict := meta.IsStatusConditionTrue(p.Status.Conditions, ironlbv1.ConditionConflict)
		if conflict != m.conflict(name) {
			bad = append(bad, fmt.Sprintf("pool %s Conflict=%v, model %v", name, conflict, m.conflict(name)))
		}
	}
	return strings.Join(bad, "; ")
}

func sameUsage(a, b *ironlbv1.FamilyUsage) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// neverAutomatic: the reserved address and the unspecified address are never handed out
// automatically.
func neverAutomatic(pool string, ip netip.Addr) bool {
	return ip.IsUnspecified() || pool == "team" && ip.String() == teamReserved
}
