package app

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/speaker/plan"
)

// writerFixture is a conditionWriter on a fake client that counts status writes.
type writerFixture struct {
	w      *conditionWriter
	c      client.Client
	writes int
	events *events.FakeRecorder
}

func newWriterFixture(t *testing.T, objs ...client.Object) *writerFixture {
	t.Helper()
	f := &writerFixture{events: events.NewFakeRecorder(100)}
	f.c = fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(objs...).WithStatusSubresource(objs...).
		WithInterceptorFuncs(interceptor.Funcs{
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
				f.writes++
				return c.SubResource(sub).Patch(ctx, obj, p, opts...)
			},
			SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
				f.writes++
				return c.SubResource(sub).Update(ctx, obj, opts...)
			},
		}).Build()
	f.w = newConditionWriter(f.c, f.events)
	t.Cleanup(f.w.queue.ShutDown)
	return f
}

// drain runs the worker until the queue is empty, as Start does.
func (f *writerFixture) drain(t *testing.T) {
	t.Helper()
	for f.w.queue.Len() > 0 {
		key, _ := f.w.queue.Get()
		if err := f.w.write(context.Background(), key); err != nil {
			t.Fatalf("writing %s: %v", key, err)
		}
		f.w.queue.Done(key)
	}
}

// get reads a Service as the API server has it (the fake client has no separate cache).
func (f *writerFixture) get(t *testing.T, name string) *corev1.Service {
	t.Helper()
	svc := &corev1.Service{}
	if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: name}, svc); err != nil {
		t.Fatal(err)
	}
	return svc
}

func announced(status metav1.ConditionStatus, msg string) metav1.Condition {
	reason := ironlbv1.ReasonAnnouncing
	if status != metav1.ConditionTrue {
		reason = ironlbv1.ReasonNoEligibleNode
	}
	return metav1.Condition{Type: ironlbv1.ConditionL2Announced, Status: status, Reason: reason, Message: msg}
}

func lbService(name string, conds ...metav1.Condition) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
	s.Status.Conditions = conds
	return s
}

// TestConditionWriterWritesNothingWhenUnchanged: a plan that wants the conditions the
// Services already carry queues nothing and writes nothing, however often it runs.
func TestConditionWriterWritesNothingWhenUnchanged(t *testing.T) {
	up := announced(metav1.ConditionTrue, "node a answers ARP/NDP for 198.18.0.1 on every suitable interface")
	f := newWriterFixture(t, lbService("web", up), lbService("db"))
	for range 3 {
		f.w.Set([]plan.ServiceCondition{
			{Service: f.get(t, "web"), Condition: up},
			{Service: f.get(t, "db"), Condition: metav1.Condition{Type: ironlbv1.ConditionL2Announced}, Remove: true},
		})
		if n := f.w.queue.Len(); n != 0 {
			t.Fatalf("%d Services queued for conditions they already carry", n)
		}
		f.drain(t)
	}
	if f.writes != 0 {
		t.Errorf("%d status writes, want none", f.writes)
	}
}

// TestConditionWriterWritesTheNewestOnce: a changed condition is written once, and one
// that changed again before the worker got to it is written in its newest form only, so
// no stale True is left; a write is not repeated while the cache lags behind it.
func TestConditionWriterWritesTheNewestOnce(t *testing.T) {
	up := announced(metav1.ConditionTrue, "node a answers")
	down := announced(metav1.ConditionFalse, "198.18.0.1 is not announced: no speaker is alive")
	f := newWriterFixture(t, lbService("web"))
	stale := f.get(t, "web") // what the plans read: the cache before any write
	f.w.Set([]plan.ServiceCondition{{Service: stale, Condition: up}})
	f.w.Set([]plan.ServiceCondition{{Service: stale, Condition: down}})
	f.drain(t)
	if f.writes != 1 {
		t.Fatalf("%d writes, want 1", f.writes)
	}
	got := f.get(t, "web").Status.Conditions
	if len(got) != 1 || got[0].Status != metav1.ConditionFalse || got[0].Message != down.Message {
		t.Fatalf("stored %+v, want %+v", got, down)
	}
	// The next plan still reads the stale cache: the write is not sent again.
	f.w.Set([]plan.ServiceCondition{{Service: stale, Condition: down}})
	f.drain(t)
	if f.writes != 1 {
		t.Errorf("%d writes after a plan that read a lagging cache, want still 1", f.writes)
	}
	if n := len(f.events.Events); n != 1 {
		t.Errorf("%d events, want 1 (NotAnnounced)", n)
	}
}

// TestConditionWriterRestoresAnOverwrittenCondition: when another writer changes the
// condition (the update event calls Recheck), the wanted one is written again.
func TestConditionWriterRestoresAnOverwrittenCondition(t *testing.T) {
	up := announced(metav1.ConditionTrue, "node a answers")
	f := newWriterFixture(t, lbService("web"))
	f.w.Set([]plan.ServiceCondition{{Service: f.get(t, "web"), Condition: up}})
	f.drain(t)
	other := f.get(t, "web")
	other.Status.Conditions = []metav1.Condition{announced(metav1.ConditionFalse, "someone else")}
	other.Status.Conditions[0].LastTransitionTime = metav1.Now()
	if err := f.c.Status().Update(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	f.writes = 0
	f.w.Recheck(client.ObjectKeyFromObject(other))
	f.drain(t)
	if got := f.get(t, "web").Status.Conditions; f.writes != 1 || len(got) != 1 || got[0].Status != metav1.ConditionTrue {
		t.Errorf("%d writes, stored %+v; want one write restoring %+v", f.writes, got, up)
	}
	// A Service this node does not report is left alone.
	f.writes = 0
	f.w.Set(nil)
	f.w.Recheck(client.ObjectKeyFromObject(other))
	f.drain(t)
	if f.writes != 0 {
		t.Errorf("%d writes for a Service this node does not report", f.writes)
	}
}
