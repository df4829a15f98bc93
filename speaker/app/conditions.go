package app

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/status"
	"github.com/ironlb/ironlb/speaker/plan"
)

// conditionWriter writes the L2Announced conditions this node reports, outside the
// reconcile: the plan hands it the conditions it wants (Set), and a worker writes, one
// Service at a time and at the client's rate, those whose stored condition differs. So a
// burst of thousands of Services neither holds the next plan (and the failover it may
// carry) behind the API client's rate limit, nor writes anything when nothing changed.
//
// The worker always writes the newest wanted condition, read when it writes, so a
// condition that changed again while queued is written once, in its last form: it never
// leaves a stale True behind. Every write comes back as an update event, which Recheck
// turns into one more comparison, so a condition another program overwrote is restored.
type conditionWriter struct {
	client   client.Client // reads from the cache, writes to the API server
	recorder events.EventRecorder
	queue    workqueue.TypedRateLimitingInterface[types.NamespacedName]

	mu   sync.Mutex
	want map[types.NamespacedName]plan.ServiceCondition // Service pointers are not kept
	// written is the last condition this writer wrote per Service, while it is wanted: the
	// cache may not hold it yet, and Set must not queue it again meanwhile.
	written map[types.NamespacedName]plan.ServiceCondition
}

func newConditionWriter(c client.Client, recorder events.EventRecorder) *conditionWriter {
	return &conditionWriter{
		client: c, recorder: recorder,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[types.NamespacedName](100*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[types.NamespacedName]{Name: "l2-conditions"}),
		want:    map[types.NamespacedName]plan.ServiceCondition{},
		written: map[types.NamespacedName]plan.ServiceCondition{},
	}
}

// Set makes conds the conditions this node reports, and queues the Services whose
// condition as the plan read it (from the cache) is not the wanted one. A Service left out
// is one this node no longer reports: another speaker does, or it is gone.
func (w *conditionWriter) Set(conds []plan.ServiceCondition) {
	want := make(map[types.NamespacedName]plan.ServiceCondition, len(conds))
	var queue []types.NamespacedName
	w.mu.Lock()
	for _, sc := range conds {
		key := client.ObjectKeyFromObject(sc.Service)
		if !holds(sc.Service, sc) && !sameWanted(w.written[key], sc) {
			queue = append(queue, key)
		}
		want[key] = plan.ServiceCondition{Condition: sc.Condition, Remove: sc.Remove}
	}
	for key := range w.written {
		if !sameWanted(w.written[key], want[key]) {
			delete(w.written, key)
		}
	}
	w.want = want
	w.mu.Unlock()
	for _, key := range queue {
		w.queue.Add(key)
	}
}

// Recheck compares a Service's stored condition with the wanted one again: its
// conditions changed, perhaps by another writer.
func (w *conditionWriter) Recheck(key types.NamespacedName) {
	w.mu.Lock()
	_, ok := w.want[key]
	delete(w.written, key) // the cache now holds what the API server has
	w.mu.Unlock()
	if ok {
		w.queue.Add(key)
	}
}

// Start runs the worker until ctx ends. It is a manager Runnable.
func (w *conditionWriter) Start(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		w.queue.ShutDown()
	}()
	for {
		key, shutdown := w.queue.Get()
		if shutdown {
			return nil
		}
		if err := w.write(ctx, key); err != nil && ctx.Err() == nil {
			w.queue.AddRateLimited(key)
		} else {
			w.queue.Forget(key)
		}
		w.queue.Done(key)
	}
}

// write brings one Service's condition in line with the wanted one, and raises the
// Announcing or NotAnnounced event when it wrote a condition.
func (w *conditionWriter) write(ctx context.Context, key types.NamespacedName) error {
	w.mu.Lock()
	sc, ok := w.want[key]
	w.mu.Unlock()
	if !ok {
		return nil
	}
	svc := &corev1.Service{}
	if err := w.client.Get(ctx, key, svc); err != nil {
		return client.IgnoreNotFound(err)
	}
	c := sc.Condition
	written, err := status.Writer{Client: w.client, Strategy: status.StrategicMergePatch}.Write(ctx, svc, func() {
		if sc.Remove {
			meta.RemoveStatusCondition(&svc.Status.Conditions, c.Type)
			return
		}
		c.ObservedGeneration = svc.Generation
		status.SetCondition(&svc.Status.Conditions, c)
	})
	if err != nil || !written {
		return err
	}
	w.mu.Lock()
	if cur, ok := w.want[key]; ok && sameWanted(cur, sc) {
		w.written[key] = sc
	}
	w.mu.Unlock()
	switch {
	case sc.Remove:
	case c.Status == metav1.ConditionTrue:
		w.recorder.Eventf(svc, nil, corev1.EventTypeNormal, ironlbv1.ReasonAnnouncing, ironlbv1.ActionAnnounce, "%s", c.Message)
	default:
		w.recorder.Eventf(svc, nil, corev1.EventTypeWarning, ironlbv1.EventNotAnnounced, ironlbv1.ActionAnnounce, "%s", c.Message)
	}
	return nil
}

// holds reports whether svc already carries what sc wants: the same condition (status,
// reason and message), or, for a removal, none of its type.
func holds(svc *corev1.Service, sc plan.ServiceCondition) bool {
	if sc.Remove {
		return meta.FindStatusCondition(svc.Status.Conditions, sc.Condition.Type) == nil
	}
	return status.SameCondition(&svc.Status.Conditions, sc.Condition)
}

// sameWanted reports whether two wanted conditions write the same thing.
func sameWanted(a, b plan.ServiceCondition) bool {
	if a.Remove || b.Remove {
		return a.Remove == b.Remove && a.Condition.Type == b.Condition.Type
	}
	x, y := a.Condition, b.Condition
	return x.Type != "" && x.Type == y.Type && x.Status == y.Status && x.Reason == y.Reason && x.Message == y.Message
}
