package service

import (
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ironlb/ironlb/internal/trigger"
)

// retryDelay batches the retries of waiting Services after a release: short enough that
// a freed address reaches a waiting Service in well under 100 ms, long enough that a
// burst of releases costs one pass over the waiting Services.
const retryDelay = 10 * time.Millisecond

// SetupWithManager registers the reconciler: it watches Services, the namespaces of
// waiting Services (their labels may now match a pool), and the allocator, which says when
// an address may have become free for a waiting Service.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, workers int) error {
	retry := trigger.Follow(retryDelay, r.Alloc.MayHaveFreed(), r.waiting)
	if err := mgr.Add(retry); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).Named("service").
		For(&corev1.Service{}).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.waitingIn)).
		WatchesRawSource(retry.Source()).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(r)
}

// waiting lists the Services the allocator says are waiting for an address or a family.
func (r *Reconciler) waiting() []types.NamespacedName {
	keys := r.Alloc.Waiting()
	out := make([]types.NamespacedName, 0, len(keys))
	for _, k := range keys {
		ns, name, _ := strings.Cut(k, "/")
		out = append(out, types.NamespacedName{Namespace: ns, Name: name})
	}
	return out
}

// waitingIn maps a namespace change to the Services of that namespace still waiting.
func (r *Reconciler) waitingIn(_ context.Context, obj client.Object) []reconcile.Request {
	var out []reconcile.Request
	for _, n := range r.waiting() {
		if n.Namespace == obj.GetName() {
			out = append(out, reconcile.Request{NamespacedName: n})
		}
	}
	return out
}
