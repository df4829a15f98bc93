package advertisement

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/status"
)

// Setup registers one controller per advertisement kind. Each reconciles an advertisement
// when it changes (its spec: status writes do not loop back) and every advertisement when a
// pool or peer changes, since those decide its condition.
func Setup(mgr ctrl.Manager) error {
	c := mgr.GetClient()
	for _, kind := range []struct {
		name string
		obj  client.Object
		list client.ObjectList
		r    reconcile.Reconciler
	}{
		{"l2advertisement", &ironlbv1.L2Advertisement{}, &ironlbv1.L2AdvertisementList{}, reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
			return reconcile.Result{}, reconcileL2(ctx, c, req.Name)
		})},
		{"bgpadvertisement", &ironlbv1.BGPAdvertisement{}, &ironlbv1.BGPAdvertisementList{}, reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
			return reconcile.Result{}, reconcileBGP(ctx, c, req.Name)
		})},
	} {
		all := handler.EnqueueRequestsFromMapFunc(everyOf(c, kind.list))
		err := ctrl.NewControllerManagedBy(mgr).Named(kind.name).
			For(kind.obj, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
			Watches(&ironlbv1.IPAddressPool{}, all, builder.WithPredicates(poolOrPeerChanged())).
			Watches(&ironlbv1.BGPPeer{}, all, builder.WithPredicates(poolOrPeerChanged())).
			Complete(kind.r)
		if err != nil {
			return err
		}
	}
	return nil
}

// poolOrPeerChanged lets through creations, deletions and changes of spec or labels (pool
// selectors match labels), not the status writes pools and peers get all the time.
func poolOrPeerChanged() predicate.Predicate {
	return predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{})
}

// everyOf maps any event to a request for every advertisement of one kind.
func everyOf(c client.Client, list client.ObjectList) handler.MapFunc {
	return func(ctx context.Context, _ client.Object) []reconcile.Request {
		l := list.DeepCopyObject().(client.ObjectList)
		if err := c.List(ctx, l); err != nil {
			return nil
		}
		var out []reconcile.Request
		_ = meta.EachListItem(l, func(o runtime.Object) error {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: o.(client.Object).GetName()}})
			return nil
		})
		return out
	}
}

func reconcileL2(ctx context.Context, c client.Client, name string) error {
	var adv ironlbv1.L2Advertisement
	if err := c.Get(ctx, types.NamespacedName{Name: name}, &adv); err != nil {
		return client.IgnoreNotFound(err)
	}
	var pools ironlbv1.IPAddressPoolList
	if err := c.List(ctx, &pools); err != nil {
		return err
	}
	return writeReady(ctx, c, &adv, &adv.Status, Check(adv.Spec.PoolSelection, nil, pools.Items, nil))
}

func reconcileBGP(ctx context.Context, c client.Client, name string) error {
	var adv ironlbv1.BGPAdvertisement
	if err := c.Get(ctx, types.NamespacedName{Name: name}, &adv); err != nil {
		return client.IgnoreNotFound(err)
	}
	var pools ironlbv1.IPAddressPoolList
	var peers ironlbv1.BGPPeerList
	for _, l := range []client.ObjectList{&pools, &peers} {
		if err := c.List(ctx, l); err != nil {
			return err
		}
	}
	return writeReady(ctx, c, &adv, &adv.Status, Check(adv.Spec.PoolSelection, &adv.Spec, pools.Items, peers.Items))
}

// writeReady patches the Ready condition when it differs from the one recorded.
func writeReady(ctx context.Context, c client.Client, obj client.Object, st *ironlbv1.AdvertisementStatus, cond metav1.Condition) error {
	cond.ObservedGeneration = obj.GetGeneration()
	prev := meta.FindStatusCondition(st.Conditions, cond.Type)
	if prev != nil && prev.Status == cond.Status && prev.Reason == cond.Reason && prev.Message == cond.Message &&
		prev.ObservedGeneration == cond.ObservedGeneration {
		return nil
	}
	w := status.Writer{Client: c, Strategy: status.MergePatch, FieldManager: ironlbv1.ControllerName}
	_, err := w.Write(ctx, obj, func() { meta.SetStatusCondition(&st.Conditions, cond) })
	return err
}
