package app_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/testenv"
)

// TestModelChecker runs random sequences of user actions and controller restarts against
// the real API server and the real controller, and checks at each quiescent point, against
// a reference model written here (not the allocator), that:
//   - safety: no address is held by two Services that may not share it;
//   - stability: no Service's address moved unless its own request changed;
//   - liveness: every Service still pending has a reason that is true right now (no free
//     address left for PoolExhausted, its requested address held by one it cannot share
//     with for RequestedIPInUse and SharingConflict).
//
// IRONLB_CHECKER_SEED replays a seed; IRONLB_CHECKER_OPS sets the budget (make test runs
// a short one; a soak sets thousands).
func TestModelChecker(t *testing.T) {
	testenv.Require(t, env)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("IRONLB_CHECKER_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	ops := 60
	if s := os.Getenv("IRONLB_CHECKER_OPS"); s != "" {
		ops, _ = strconv.Atoi(s)
	}
	t.Logf("seed %d (replay: IRONLB_CHECKER_SEED=%d), %d operations", seed, seed, ops)
	rng := rand.New(rand.NewPCG(seed, seed))
	const ns, poolName = "checker", "checker"
	env.EnsureNamespace(t, ns, nil)
	small, large := addrs("198.18.150.0/29"), addrs("198.18.150.0/28")
	env.CreatePool(t, poolName, ironlbv1.IPAddressPoolSpec{Addresses: small})
	m := &model{rng: rng, specs: map[string]*svcSpec{}, changed: map[string]bool{}, held: map[string]string{}, pool: "198.18.150.0/29"}
	c := startController(t, false)
	counts := map[string]int{}
	for i := range ops {
		op := m.step(t, ns, poolName, small, large, &c)
		counts[op]++
		if i%5 == 4 || i == ops-1 {
			m.check(t, ns, i)
			if t.Failed() {
				t.Fatalf("invariant broken after operation %d; replay with IRONLB_CHECKER_SEED=%d", i, seed)
			}
		}
	}
	t.Logf("operations: %v", counts)
}

type svcSpec struct {
	key     string // sharing key, "" for none
	port    int32
	request string // requested address, "" for none
	lb      bool   // type LoadBalancer
}

type model struct {
	rng     *rand.Rand
	specs   map[string]*svcSpec
	changed map[string]bool   // Services whose request changed since the last check
	held    map[string]string // address of each Service at the last check
	pool    string
	next    int
}

func (m *model) randomSpec() *svcSpec {
	s := &svcSpec{key: []string{"", "a", "b"}[m.rng.IntN(3)], port: 80 + int32(m.rng.IntN(2)), lb: true}
	if m.rng.IntN(4) == 0 {
		s.request = fmt.Sprintf("198.18.150.%d", m.rng.IntN(16))
	}
	return s
}

func (m *model) names() []string {
	out := make([]string, 0, len(m.specs))
	for n := range m.specs {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// step applies one random operation and returns its name.
func (m *model) step(t *testing.T, ns, poolName string, small, large []ironlbv1.AddressRange, c **controller) string {
	t.Helper()
	ctx := context.Background()
	names := m.names()
	switch r := m.rng.IntN(20); {
	case r < 7 || len(names) == 0:
		name := fmt.Sprintf("s%d", m.next)
		m.next++
		s := m.randomSpec()
		m.specs[name] = s
		createService(t, m.object(ns, name, s))
		return "create"
	case r < 10:
		name := names[m.rng.IntN(len(names))]
		delete(m.specs, name)
		delete(m.held, name)
		if err := env.Client.Delete(ctx, &corev1.Service{ObjectMeta: objMeta(ns, name)}); err != nil {
			t.Fatal(err)
		}
		return "delete"
	case r < 16:
		name := names[m.rng.IntN(len(names))]
		s := m.randomSpec()
		s.lb = m.rng.IntN(5) != 0
		m.specs[name] = s
		m.changed[name] = true
		edit(t, &corev1.Service{ObjectMeta: objMeta(ns, name)}, func(cur *corev1.Service) {
			want := m.object(ns, name, s)
			cur.Annotations = want.Annotations
			cur.Spec.Ports[0].Port = s.port
			cur.Spec.Ports[0].NodePort = 0
			cur.Spec.Type = want.Spec.Type
			if !s.lb {
				cur.Spec.AllocateLoadBalancerNodePorts = nil
			}
		})
		return "edit"
	case r < 18:
		spec, cidr := large, "198.18.150.0/28"
		if m.pool == cidr {
			spec, cidr = small, "198.18.150.0/29"
		}
		m.pool = cidr
		for range 20 {
			var p ironlbv1.IPAddressPool
			if err := env.Client.Get(ctx, client.ObjectKey{Name: poolName}, &p); err != nil {
				t.Fatal(err)
			}
			p.Spec.Addresses = spec
			if err := env.Client.Update(ctx, &p); err == nil {
				break
			}
		}
		return "pool-resize"
	default:
		m.quiesce(t, ns) // a restart of a controller that has caught up
		(*c).stop()
		*c = startController(t, false)
		return "restart"
	}
}

func objMeta(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }

func (m *model) object(ns, name string, s *svcSpec) *corev1.Service {
	ann := map[string]string{}
	if s.key != "" {
		ann[ironlbv1.AnnotationAllowSharedIP] = s.key
	}
	if s.request != "" {
		ann[ironlbv1.AnnotationLoadBalancerIPs] = s.request
	}
	svc := lbService(ns, name, ann, s.port)
	if !s.lb {
		svc.Spec.Type = corev1.ServiceTypeClusterIP
	}
	svc.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicySingleStack)
	return svc
}

// quiesce waits until the Services' statuses stop changing for a second.
func (m *model) quiesce(t *testing.T, ns string) map[string]corev1.Service {
	t.Helper()
	var last string
	stableSince := time.Now()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		got := m.read(t, ns)
		var b strings.Builder
		settled := true
		for _, n := range m.names() {
			svc := got[n]
			cond := meta.FindStatusCondition(svc.Status.Conditions, ironlbv1.ConditionIPAllocated)
			fmt.Fprintf(&b, "%s=%s/%v;", n, ingress(&svc), cond)
			// A LoadBalancer Service the controller has looked at has an address or a
			// condition for its current spec.
			if m.specs[n].lb && ingress(&svc) == "" && (cond == nil || cond.ObservedGeneration != svc.Generation) {
				settled = false
			}
		}
		if b.String() != last || !settled {
			last, stableSince = b.String(), time.Now()
		} else if time.Since(stableSince) > time.Second {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the controller did not settle in 30s: %s", last)
	return nil
}

func (m *model) read(t *testing.T, ns string) map[string]corev1.Service {
	t.Helper()
	var list corev1.ServiceList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	out := map[string]corev1.Service{}
	for _, s := range list.Items {
		out[s.Name] = s
	}
	return out
}

// canShare is the model's own sharing rule (design invariant 1): both keyed with the same
// key, different ports (the checker uses Cluster traffic policy only).
func canShare(a, b *svcSpec) bool { return a.key != "" && a.key == b.key && a.port != b.port }

func (m *model) check(t *testing.T, ns string, step int) {
	t.Helper()
	got := m.quiesce(t, ns)
	pool := netip.MustParsePrefix(m.pool)
	holders := map[string][]string{}
	for _, n := range m.names() {
		s := m.specs[n]
		svc := got[n]
		ip := ingress(&svc)
		if !s.lb {
			if ip != "" {
				t.Errorf("step %d: %s is not a LoadBalancer but keeps %s", step, n, ip)
			}
			continue
		}
		if ip != "" {
			holders[ip] = append(holders[ip], n)
			if s.request != "" && ip != s.request {
				t.Errorf("step %d: %s requested %s but has %s", step, n, s.request, ip)
			}
		}
		if old, ok := m.held[n]; ok && old != ip && !m.changed[n] {
			t.Errorf("step %d: %s moved from %s to %q although its request did not change", step, n, old, ip)
		}
	}
	for ip, hs := range holders {
		for i := range hs {
			for j := i + 1; j < len(hs); j++ {
				if !canShare(m.specs[hs[i]], m.specs[hs[j]]) {
					t.Errorf("step %d: %s is held by %s and %s, which may not share it", step, ip, hs[i], hs[j])
				}
			}
		}
	}
	for _, n := range m.names() {
		s := m.specs[n]
		svc := got[n]
		if !s.lb || ingress(&svc) != "" {
			continue
		}
		cond := meta.FindStatusCondition(svc.Status.Conditions, ironlbv1.ConditionIPAllocated)
		if cond == nil {
			t.Errorf("step %d: %s has neither an address nor a condition", step, n)
			continue
		}
		switch cond.Reason {
		case "PoolExhausted":
			for a := pool.Addr(); pool.Contains(a); a = a.Next() {
				if len(holders[a.String()]) == 0 {
					t.Errorf("step %d: %s is pending PoolExhausted but %s is free", step, n, a)
					break
				}
			}
		case "RequestedIPInUse", "SharingConflict":
			hs := holders[s.request]
			blocked := false
			for _, h := range hs {
				blocked = blocked || !canShare(s, m.specs[h])
			}
			if !blocked {
				t.Errorf("step %d: %s is pending %s but %s is held by %v, which it may share with", step, n, cond.Reason, s.request, hs)
			}
		case "RequestedIPNotInPool":
			if pool.Contains(netip.MustParseAddr(s.request)) {
				t.Errorf("step %d: %s is pending RequestedIPNotInPool but %s is in the pool %s", step, n, s.request, pool)
			}
		default:
			t.Errorf("step %d: %s is pending with an unexpected reason %s: %s", step, n, cond.Reason, cond.Message)
		}
	}
	m.held = map[string]string{}
	for ip, hs := range holders {
		for _, h := range hs {
			m.held[h] = ip
		}
	}
	clear(m.changed)
}
