package service

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ironlb/ironlb/controller/nodeaddr"
	"github.com/ironlb/ironlb/controller/request"
	"github.com/ironlb/ironlb/internal/trigger"
)

// retryDelay batches the retries of waiting Services after a release: short enough that
// a freed address reaches a waiting Service in well under 100 ms, long enough that a
// burst of releases costs one pass over the waiting Services.
const retryDelay = 10 * time.Millisecond

// SetupWithManager registers the reconciler: it watches Services, the namespaces of
// waiting Services (their labels may now match a pool), the allocator, which says when
// an address may have become free for a waiting Service, and, for the Services that opted
// in to node-address fallback only, the nodes and endpoints their addresses come from.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, workers int) error {
	retry := trigger.Follow(retryDelay, r.Alloc.MayHaveFreed(), r.waiting)
	if err := mgr.Add(retry); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).Named("service").
		For(&corev1.Service{}).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.waitingIn)).
		WatchesRawSource(retry.Source()).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(r.fallbackServices), builder.WithPredicates(nodeEligibilityChanged())).
		Watches(&discoveryv1.EndpointSlice{}, handler.EnqueueRequestsFromMapFunc(r.localFallbackOf)).
		// A Service that takes, changes or leaves node addresses may end or start a port
		// collision of the others (see nodeaddr.Collision).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(r.fallbackServices), builder.WithPredicates(onOrWantsNodeAddresses())).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(r)
}

// fallbackServices maps a node change to the Services of ours that opted in to node
// addresses (whether they use them now or wait for an eligible node); a cluster where no
// Service opted in pays one cache list per relevant node change.
func (r *Reconciler) fallbackServices(ctx context.Context, _ client.Object) []reconcile.Request {
	var list corev1.ServiceList
	if err := r.Client.List(ctx, &list); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		s := &list.Items[i]
		if wantsFallback(s) && request.IsOurs(s, r.Class) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: s.Namespace, Name: s.Name}})
		}
	}
	return out
}

// localFallbackOf maps an EndpointSlice change to its Service when that Service's node
// addresses depend on where its endpoints are (externalTrafficPolicy: Local).
func (r *Reconciler) localFallbackOf(ctx context.Context, o client.Object) []reconcile.Request {
	name := o.GetLabels()[discoveryv1.LabelServiceName]
	if name == "" {
		return nil
	}
	key := types.NamespacedName{Namespace: o.GetNamespace(), Name: name}
	var svc corev1.Service
	if err := r.Client.Get(ctx, key, &svc); err != nil || !wantsFallback(&svc) ||
		svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		return nil
	}
	return []reconcile.Request{{NamespacedName: key}}
}

// nodeEligibilityChanged lets a node update through when what nodeaddr reads changed:
// readiness, cordon, labels (exclusion from load balancers), addresses, the kubelet's port,
// NetworkUnavailable or deletion; kubelet's periodic status refreshes change none of them.
func nodeEligibilityChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld.(*corev1.Node), e.ObjectNew.(*corev1.Node)
		return !maps.Equal(o.Labels, n.Labels) || o.Spec.Unschedulable != n.Spec.Unschedulable ||
			!slices.Equal(o.Status.Addresses, n.Status.Addresses) || o.DeletionTimestamp.IsZero() != n.DeletionTimestamp.IsZero() ||
			o.Status.DaemonEndpoints != n.Status.DaemonEndpoints ||
			nodeCondition(o, corev1.NodeReady) != nodeCondition(n, corev1.NodeReady) ||
			nodeCondition(o, corev1.NodeNetworkUnavailable) != nodeCondition(n, corev1.NodeNetworkUnavailable)
	}}
}

// onOrWantsNodeAddresses lets through the events of Services that opted in to node
// addresses or still hold them, so the others' events cost nothing.
func onOrWantsNodeAddresses() predicate.Predicate {
	is := func(o client.Object) bool {
		svc, ok := o.(*corev1.Service)
		return ok && (wantsFallback(svc) || nodeaddr.InUse(svc))
	}
	return predicate.Funcs{
		CreateFunc:  func(e event.CreateEvent) bool { return is(e.Object) },
		DeleteFunc:  func(e event.DeleteEvent) bool { return is(e.Object) },
		UpdateFunc:  func(e event.UpdateEvent) bool { return is(e.ObjectOld) || is(e.ObjectNew) },
		GenericFunc: func(e event.GenericEvent) bool { return false },
	}
}

func nodeCondition(n *corev1.Node, t corev1.NodeConditionType) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
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
