package status_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/ironlb/ironlb/internal/status"
)

func service() *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}}
}

// counting is a fake client that counts status patches and updates.
func counting(n *int, objs ...client.Object) client.Client {
	return fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(objs...).
		WithStatusSubresource(objs...).WithInterceptorFuncs(interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			*n++
			if p.Type() == "application/apply-patch+yaml" {
				return nil // the fake has no server-side apply; counting is what is tested
			}
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			*n++
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
	}).Build()
}

func TestWriterSkipsUnchangedAndWritesChanges(t *testing.T) {
	ctx := context.Background()
	cond := metav1.Condition{Type: "example.io/Ok", Status: metav1.ConditionTrue, Reason: "Fine", Message: "all good"}
	for _, strategy := range []status.Strategy{status.MergePatch, status.StrategicMergePatch, status.Update} {
		t.Run(strategy.String(), func(t *testing.T) {
			var writes int
			c := counting(&writes, service())
			w := status.Writer{Client: c, Strategy: strategy, OptimisticLock: true}
			svc := service()
			if err := c.Get(ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
				t.Fatal(err)
			}
			wrote, err := w.Write(ctx, svc, func() { status.SetCondition(&svc.Status.Conditions, cond) })
			if err != nil || !wrote || writes != 1 {
				t.Fatalf("first write: wrote %v err %v, %d requests; want one", wrote, err, writes)
			}
			// The same condition, or only a new observedGeneration, is no change.
			again := cond
			again.ObservedGeneration = 7
			wrote, err = w.Write(ctx, svc, func() { status.SetCondition(&svc.Status.Conditions, again) })
			if err != nil || wrote || writes != 1 {
				t.Fatalf("unchanged: wrote %v err %v, %d requests; want none", wrote, err, writes)
			}
			var got corev1.Service
			if err := c.Get(ctx, client.ObjectKeyFromObject(svc), &got); err != nil {
				t.Fatal(err)
			}
			if !status.SameCondition(&got.Status.Conditions, cond) {
				t.Errorf("stored conditions %+v, want %+v", got.Status.Conditions, cond)
			}
		})
	}
}

func TestWriterTreatsAGoneObjectAsWritten(t *testing.T) {
	var writes int
	w := status.Writer{Client: counting(&writes), Strategy: status.MergePatch}
	svc := service()
	wrote, err := w.Write(context.Background(), svc, func() { svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "198.18.0.1"}} })
	if err != nil || wrote {
		t.Errorf("wrote %v err %v, want (false, nil) for an object that is gone", wrote, err)
	}
}

func TestApplierSendsOnlyChangedBodies(t *testing.T) {
	ctx := context.Background()
	var writes int
	a := status.NewApplier(counting(&writes, service()), "example-node-1")
	body := map[string]any{"conditions": []any{map[string]any{"type": "Ok"}}}
	for i, tc := range []struct {
		body  any
		wrote bool
	}{{body, true}, {body, false}, {map[string]any{}, true}, {map[string]any{}, false}, {body, true}} {
		wrote, err := a.Apply(ctx, service(), tc.body)
		if err != nil || wrote != tc.wrote {
			t.Fatalf("apply %d: wrote %v err %v, want wrote %v", i, wrote, err, tc.wrote)
		}
	}
	if writes != 3 {
		t.Errorf("%d requests, want 3", writes)
	}
	if a.FieldManager() != "example-node-1" {
		t.Errorf("field manager %q", a.FieldManager())
	}
}

func TestWriterNamesItsFieldManager(t *testing.T) {
	ctx := context.Background()
	for _, strategy := range []status.Strategy{status.MergePatch, status.StrategicMergePatch, status.Update} {
		t.Run(strategy.String(), func(t *testing.T) {
			var owners []string
			c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(service()).
				WithStatusSubresource(service()).WithInterceptorFuncs(interceptor.Funcs{
				SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
					o := &client.SubResourcePatchOptions{}
					o.ApplyOptions(opts)
					owners = append(owners, o.FieldManager)
					return c.SubResource(sub).Patch(ctx, obj, p, opts...)
				},
				SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
					o := &client.SubResourceUpdateOptions{}
					o.ApplyOptions(opts)
					owners = append(owners, o.FieldManager)
					return c.SubResource(sub).Update(ctx, obj, opts...)
				},
			}).Build()
			svc := service()
			if err := c.Get(ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
				t.Fatal(err)
			}
			w := status.Writer{Client: c, Strategy: strategy, FieldManager: "example-writer"}
			cond := metav1.Condition{Type: "example.io/Ok", Status: metav1.ConditionTrue, Reason: "Fine"}
			if _, err := w.Write(ctx, svc, func() { status.SetCondition(&svc.Status.Conditions, cond) }); err != nil {
				t.Fatal(err)
			}
			if len(owners) != 1 || owners[0] != "example-writer" {
				t.Errorf("field managers sent %q, want [example-writer]", owners)
			}
		})
	}
}
