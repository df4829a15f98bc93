package pool

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/controller/allocator"
	"github.com/ironlb/ironlb/internal/ipset"
	"github.com/ironlb/ironlb/internal/status"
	"github.com/ironlb/ironlb/internal/trigger"
)

// Reconciler syncs one IPAddressPool into the allocator and writes its status.
type Reconciler struct {
	Client   client.Client
	Alloc    *allocator.Allocator
	Recorder events.EventRecorder
	// Ready is closed once existing assignments are claimed; nothing is decided before.
	Ready <-chan struct{}
	// Metrics receives pool sizes; may be nil.
	Metrics interface {
		SetPoolUsage(pool string, usage map[ipset.Family]allocator.Usage)
		DeletePool(pool string)
	}

	mu sync.Mutex
	// applied remembers the spec generation and conflict verdict last given to the
	// allocator per pool, so unchanged pools cost no allocator rebuild.
	applied map[string]appliedState
	// shrunkWarned remembers which Services were told their address is outside the pool.
	shrunkWarned map[string]bool
	// everyPool re-queues every pool: a pool edit may change another pool's conflict.
	everyPool *trigger.Trigger
}

type appliedState struct {
	generation int64
	conflict   string
	deleting   bool
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	select {
	case <-r.Ready:
	case <-ctx.Done():
		return reconcile.Result{}, ctx.Err()
	}
	var all ironlbv1.IPAddressPoolList
	if err := r.Client.List(ctx, &all); err != nil {
		return reconcile.Result{}, err
	}
	var p *ironlbv1.IPAddressPool
	for i := range all.Items {
		if all.Items[i].Name == req.Name {
			p = &all.Items[i]
		}
	}
	if p == nil {
		r.forget(req.Name)
		return reconcile.Result{}, nil
	}
	conflicts := Conflicts(all.Items)
	deleting := !p.DeletionTimestamp.IsZero()

	// The allocator learns of the pool (and that it is being deleted) before anything else:
	// once a deleted pool is marked there, no Service can be given one of its addresses,
	// so "no holders" below stays true until the finalizer is gone.
	compiled, compileErr := Compile(p)
	state := appliedState{generation: p.Generation, conflict: conflicts[p.Name], deleting: deleting}
	if compileErr == nil {
		compiled.Conflict = state.conflict != "" || deleting
		r.apply(p.Name, compiled, state)
	} else if deleting {
		r.Alloc.DeletePool(p.Name)
	}
	r.Alloc.Observe(p.Name, p.Generation)

	if deleting && r.Alloc.Holders(p.Name) == 0 {
		if controllerutil.RemoveFinalizer(p, ironlbv1.PoolFinalizer) {
			if err := r.Client.Update(ctx, p); err != nil {
				return reconcile.Result{}, client.IgnoreNotFound(err)
			}
		}
		r.forget(p.Name)
		return reconcile.Result{}, nil
	}
	if !deleting && controllerutil.AddFinalizer(p, ironlbv1.PoolFinalizer) {
		if err := r.Client.Update(ctx, p); err != nil {
			return reconcile.Result{}, err
		}
	}
	r.warnShrunk(p)
	return reconcile.Result{}, r.writeStatus(ctx, p, compileErr, conflicts[p.Name])
}

// apply gives the allocator a changed pool (the allocator then has waiting Services
// retried), and re-checks the other pools' conflicts after an edit.
func (r *Reconciler) apply(name string, compiled allocator.Pool, state appliedState) {
	r.mu.Lock()
	if r.applied == nil {
		r.applied = map[string]appliedState{}
	}
	prev, known := r.applied[name]
	r.applied[name] = state
	r.mu.Unlock()
	if known && prev == state {
		return
	}
	r.Alloc.SetPool(compiled)
	if known && prev.generation != state.generation {
		r.requeueAll()
	}
}

func (r *Reconciler) forget(name string) {
	r.mu.Lock()
	_, known := r.applied[name]
	delete(r.applied, name)
	r.mu.Unlock()
	r.Alloc.DeletePool(name)
	if r.Metrics != nil {
		r.Metrics.DeletePool(name)
	}
	if known {
		r.requeueAll()
	}
}

// warnShrunk raises a Warning event, once, on each Service that holds an address its pool
// no longer contains. The Service keeps the address: it never moves on its own.
func (r *Reconciler) warnShrunk(p *ironlbv1.IPAddressPool) {
	shrunk := r.Alloc.Shrunk(p.Name)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shrunkWarned == nil {
		r.shrunkWarned = map[string]bool{}
	}
	for _, key := range shrunk {
		if r.shrunkWarned[key] {
			continue
		}
		r.shrunkWarned[key] = true
		ns, name, _ := strings.Cut(key, "/")
		ref := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		ref.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Service"))
		if asg, ok := r.Alloc.Holding(key); ok {
			r.Recorder.Eventf(ref, p, corev1.EventTypeWarning, "IPOutsidePool", "Allocate",
				"keeping %s although pool %s no longer contains it; edit the pool back or delete and recreate the Service to move it", ipset.FormatAddrs(asg.IPs), p.Name)
		}
	}
}

func (r *Reconciler) writeStatus(ctx context.Context, p *ironlbv1.IPAddressPool, compileErr error, conflict string) error {
	st := p.Status.DeepCopy()
	usage := r.Alloc.Usage(p.Name)
	st.IPv4 = familyUsage(usage, ipset.IPv4)
	st.IPv6 = familyUsage(usage, ipset.IPv6)
	if r.Metrics != nil {
		r.Metrics.SetPoolUsage(p.Name, usage)
	}
	gen := p.Generation
	set := func(t string, s metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: gen})
	}
	holders := r.Alloc.Holders(p.Name)
	switch {
	case compileErr != nil:
		set(ironlbv1.ConditionReady, metav1.ConditionFalse, "InvalidAddresses", compileErr.Error())
	case !p.DeletionTimestamp.IsZero():
		set(ironlbv1.ConditionReady, metav1.ConditionFalse, "Deleting",
			fmt.Sprintf("the pool is being deleted; %d Service(s) still hold its addresses, and it is removed once they release them", holders))
	case conflict != "":
		set(ironlbv1.ConditionReady, metav1.ConditionFalse, "Conflict", conflict)
	default:
		set(ironlbv1.ConditionReady, metav1.ConditionTrue, "Ready", fmt.Sprintf("in use by %d Service(s)", holders))
	}
	if conflict != "" {
		set(ironlbv1.ConditionConflict, metav1.ConditionTrue, "Overlap", conflict)
	} else {
		set(ironlbv1.ConditionConflict, metav1.ConditionFalse, "NoOverlap", "no older pool overlaps this one")
	}
	if exhausted(usage) {
		set(ironlbv1.ConditionExhausted, metav1.ConditionTrue, "NoAddressLeft", "no address is left for automatic assignment")
	} else {
		set(ironlbv1.ConditionExhausted, metav1.ConditionFalse, "AddressesLeft", "addresses are left for automatic assignment")
	}
	if shrunk := r.Alloc.Shrunk(p.Name); len(shrunk) > 0 {
		set(ironlbv1.ConditionShrunk, metav1.ConditionTrue, "ServicesOutsidePool",
			fmt.Sprintf("pool %s no longer contains the addresses of %d Service(s), which keep them: %s", p.Name, len(shrunk), firstFew(shrunk)))
	} else {
		meta.RemoveStatusCondition(&st.Conditions, ironlbv1.ConditionShrunk)
	}
	w := status.Writer{Client: r.Client, Strategy: status.MergePatch, OptimisticLock: true, FieldManager: ironlbv1.ControllerName}
	_, err := w.Write(ctx, p, func() { p.Status = *st })
	return err
}

func familyUsage(usage map[ipset.Family]allocator.Usage, f ipset.Family) *ironlbv1.FamilyUsage {
	u, ok := usage[f]
	if !ok || u.Total == nil || u.Total.Sign() == 0 {
		return nil
	}
	avail := u.Available
	if avail == nil {
		avail = new(big.Int)
	}
	return &ironlbv1.FamilyUsage{Total: u.Total.String(), Assigned: u.Assigned, Available: avail.String()}
}

func exhausted(usage map[ipset.Family]allocator.Usage) bool {
	if len(usage) == 0 {
		return false
	}
	for _, u := range usage {
		if u.Available != nil && u.Available.Sign() > 0 {
			return false
		}
	}
	return true
}

func firstFew(keys []string) string {
	if len(keys) <= 5 {
		return strings.Join(keys, ", ")
	}
	return strings.Join(keys[:5], ", ") + fmt.Sprintf(" and %d more", len(keys)-5)
}

// Names lists every pool's name, for re-queueing them all.
func Names(ctx context.Context, c client.Reader) ([]types.NamespacedName, error) {
	var all ironlbv1.IPAddressPoolList
	if err := c.List(ctx, &all); err != nil {
		return nil, err
	}
	out := make([]types.NamespacedName, len(all.Items))
	for i, p := range all.Items {
		out[i] = types.NamespacedName{Name: p.Name}
	}
	return out, nil
}
