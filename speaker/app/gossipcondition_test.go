package app

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/speaker/plan"
)

type discard struct{}

func (discard) Info(string, ...any) {}
func (discard) Warn(string, ...any) {}

// TestGossipWriterCoalesces: a flapping view is written at most once per interval, in
// its last form; an unchanged view is never written again; the kubelet's Ready condition
// on the Pod is kept, and the transition time moves only when the status does.
func TestGossipWriterCoalesces(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ironlb", Name: "speaker-a"},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	var mu sync.Mutex
	var writes []time.Time
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(pod).WithStatusSubresource(pod).
		WithInterceptorFuncs(interceptor.Funcs{SubResourcePatch: func(ctx context.Context, c client.Client, sub string,
			obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			mu.Lock()
			writes = append(writes, time.Now())
			mu.Unlock()
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		}}).Build()
	w := newGossipWriter(c, types.NamespacedName{Namespace: "ironlb", Name: "speaker-a"}, "ironlb-speaker-a", discard{})
	w.every = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = w.Start(ctx) }()

	count := func() int { mu.Lock(); defer mu.Unlock(); return len(writes) }
	read := func() *corev1.PodCondition {
		var p corev1.Pod
		if err := c.Get(ctx, client.ObjectKeyFromObject(pod), &p); err != nil {
			t.Fatal(err)
		}
		if len(p.Status.Conditions) != 2 {
			t.Errorf("conditions %+v, want the kubelet's Ready and the Gossip condition", p.Status.Conditions)
		}
		for i := range p.Status.Conditions {
			if p.Status.Conditions[i].Type == ironlbv1.ConditionGossip {
				return &p.Status.Conditions[i]
			}
		}
		t.Fatal("no Gossip condition")
		return nil
	}
	waitFor := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for count() < n && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if count() < n {
			t.Fatalf("%d writes, want %d", count(), n)
		}
	}
	all := plan.GossipCondition{Status: corev1.ConditionTrue, Reason: ironlbv1.ReasonAllJoined, Message: "2 of 2 speakers: a, b"}
	partial := plan.GossipCondition{Status: corev1.ConditionFalse, Reason: ironlbv1.ReasonPartial, Message: "1 of 2 speakers: a; missing: b"}
	w.Set(all)
	waitFor(1)
	first := read()
	if first.Status != corev1.ConditionTrue || first.Message != all.Message {
		t.Fatalf("written %+v", first)
	}
	// Flapping for a second: about five intervals, so at most about five writes, and
	// the last form wins.
	start := time.Now()
	for i := 0; time.Since(start) < time.Second; i++ {
		if i%2 == 0 {
			w.Set(partial)
		} else {
			w.Set(all)
		}
		time.Sleep(time.Millisecond)
	}
	w.Set(partial)
	time.Sleep(500 * time.Millisecond)
	if n := count(); n > 8 {
		t.Errorf("%d writes while flapping for a second with a 200ms interval", n)
	}
	mu.Lock()
	for i := 1; i < len(writes); i++ {
		if gap := writes[i].Sub(writes[i-1]); gap < 190*time.Millisecond {
			t.Errorf("writes %d and %d only %s apart", i-1, i, gap)
		}
	}
	mu.Unlock()
	last := read()
	if last.Status != corev1.ConditionFalse || last.Message != partial.Message || !last.LastTransitionTime.After(first.LastTransitionTime.Time) {
		t.Errorf("after flapping: %+v, want the last (Partial) view with a later transition time than %s", last, first.LastTransitionTime)
	}
	// Steady: the same view again writes nothing.
	n := count()
	w.Set(partial)
	time.Sleep(500 * time.Millisecond)
	if count() != n {
		t.Errorf("an unchanged view was written again")
	}
	// A new message with the same status keeps the transition time.
	w.Set(plan.GossipCondition{Status: corev1.ConditionFalse, Reason: ironlbv1.ReasonAlone, Message: "1 of 2 speakers: a; alone"})
	waitFor(n + 1)
	if got := read(); got.Reason != ironlbv1.ReasonAlone || !got.LastTransitionTime.Equal(&last.LastTransitionTime) {
		t.Errorf("after a message change: %+v, want reason Alone and the transition time %s", got, last.LastTransitionTime)
	}
}

// TestGossipWritesStartNoPlan: every speaker's Gossip condition write is an update of a
// speaker Pod that every speaker watches; it must not start a plan on every node, while
// what the isolation verdict reads of a Pod (Ready, node, deletion) still does.
func TestGossipWritesStartNoPlan(t *testing.T) {
	base := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ironlb", Name: "speaker-a", UID: "u1"}, Spec: corev1.PodSpec{NodeName: "a"},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	change := map[string]struct {
		mutate func(*corev1.Pod)
		plan   bool
	}{
		"the Gossip condition": {func(p *corev1.Pod) {
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: ironlbv1.ConditionGossip, Status: corev1.ConditionTrue})
		}, false},
		"a container restart count": {func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "speaker", RestartCount: 1}}
		}, false},
		"Ready":    {func(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }, true},
		"the node": {func(p *corev1.Pod) { p.Spec.NodeName = "b" }, true},
		"the UID":  {func(p *corev1.Pod) { p.UID = "u2" }, true},
		"deletion": {func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: time.Now()} }, true},
	}
	for name, c := range change {
		updated := base.DeepCopy()
		c.mutate(updated)
		if got := planInputChanged(base, updated); got != c.plan {
			t.Errorf("%s: plan %v, want %v", name, got, c.plan)
		}
	}
}
