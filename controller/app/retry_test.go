package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/controller/allocator"
	"github.com/ironlb/ironlb/controller/app"
	"github.com/ironlb/ironlb/internal/metricsendpoint"
	"github.com/ironlb/ironlb/internal/testenv"
)

// TestWaitingServiceGetsFreedAddress: a Service waiting for an address gets one as soon as
// any change frees it, not only when a pool's spec changes. Each case fills a one-address
// pool with "holder", makes "waiter" wait with the given reason, then frees the address
// in its own way.
func TestWaitingServiceGetsFreedAddress(t *testing.T) {
	testenv.Require(t, env)
	startController(t, false)
	const only = "198.18.110.1"

	cases := []struct {
		name   string
		waiter func(ns string) *corev1.Service
		reason allocator.Reason
		free   func(t *testing.T, holder *corev1.Service)
	}{
		{"holder deleted", autoWaiter, allocator.PoolExhausted, func(t *testing.T, h *corev1.Service) {
			if err := env.Client.Delete(context.Background(), h); err != nil {
				t.Fatal(err)
			}
		}},
		{"holder becomes ClusterIP", autoWaiter, allocator.PoolExhausted, func(t *testing.T, h *corev1.Service) {
			edit(t, h, func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeClusterIP
				s.Spec.AllocateLoadBalancerNodePorts = nil
				for i := range s.Spec.Ports {
					s.Spec.Ports[i].NodePort = 0
				}
			})
		}},
		{"holder requests another pool", autoWaiter, allocator.PoolExhausted, func(t *testing.T, h *corev1.Service) {
			edit(t, h, func(s *corev1.Service) {
				s.Annotations = map[string]string{ironlbv1.AnnotationAddressPool: "elsewhere"}
			})
		}},
		{"requested IP released", func(ns string) *corev1.Service {
			return lbService(ns, "waiter", map[string]string{ironlbv1.AnnotationLoadBalancerIPs: only}, 81)
		}, allocator.RequestedIPInUse, func(t *testing.T, h *corev1.Service) {
			if err := env.Client.Delete(context.Background(), h); err != nil {
				t.Fatal(err)
			}
		}},
		{"sharer moves off the port", func(ns string) *corev1.Service {
			return lbService(ns, "waiter", map[string]string{ironlbv1.AnnotationAllowSharedIP: "k", ironlbv1.AnnotationLoadBalancerIPs: only}, 80)
		}, allocator.SharingConflict, func(t *testing.T, h *corev1.Service) {
			edit(t, h, func(s *corev1.Service) { s.Spec.Ports[0].Port = 8443 })
		}},
		{"holder drops a family", autoWaiter, allocator.PoolExhausted, func(t *testing.T, h *corev1.Service) {
			edit(t, h, func(s *corev1.Service) {
				s.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicySingleStack)
				s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
			})
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := "retry-" + string(rune('a'+i))
			env.EnsureNamespace(t, ns, nil)
			env.CreatePool(t, ns, ironlbv1.IPAddressPoolSpec{Addresses: addrs(only+"/32", "2001:db8:110::/64"),
				ServiceAllocation: &ironlbv1.ServiceAllocation{Namespaces: []string{ns}}})
			env.CreatePool(t, ns+"-elsewhere", ironlbv1.IPAddressPoolSpec{Addresses: addrs("198.18.111.0/24"), AutoAssign: ptr.To(false)})
			holder := lbService(ns, "holder", map[string]string{ironlbv1.AnnotationAllowSharedIP: "k"}, 80)
			if tc.name == "holder drops a family" {
				holder = dualStack(holder, corev1.IPFamilyPolicyRequireDualStack)
				holder.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}
			}
			if tc.name == "holder requests another pool" {
				tc.free = func(t *testing.T, h *corev1.Service) {
					edit(t, h, func(s *corev1.Service) {
						s.Annotations = map[string]string{ironlbv1.AnnotationAddressPool: ns + "-elsewhere"}
					})
				}
			}
			createService(t, holder)
			waitFor(t, 20*time.Second, func() string {
				if got := ingress(getService(t, ns, "holder")); !strings.Contains(got, only) {
					return "holder has " + got
				}
				return ""
			})
			createService(t, tc.waiter(ns))
			waitReason(t, ns, "waiter", string(tc.reason))
			tc.free(t, getService(t, ns, "holder"))
			waitIP(t, ns, "waiter", only)
		})
	}
}

func autoWaiter(ns string) *corev1.Service { return lbService(ns, "waiter", nil, 81) }

// edit changes a Service with retries on conflict.
func edit(t *testing.T, svc *corev1.Service, change func(*corev1.Service)) {
	t.Helper()
	for range 20 {
		cur := getService(t, svc.Namespace, svc.Name)
		change(cur)
		err := env.Client.Update(context.Background(), cur)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			t.Fatal(err)
		}
	}
	t.Fatalf("could not update %s/%s", svc.Namespace, svc.Name)
}

// TestLeaseNamespaceFromPodNamespace: run outside a Pod with no --leader-election-namespace,
// the controller takes its Lease's namespace from POD_NAMESPACE, like the speaker does.
func TestLeaseNamespaceFromPodNamespace(t *testing.T) {
	testenv.Require(t, env)
	env.EnsureNamespace(t, "lease-from-env", nil)
	t.Setenv("POD_NAMESPACE", "lease-from-env")
	c := startControllerWith(t, func(o *app.Options) { o.LeaderElect, o.LeaderElectionNamespace = true, "" })
	waitFor(t, 20*time.Second, func() string {
		select {
		case err := <-c.done:
			c.done <- nil // reported here; the cleanup must not panic on it
			return fmt.Sprintf("the controller stopped: %v", err)
		default:
		}
		var lease coordinationv1.Lease
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "lease-from-env", Name: ironlbv1.ControllerName}, &lease); err != nil {
			return err.Error()
		}
		return ""
	})
}

// TestRunNeedsNamespaces: a Secret or speaker Pods to look for in no namespace (no flag, no
// POD_NAMESPACE) is refused up front, naming the flag, instead of looking everywhere.
func TestRunNeedsNamespaces(t *testing.T) {
	t.Setenv("POD_NAMESPACE", "")
	base := app.Options{
		Config: env.Config, Metrics: metricsendpoint.Options{BindAddress: "0"}, HealthAddr: "0",
		QPS: 5, Burst: 10, EventsQPS: 1, EventsBurst: 1, Workers: 1, LogLevel: "error",
	}
	for _, c := range []struct {
		change func(*app.Options)
		want   string
	}{
		{func(o *app.Options) { o.MemberlistSecretName = "gossip" }, "--memberlist-secret-name needs --memberlist-secret-namespace or $POD_NAMESPACE"},
		{func(o *app.Options) { o.SpeakerPodSelector = "app=speaker" }, "--speaker-pod-selector needs --speaker-pod-namespace or $POD_NAMESPACE"},
	} {
		o := base
		c.change(&o)
		// Bounded: without the check Run would start and serve until the context ends.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := app.Run(ctx, o)
		cancel()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Run: %v, want an error saying %q", err, c.want)
		}
	}
}
