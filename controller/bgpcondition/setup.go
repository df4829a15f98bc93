package bgpcondition

import (
	"context"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/lbservice"
)

// SetupWithManager registers the reconciler. A Service is reconciled when it or its
// EndpointSlices change, and every Service with an address when something that decides
// which nodes advertise changes: a BGPPeer's spec or the session states its status
// reports (not its counters or timestamps, which the speakers refresh all the time), a
// BGPAdvertisement or pool spec, a node's labels, cordon, NetworkUnavailable or Ready, and
// (with SpeakerPods) a speaker Pod's node, readiness or deletion. The manager's cache must
// hold only the speaker Pods (see app's cache options): the controller may list Pods in
// the speakers' namespace only.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	every := handler.EnqueueRequestsFromMapFunc(r.everyService)
	b := ctrl.NewControllerManagedBy(mgr).Named("bgpcondition").
		For(&corev1.Service{}).
		Watches(&discoveryv1.EndpointSlice{}, handler.EnqueueRequestsFromMapFunc(serviceOfSlice)).
		Watches(&ironlbv1.BGPPeer{}, every, builder.WithPredicates(sessionsChanged())).
		Watches(&ironlbv1.BGPAdvertisement{}, every, builder.WithPredicates(specChanged())).
		Watches(&ironlbv1.IPAddressPool{}, every, builder.WithPredicates(specChanged())).
		Watches(&corev1.Node{}, every, builder.WithPredicates(nodeChanged())).
		// Two workers: a write waiting on the writer's rate limit does not hold every
		// other Service back, and the rest is cache reads.
		WithOptions(controller.Options{MaxConcurrentReconciles: 2})
	if r.SpeakerPods != nil {
		b = b.Watches(&corev1.Pod{}, every, builder.WithPredicates(r.speakerPodChanged()))
	}
	return b.Complete(r)
}

// speakerPodChanged lets through the speaker Pods' creations and deletions, and updates
// that change whether a Pod makes its node's sessions trusted.
func (r *Reconciler) speakerPodChanged() predicate.Predicate {
	speaker := func(o client.Object) bool {
		return o.GetNamespace() == r.SpeakerNamespace && r.SpeakerPods.Matches(labels.Set(o.GetLabels()))
	}
	return predicate.Funcs{
		CreateFunc:  func(e event.CreateEvent) bool { return speaker(e.Object) },
		DeleteFunc:  func(e event.DeleteEvent) bool { return speaker(e.Object) },
		GenericFunc: func(e event.GenericEvent) bool { return speaker(e.Object) },
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, n := e.ObjectOld.(*corev1.Pod), e.ObjectNew.(*corev1.Pod)
			return (speaker(o) || speaker(n)) && (o.Spec.NodeName != n.Spec.NodeName || podReady(o) != podReady(n) ||
				(o.DeletionTimestamp == nil) != (n.DeletionTimestamp == nil) || speaker(o) != speaker(n))
		},
	}
}

// everyService asks for every Service this controller serves that has an address (the
// others cannot be advertised; Services whose condition must go are reconciled by their
// own watch when they lose their address or type).
func (r *Reconciler) everyService(ctx context.Context, _ client.Object) []reconcile.Request {
	var list corev1.ServiceList
	if err := r.Client.List(ctx, &list); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		s := &list.Items[i]
		if lbservice.IsOurs(s, r.Class) && len(s.Status.LoadBalancer.Ingress) > 0 {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: s.Namespace, Name: s.Name}})
		}
	}
	return out
}

func serviceOfSlice(_ context.Context, o client.Object) []reconcile.Request {
	name := o.GetLabels()[discoveryv1.LabelServiceName]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
}

func specChanged() predicate.Predicate {
	return predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{})
}

// sessionsChanged lets a BGPPeer update through when its spec, labels or the state of a
// node's session changed.
func sessionsChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld.(*ironlbv1.BGPPeer), e.ObjectNew.(*ironlbv1.BGPPeer)
		return o.Generation != n.Generation || !maps.Equal(o.Labels, n.Labels) ||
			!slices.Equal(sessionStates(o), sessionStates(n))
	}}
}

func sessionStates(p *ironlbv1.BGPPeer) []string {
	out := make([]string, 0, len(p.Status.Nodes))
	for _, n := range p.Status.Nodes {
		out = append(out, n.Node+"="+n.State)
	}
	slices.Sort(out)
	return out
}

// nodeChanged lets a node update through when what decides its eligibility changed.
func nodeChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld.(*corev1.Node), e.ObjectNew.(*corev1.Node)
		return !maps.Equal(o.Labels, n.Labels) || o.Spec.Unschedulable != n.Spec.Unschedulable ||
			nodeCondition(o, corev1.NodeNetworkUnavailable) != nodeCondition(n, corev1.NodeNetworkUnavailable) ||
			nodeReady(o) != nodeReady(n)
	}}
}

func nodeCondition(n *corev1.Node, t corev1.NodeConditionType) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}
