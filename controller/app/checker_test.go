package app_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/testenv"
)

// TestModelChecker runs random sequences of user actions and controller failures against
// the real API server and two real controller replicas with leader election, and checks
// at each quiescent point, against the reference model in checker_model_test.go (not the
// allocator), that:
//   - safety: no address is held by two Services that may not share it, nor shared across
//     namespaces in a pool that never allowed it;
//   - stability: no Service's address moved unless its own request changed (a malformed
//     annotation, a pool edit or deletion, a restart or a leader handover move nothing);
//   - liveness: every Service has every family the model can give it now, and a pending
//     Service's reason is true now;
//   - tenancy: a newly taken address comes from a pool whose serviceAllocation selects it;
//   - pool status: every pool's counts and Conflict condition agree with the model.
//
// Dimensions: Services of every family policy, sharing keys with ports and Local traffic
// policy, requested pools and addresses, malformed annotations, type flips; three pools
// (one overlaps another while that one is grown, one with tenancy rules, a reserved
// address and cross-namespace sharing), grown, shrunk, autoAssign flipped, deleted and
// recreated; controller restarts and leader handovers.
//
// IRONLB_CHECKER_SEED replays a seed; IRONLB_CHECKER_OPS sets the budget (go test runs a
// short one; make bench runs a soak).
func TestModelChecker(t *testing.T) {
	testenv.Require(t, env)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("IRONLB_CHECKER_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	ops := 300
	if s := os.Getenv("IRONLB_CHECKER_OPS"); s != "" {
		ops, _ = strconv.Atoi(s)
	}
	t.Logf("seed %d (replay: IRONLB_CHECKER_SEED=%d), %d operations", seed, seed, ops)
	start := time.Now()
	m := &model{rng: rand.New(rand.NewPCG(seed, seed)), specs: map[string]*svcSpec{}, changed: map[string]bool{},
		lastHeld: map[string]map[string]netip.Addr{}, pools: map[string]*poolSpec{}}
	env.EnsureNamespace(t, "ironlb-system", nil) // the Lease of the leader election
	for ns, labels := range checkerNamespaceLabels {
		env.EnsureNamespace(t, ns, labels)
	}
	for _, name := range checkerPools {
		m.pools[name] = &poolSpec{autoAssign: true}
	}
	m.pools["wide"].wide = true
	m.createPool(t, "wide")
	m.createPool(t, "team")
	t.Cleanup(func() {
		for _, name := range checkerPools {
			env.RemovePool(name)
		}
	})
	m.replicas = [2]*controller{startController(t, true), startController(t, true)}
	counts := map[string]int{}
	checks := 0
	for i := range ops {
		m.lastNote = ""
		op := m.step(t)
		counts[op]++
		m.history = append(m.history, fmt.Sprintf("%d %s %s", i, op, m.lastNote))
		if i%5 == 4 || i == ops-1 {
			m.check(t, i)
			checks++
			if t.Failed() {
				for _, h := range m.history[max(0, len(m.history)-15):] {
					t.Log(h)
				}
				t.Fatalf("invariant broken after operation %d; replay with IRONLB_CHECKER_SEED=%d IRONLB_CHECKER_OPS=%d", i, seed, ops)
			}
		}
	}
	t.Logf("operations: %v; %d checks in %v", counts, checks, time.Since(start).Round(time.Millisecond))
}

type model struct {
	rng      *rand.Rand
	specs    map[string]*svcSpec
	pools    map[string]*poolSpec
	changed  map[string]bool                  // Services whose request changed since the last check
	lastHeld map[string]map[string]netip.Addr // addresses of each Service at the last check
	replicas [2]*controller                   // leader-elected controller replicas
	next     int                              // the next Service's number
	// poolChanged: some pool's rules changed since the last check, so the tenancy of a
	// newly taken address is not judged against the current rules.
	poolChanged bool
	// history records each operation with its details, printed when a check fails.
	history  []string
	lastNote string
	barriers int // edits of the barrier Service so far (see barrier)
}

// note records the details of the current operation.
func (m *model) note(format string, args ...any) { m.lastNote = fmt.Sprintf(format, args...) }

// step applies one random operation and returns its name.
func (m *model) step(t *testing.T) string {
	t.Helper()
	names := m.names()
	switch r := m.rng.IntN(40); {
	case r < 12 || len(names) == 0:
		name := fmt.Sprintf("s%d", m.next)
		m.next++
		s := m.randomSpec(m.rng)
		m.specs[name] = s
		m.note("%s %+v", name, *s)
		createService(t, s.object(name))
		return "create"
	case r < 17:
		name := names[m.rng.IntN(len(names))]
		if err := env.Client.Delete(context.Background(), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: m.specs[name].ns, Name: name}}); err != nil {
			t.Fatal(err)
		}
		delete(m.specs, name)
		delete(m.lastHeld, name)
		m.note("%s", name)
		return "delete"
	case r < 27:
		name := names[m.rng.IntN(len(names))]
		s := m.specs[name]
		m.randomizeRequest(m.rng, s)
		s.lb = m.rng.IntN(6) != 0
		m.changed[name] = true
		m.note("%s %+v", name, *s)
		edit(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: name}}, func(cur *corev1.Service) { s.applyTo(cur, name) })
		return "edit"
	case r < 30:
		name := names[m.rng.IntN(len(names))]
		s := m.specs[name]
		if !s.lb || m.changed[name] {
			// Only a request the controller has seen can be kept: breaking an edit it has
			// not read yet would leave the model unsure which request is in force.
			return "malformed-skipped"
		}
		s.malformed = []string{ironlbv1.AnnotationLoadBalancerIPs, ironlbv1.AnnotationAddressPool, ironlbv1.AnnotationAllowSharedIP}[m.rng.IntN(3)]
		m.note("%s %+v", name, *s)
		edit(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: name}}, func(cur *corev1.Service) { s.applyTo(cur, name) })
		return "malformed"
	case r < 37:
		return m.poolStep(t)
	case r < 39:
		i := m.rng.IntN(2)
		m.note("replica %d", i)
		m.replicas[i].stop()
		m.replicas[i] = startController(t, true)
		return "handover" // a leader handover when replica i led, else a standby restart
	default:
		for i := range m.replicas {
			m.replicas[i].stop()
		}
		m.replicas = [2]*controller{startController(t, true), startController(t, true)}
		return "restart"
	}
}

// poolStep edits, deletes or recreates one pool.
func (m *model) poolStep(t *testing.T) string {
	t.Helper()
	name := checkerPools[m.rng.IntN(len(checkerPools))]
	p := m.pools[name]
	m.poolChanged = true
	defer func() { m.note("%s %+v", name, *p) }()
	if !p.exists {
		if m.poolObjectExists(t, name) {
			return "pool-recreate-skipped" // still held back by its finalizer
		}
		p.deleting = false
		m.createPool(t, name)
		return "pool-create"
	}
	if p.deleting {
		return "pool-deleting"
	}
	switch r := m.rng.IntN(6); {
	case r == 0 && name != "wide":
		p.deleting = true
		if err := env.Client.Delete(context.Background(), &ironlbv1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			t.Fatal(err)
		}
		return "pool-delete"
	case r <= 1:
		p.autoAssign = !p.autoAssign
	case r == 2 && name == "wide":
		p.wide = !p.wide
		m.updatePool(t, name)
		if p.wide {
			return "pool-grow"
		}
		return "pool-shrink"
	case r == 2 || r == 3 && name == "team":
		p.rule = (p.rule + 1 + m.rng.IntN(2)) % 3
	default:
		p.cross = !p.cross
		p.crossEver = p.crossEver || p.cross
	}
	m.updatePool(t, name)
	return "pool-edit"
}

func (m *model) createPool(t *testing.T, name string) {
	t.Helper()
	m.pools[name].exists = true
	m.pools[name].crossEver = m.pools[name].crossEver || m.pools[name].cross
	p := &ironlbv1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: m.poolObjectSpec(name)}
	if err := env.Client.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	m.pools[name].created = p.CreationTimestamp.Time
}

func (m *model) updatePool(t *testing.T, name string) {
	t.Helper()
	editPool(t, name, func(p *ironlbv1.IPAddressPool) { p.Spec = m.poolObjectSpec(name) })
}

func (m *model) poolObjectExists(t *testing.T, name string) bool {
	t.Helper()
	err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, &ironlbv1.IPAddressPool{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}
