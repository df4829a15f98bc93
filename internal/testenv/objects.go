package testenv

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
)

// EnsureNamespace creates a namespace with labels unless it exists.
func (e *Env) EnsureNamespace(t testing.TB, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := e.Client.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// CreatePool creates an IPAddressPool and removes it when the test ends.
func (e *Env) CreatePool(t testing.TB, name string, spec ironlbv1.IPAddressPoolSpec) {
	t.Helper()
	p := &ironlbv1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	if err := e.Client.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.RemovePool(name) })
}

// RemovePool deletes a pool and drops the controller's finalizer, so that a test leaves
// nothing behind whether or not a controller still runs.
func (e *Env) RemovePool(name string) {
	ctx := context.Background()
	var p ironlbv1.IPAddressPool
	if err := e.Client.Get(ctx, client.ObjectKey{Name: name}, &p); err != nil {
		return
	}
	_ = e.Client.Delete(ctx, &p)
	for range 50 {
		if err := e.Client.Get(ctx, client.ObjectKey{Name: name}, &p); err != nil {
			return
		}
		p.Finalizers = nil
		if err := e.Client.Update(ctx, &p); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
