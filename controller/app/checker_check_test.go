package app_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
)

// check waits for a quiescent point and holds the controller to the model there.
func (m *model) check(t *testing.T, step int) {
	t.Helper()
	got, pools := m.quiesce(t)
	for _, name := range checkerPools {
		if p := m.pools[name]; p.deleting {
			if _, ok := pools[name]; !ok {
				p.exists, p.deleting = false, false
			}
		}
	}
	o := observe(got)
	errorf := func(format string, args ...any) { t.Errorf(format, args...) }
	for _, name := range m.names() {
		s := m.specs[name]
		if !s.lb {
			if len(o.held[name]) > 0 {
				t.Errorf("step %d: %s is not a LoadBalancer but keeps %v", step, name, o.held[name])
			}
			continue
		}
		m.checkService(step, name, o, errorf)
	}
	m.checkSafety(step, o, errorf)
	// Pool status is written after the Services' statuses; give it a moment to catch up.
	deadline := time.Now().Add(10 * time.Second)
	for problems := m.poolStatusProblems(pools, o); problems != ""; problems = m.poolStatusProblems(pools, o) {
		if time.Now().After(deadline) {
			t.Errorf("step %d: pool status disagrees with the model: %s", step, problems)
			break
		}
		time.Sleep(200 * time.Millisecond)
		pools = m.readPools(t)
	}
	if t.Failed() {
		for _, name := range checkerPools {
			t.Logf("pool %s model %+v status %+v", name, *m.pools[name], pools[name].Status)
		}
		t.Logf("holders %v", o.holders)
	}
	m.lastHeld = o.held
	clear(m.changed)
	m.poolChanged = false
}

// quiesce waits until the leader has read every edit made so far (see barrier), the
// Services' statuses stop changing for a second, and every LoadBalancer Service has an
// address or a condition for its current spec.
func (m *model) quiesce(t *testing.T) (map[string]corev1.Service, map[string]ironlbv1.IPAddressPool) {
	t.Helper()
	m.barrier(t)
	var last string
	stableSince := time.Now()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		got := m.readServices(t)
		var b strings.Builder
		settled := true
		for _, n := range m.names() {
			svc := got[n]
			cond := meta.FindStatusCondition(svc.Status.Conditions, ironlbv1.ConditionIPAllocated)
			fmt.Fprintf(&b, "%s=%s/%v;", n, ingress(&svc), cond)
			if m.specs[n].lb && ingress(&svc) == "" && (cond == nil || cond.ObservedGeneration != svc.Generation) {
				settled = false
			}
		}
		if b.String() != last || !settled {
			last, stableSince = b.String(), time.Now()
		} else if time.Since(stableSince) > time.Second {
			return got, m.readPools(t)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the controller did not settle in 30s: %s", last)
	return nil, nil
}

func (m *model) readServices(t *testing.T) map[string]corev1.Service {
	t.Helper()
	out := map[string]corev1.Service{}
	for ns := range checkerNamespaceLabels {
		var list corev1.ServiceList
		if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		for _, s := range list.Items {
			out[s.Name] = s
		}
	}
	return out
}

func (m *model) readPools(t *testing.T) map[string]ironlbv1.IPAddressPool {
	t.Helper()
	var list ironlbv1.IPAddressPoolList
	if err := env.Client.List(context.Background(), &list); err != nil {
		t.Fatal(err)
	}
	out := map[string]ironlbv1.IPAddressPool{}
	for _, p := range list.Items {
		out[p.Name] = p
	}
	return out
}

// barrier edits a Service outside the checker's namespaces and waits until a controller
// answered that edit. Informers deliver a resource's events in order, so by then the
// leader has queued every Service edit made before; without it, a quiet second while a
// new leader was still starting passed for a settled cluster, and the check read a
// condition older than an annotation-only edit (which does not bump the generation).
// The barrier's annotation value is malformed on purpose: the condition's message quotes
// it, and a malformed request takes no address from the model.
func (m *model) barrier(t *testing.T) {
	t.Helper()
	m.barriers++
	value := fmt.Sprintf("barrier-%d", m.barriers)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ironlb-system", Name: "checker-barrier"}}
	if m.barriers == 1 {
		b := lbService(svc.Namespace, svc.Name, map[string]string{ironlbv1.AnnotationNodeAddressFallback: value}, 80)
		createService(t, b)
	} else {
		edit(t, svc, func(cur *corev1.Service) { cur.Annotations[ironlbv1.AnnotationNodeAddressFallback] = value })
	}
	waitFor(t, 60*time.Second, func() string {
		cur := getService(t, svc.Namespace, svc.Name)
		cond := meta.FindStatusCondition(cur.Status.Conditions, ironlbv1.ConditionIPAllocated)
		if cond == nil || !strings.Contains(cond.Message, strconv.Quote(value)) {
			return fmt.Sprintf("no controller answered the barrier edit %q: condition %v", value, cond)
		}
		return ""
	})
}
