package pool

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/controller/allocator"
	"github.com/ironlb/ironlb/internal/ipset"
)

// TestDeletedPoolGivesNothingAway: between the "no Service holds this pool" check and the
// removal of its finalizer, a Service reconciled at that moment must not be given one of
// the pool's addresses, or it would hold an address of a pool that no longer exists.
// The finalizer update is where the race lands, so the test allocates right there.
func TestDeletedPoolGivesNothingAway(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := ironlbv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	alloc := allocator.New()
	var raced *allocator.Assignment
	c := fake.NewClientBuilder().WithScheme(scheme).
		WithInterceptorFuncs(interceptor.Funcs{Update: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if p, ok := obj.(*ironlbv1.IPAddressPool); ok && !p.DeletionTimestamp.IsZero() && len(p.Finalizers) == 0 {
				if asg, err := alloc.Assign(allocator.Request{Service: "ns/late", Namespace: "ns", Families: []ipset.Family{ipset.IPv4}}); err == nil {
					raced = &asg
				}
			}
			return cl.Update(ctx, obj, opts...)
		}}).Build()
	ready := make(chan struct{})
	close(ready)
	r := &Reconciler{Client: c, Alloc: alloc, Recorder: events.NewFakeRecorder(10), Ready: ready}
	ctx := context.Background()
	p := &ironlbv1.IPAddressPool{Spec: ironlbv1.IPAddressPoolSpec{Addresses: []ironlbv1.AddressRange{"198.18.120.1/32"}}}
	p.Name = "doomed"
	if err := c.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	req := reconcile.Request{NamespacedName: types.NamespacedName{Name: "doomed"}}
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, req.NamespacedName, p); err != nil || len(p.Finalizers) == 0 {
		t.Fatalf("the pool has no finalizer after a reconcile: %v %v", p.Finalizers, err)
	}
	if err := c.Delete(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	if raced != nil {
		t.Fatalf("a Service was given %v from pool %q while its finalizer was being removed", raced.IPs, "doomed")
	}
	if err := c.Get(ctx, req.NamespacedName, p); err == nil {
		t.Fatalf("the unused pool was not released for deletion: finalizers %v", p.Finalizers)
	}
}
