package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
)

// TestLayer2ConditionsTellTheTruth: the L2Announced condition says an address is answered
// only while a node answers for it. An address a Service keeps after its pool shrank stays
// announced; deleting the advertisement turns the condition False as the answers stop;
// turning the Service into a ClusterIP removes the condition.
func TestLayer2ConditionsTellTheTruth(t *testing.T) {
	l := l2Lab(t)
	extraPool(t, l, "shrinking", []ironlbv1.AddressRange{"198.18.102.1-198.18.102.14", "2001:db8:100:4::1-2001:db8:100:4::e"}, ironlbv1.L2AdvertisementSpec{})
	svc, pods := extraService(t, l, "kept", func(s *corev1.Service) {
		s.Annotations = map[string]string{ironlbv1.AnnotationAddressPool: "shrinking"}
	}, l.Nodes[0].Name)
	addrs := ingressAddrs(svc)
	for _, a := range addrs {
		owner(t, l, a)
		reach(t, l, a, pods[0].Name)
	}

	t.Run("an address kept after its pool shrank stays announced", func(t *testing.T) {
		updateObject(t, l, "shrinking", &ironlbv1.IPAddressPool{}, func(p *ironlbv1.IPAddressPool) {
			p.Spec.Addresses = []ironlbv1.AddressRange{"198.18.102.16/28", "2001:db8:100:4::10/124"}
		})
		eventually(t, 20*time.Second, "the pool reports Shrunk", func() error {
			var p ironlbv1.IPAddressPool
			if err := l.Client.Get(context.Background(), clientKey("shrinking"), &p); err != nil {
				return err
			}
			if !meta.IsStatusConditionTrue(p.Status.Conditions, ironlbv1.ConditionShrunk) {
				return fmt.Errorf("conditions %+v", p.Status.Conditions)
			}
			return nil
		})
		got := currentService(t, l, svc)
		if fmt.Sprint(ingressAddrs(got)) != fmt.Sprint(addrs) {
			t.Fatalf("the Service's addresses moved from %v to %v", addrs, ingressAddrs(got))
		}
		// Give the speakers time to act on the shrink before checking that nothing stopped.
		time.Sleep(2 * time.Second)
		for _, a := range addrs {
			o := owner(t, l, a)
			reach(t, l, a, pods[0].Name)
			announcedCondition(t, l, svc, metav1.ConditionTrue, "node "+o.Name+" answers ARP/NDP for "+a.String())
		}
	})

	t.Run("advertisement deleted: no answer, condition False", func(t *testing.T) {
		adv := &ironlbv1.L2Advertisement{}
		if err := l.Client.Get(context.Background(), clientKey("shrinking"), adv); err != nil {
			t.Fatal(err)
		}
		if err := l.Client.Delete(context.Background(), adv); err != nil {
			t.Fatal(err)
		}
		announcedCondition(t, l, svc, metav1.ConditionFalse, "no L2Advertisement covers")
		for _, a := range addrs {
			nobodyAnswers(t, l, a)
		}
		adv = &ironlbv1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "shrinking"},
			Spec: ironlbv1.L2AdvertisementSpec{PoolSelection: ironlbv1.PoolSelection{IPAddressPools: []string{"shrinking"}}}}
		if err := l.Client.Create(context.Background(), adv); err != nil {
			t.Fatal(err)
		}
		o := owner(t, l, addrs[0])
		announcedCondition(t, l, svc, metav1.ConditionTrue, "node "+o.Name)
	})

	t.Run("changed to ClusterIP: the condition is removed", func(t *testing.T) {
		ctx := context.Background()
		patch := []byte(`{"spec":{"type":"ClusterIP"}}`)
		if _, err := l.Kube.CoreV1().Services(svc.Namespace).Patch(ctx, svc.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "no "+ironlbv1.ConditionL2Announced+" condition", func() error {
			got := currentService(t, l, svc)
			if c := meta.FindStatusCondition(got.Status.Conditions, ironlbv1.ConditionL2Announced); c != nil {
				return fmt.Errorf("condition still there: %+v", c)
			}
			return nil
		})
		for _, a := range addrs {
			nobodyAnswers(t, l, a)
		}
	})
}

// currentService reads the Service as the API server has it now.
func currentService(t *testing.T, l *lab.Lab, svc *corev1.Service) *corev1.Service {
	t.Helper()
	got, err := l.Kube.CoreV1().Services(svc.Namespace).Get(context.Background(), svc.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// clientKey names a cluster-scoped object.
func clientKey(name string) types.NamespacedName { return types.NamespacedName{Name: name} }
