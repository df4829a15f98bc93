package pool

import (
	"context"
	"maps"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/trigger"
)

// statusDelay caps pool status refreshes at about one a second per pool, whatever the
// allocation rate: a burst of 3000 allocations costs a handful of pool writes.
const statusDelay = time.Second

// SetupWithManager registers the reconciler. It watches pool specs (not the status it
// writes itself, which would loop) and the allocator, which says whose usage changed.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	usage := trigger.Follow(statusDelay, r.Alloc.UsageChanged(), func() []types.NamespacedName {
		return named(r.Alloc.TakeChangedPools())
	})
	r.everyPool = trigger.New(statusDelay)
	for _, t := range []*trigger.Trigger{usage, r.everyPool} {
		if err := mgr.Add(t); err != nil {
			return err
		}
	}
	return ctrl.NewControllerManagedBy(mgr).Named("ipaddresspool").
		For(&ironlbv1.IPAddressPool{}, builder.WithPredicates(predicate.Funcs{UpdateFunc: specChanged})).
		WatchesRawSource(usage.Source()).
		WatchesRawSource(r.everyPool.Source()).
		Complete(r)
}

// requeueAll re-queues every pool, for a change that may alter another pool's conflict.
func (r *Reconciler) requeueAll() {
	if r.everyPool == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if all, err := Names(ctx, r.Client); err == nil {
		r.everyPool.Add(all...)
	}
}

func specChanged(e event.UpdateEvent) bool {
	o, n := e.ObjectOld, e.ObjectNew
	return o.GetGeneration() != n.GetGeneration() ||
		!o.GetDeletionTimestamp().Equal(n.GetDeletionTimestamp()) ||
		!slices.Equal(o.GetFinalizers(), n.GetFinalizers()) ||
		!maps.Equal(o.GetLabels(), n.GetLabels())
}

func named(pools []string) []types.NamespacedName {
	out := make([]types.NamespacedName, len(pools))
	for i, p := range pools {
		out[i] = types.NamespacedName{Name: p}
	}
	return out
}
