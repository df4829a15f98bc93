package app_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/controller/advertisement"
	"github.com/ironlb/ironlb/controller/app"
	"github.com/ironlb/ironlb/controller/request"
	"github.com/ironlb/ironlb/internal/metricsendpoint"
	"github.com/ironlb/ironlb/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }

// controller runs one controller replica until the returned stop function is called.
type controller struct {
	cancel context.CancelFunc
	done   chan error
}

func startController(t *testing.T, leaderElect bool) *controller {
	t.Helper()
	return startControllerWith(t, func(o *app.Options) { o.LeaderElect = leaderElect })
}

// startControllerWith starts a replica with the tests' options, changed by change.
func startControllerWith(t *testing.T, change func(*app.Options)) *controller {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &controller{cancel: cancel, done: make(chan error, 1)}
	o := app.Options{
		Config: env.Config, Metrics: metricsendpoint.Options{BindAddress: "0"}, HealthAddr: "0",
		LeaderElectionNamespace: "ironlb-system", LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second,
		RetryPeriod: 500 * time.Millisecond, QPS: 500, Burst: 1000, EventsQPS: 100, EventsBurst: 200, Workers: 8, LogLevel: "error",
	}
	change(&o)
	go func() { c.done <- app.Run(ctx, o) }()
	t.Cleanup(c.stop)
	return c
}

// stop cancels the replica and waits for it. A replica that lost its lease (the API server
// answered too slowly on a loaded machine) has exited by design, as a pod would before its
// restart: that is no test failure.
func (c *controller) stop() {
	c.cancel()
	if err := <-c.done; err != nil && !strings.Contains(err.Error(), "leader election lost") {
		panic(fmt.Sprintf("controller stopped with an error: %v", err))
	}
	c.done <- nil // later stops return at once
}

func addrs(a ...string) []ironlbv1.AddressRange {
	out := make([]ironlbv1.AddressRange, len(a))
	for i, s := range a {
		out[i] = ironlbv1.AddressRange(s)
	}
	return out
}

func lbService(ns, name string, annotations map[string]string, port int32) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: port, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
		},
	}
}

func createService(t *testing.T, svc *corev1.Service) {
	t.Helper()
	if err := env.Client.Create(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), svc) })
}

// waitFor polls until check returns "" (success) or the deadline passes, and fails with
// the last explanation.
func waitFor(t *testing.T, timeout time.Duration, check func() string) {
	t.Helper()
	testenv.Eventually(t, timeout, 50*time.Millisecond, "waiting", func() error {
		if last := check(); last != "" {
			return errors.New(last)
		}
		return nil
	})
}

func getService(t *testing.T, ns, name string) *corev1.Service {
	t.Helper()
	var svc corev1.Service
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &svc); err != nil {
		t.Fatal(err)
	}
	return &svc
}

func ingress(svc *corev1.Service) string {
	var ips []string
	for _, i := range svc.Status.LoadBalancer.Ingress {
		ips = append(ips, i.IP)
	}
	return strings.Join(ips, ",")
}

// waitIP waits until the Service's status shows want.
func waitIP(t *testing.T, ns, name, want string) *corev1.Service {
	t.Helper()
	var svc *corev1.Service
	waitFor(t, 20*time.Second, func() string {
		svc = getService(t, ns, name)
		if got := ingress(svc); got != want {
			return fmt.Sprintf("%s/%s ingress %q, want %q (conditions %+v)", ns, name, got, want, svc.Status.Conditions)
		}
		return ""
	})
	return svc
}

// waitReason waits until the Service's IPAllocated condition is False with the reason.
func waitReason(t *testing.T, ns, name, reason string) *metav1.Condition {
	t.Helper()
	var cond *metav1.Condition
	waitFor(t, 20*time.Second, func() string {
		svc := getService(t, ns, name)
		cond = meta.FindStatusCondition(svc.Status.Conditions, ironlbv1.ConditionIPAllocated)
		if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != reason {
			return fmt.Sprintf("%s/%s condition %+v, want False/%s", ns, name, cond, reason)
		}
		return ""
	})
	return cond
}

func eventsFor(t *testing.T, ns, name string) string {
	t.Helper()
	out, _, err := env.Kubectl(context.Background(), "", "describe", "service", "-n", ns, name)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAllocationFlow(t *testing.T) {
	testenv.Require(t, env)
	env.EnsureNamespace(t, "flow", nil)
	env.CreatePool(t, "flow", ironlbv1.IPAddressPoolSpec{Addresses: addrs("198.18.100.0/24"), AvoidBuggyIPs: true})
	startController(t, false)

	createService(t, lbService("flow", "web", nil, 80))
	svc := waitIP(t, "flow", "web", "198.18.100.1")
	if got := svc.Annotations[ironlbv1.AnnotationAllocatedFromPool]; got != "flow" {
		waitFor(t, 5*time.Second, func() string {
			if got := getService(t, "flow", "web").Annotations[ironlbv1.AnnotationAllocatedFromPool]; got != "flow" {
				return "pool annotation is " + got
			}
			return ""
		})
	}
	if m := svc.Status.LoadBalancer.Ingress[0].IPMode; m == nil || *m != corev1.LoadBalancerIPModeVIP {
		t.Errorf("ipMode = %v, want VIP", m)
	}
	// A second Service gets the next address; a request for a taken address waits.
	createService(t, lbService("flow", "api", nil, 80))
	waitIP(t, "flow", "api", "198.18.100.2")
	createService(t, lbService("flow", "thief", map[string]string{ironlbv1.AnnotationLoadBalancerIPs: "198.18.100.1"}, 81))
	cond := waitReason(t, "flow", "thief", "RequestedIPInUse")
	if !strings.Contains(cond.Message, "flow/web") {
		t.Errorf("message should name the holder flow/web: %s", cond.Message)
	}
	// Outside every pool, and a malformed annotation.
	createService(t, lbService("flow", "outside", map[string]string{ironlbv1.AnnotationLoadBalancerIPs: "198.18.200.1"}, 80))
	waitReason(t, "flow", "outside", "RequestedIPNotInPool")
	createService(t, lbService("flow", "typo", map[string]string{ironlbv1.AnnotationLoadBalancerIPs: "198.18.100.300"}, 80))
	cond = waitReason(t, "flow", "typo", request.InvalidAnnotation)
	if !strings.Contains(cond.Message, ironlbv1.AnnotationLoadBalancerIPs) {
		t.Errorf("message should name the annotation: %s", cond.Message)
	}
	createService(t, lbService("flow", "nopool", map[string]string{ironlbv1.AnnotationAddressPool: "missing"}, 80))
	waitReason(t, "flow", "nopool", "NoMatchingPool")

	// Events a user reads with kubectl describe.
	waitFor(t, 10*time.Second, func() string {
		if d := eventsFor(t, "flow", "web"); !strings.Contains(d, "IPAllocated") || !strings.Contains(d, "198.18.100.1 from pool flow") {
			return "describe lacks the IPAllocated event:\n" + d
		}
		if d := eventsFor(t, "flow", "thief"); !strings.Contains(d, "AllocationFailed") {
			return "describe lacks the AllocationFailed event:\n" + d
		}
		return ""
	})

	// Pool status counts the two assigned addresses.
	waitFor(t, 10*time.Second, func() string {
		var p ironlbv1.IPAddressPool
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: "flow"}, &p); err != nil {
			return err.Error()
		}
		if p.Status.IPv4 == nil || p.Status.IPv4.Assigned != 2 || p.Status.IPv4.Available != "252" || p.Status.IPv4.Total != "256" {
			return fmt.Sprintf("pool status %+v", p.Status.IPv4)
		}
		return ""
	})

	// Fixing the request frees the Service from its wait; releasing gives the address back.
	thief := getService(t, "flow", "thief")
	thief.Annotations[ironlbv1.AnnotationLoadBalancerIPs] = "198.18.100.9"
	if err := env.Client.Update(context.Background(), thief); err != nil {
		t.Fatal(err)
	}
	waitIP(t, "flow", "thief", "198.18.100.9")
	api := getService(t, "flow", "api")
	api.Spec.Type = corev1.ServiceTypeClusterIP
	api.Spec.Ports[0].NodePort = 0
	if err := env.Client.Update(context.Background(), api); err != nil {
		t.Fatal(err)
	}
	waitIP(t, "flow", "api", "")
	createService(t, lbService("flow", "next", nil, 80))
	waitIP(t, "flow", "next", "198.18.100.2")
}

func TestMetalLBAnnotations(t *testing.T) {
	testenv.Require(t, env)
	env.EnsureNamespace(t, "move", nil)
	env.CreatePool(t, "move-auto", ironlbv1.IPAddressPoolSpec{Addresses: addrs("198.18.110.0/24")})
	env.CreatePool(t, "move-manual", ironlbv1.IPAddressPoolSpec{Addresses: addrs("198.18.111.0/24"), AutoAssign: ptr.To(false)})
	startController(t, false)

	createService(t, lbService("move", "old", map[string]string{"metallb.universe.tf/address-pool": "move-manual"}, 80))
	waitIP(t, "move", "old", "198.18.111.0")
	createService(t, lbService("move", "new", map[string]string{"metallb.io/loadBalancerIPs": "198.18.111.7"}, 80))
	waitIP(t, "move", "new", "198.18.111.7")
	// ironlb's own annotation wins over MetalLB's.
	createService(t, lbService("move", "both", map[string]string{
		"metallb.io/address-pool": "move-manual", ironlbv1.AnnotationAddressPool: "move-auto"}, 80))
	waitIP(t, "move", "both", "198.18.110.0")
	// Sharing with MetalLB's key on one and ironlb's on the other.
	createService(t, lbService("move", "share-a", map[string]string{"metallb.universe.tf/allow-shared-ip": "k", ironlbv1.AnnotationLoadBalancerIPs: "198.18.110.50"}, 80))
	createService(t, lbService("move", "share-b", map[string]string{ironlbv1.AnnotationAllowSharedIP: "k", ironlbv1.AnnotationLoadBalancerIPs: "198.18.110.50"}, 443))
	waitIP(t, "move", "share-a", "198.18.110.50")
	waitIP(t, "move", "share-b", "198.18.110.50")
	waitFor(t, 10*time.Second, func() string {
		if d := eventsFor(t, "move", "old"); !strings.Contains(d, "LegacyAnnotation") || !strings.Contains(d, ironlbv1.AnnotationAddressPool) {
			return "describe lacks the LegacyAnnotation event:\n" + d
		}
		return ""
	})
}

func TestOverlappingPoolAndDeletion(t *testing.T) {
	testenv.Require(t, env)
	env.EnsureNamespace(t, "over", nil)
	env.CreatePool(t, "over-old", ironlbv1.IPAddressPoolSpec{Addresses: addrs("198.18.120.0/24")})
	time.Sleep(1100 * time.Millisecond) // creation timestamps have one-second resolution
	env.CreatePool(t, "over-new", ironlbv1.IPAddressPoolSpec{Addresses: addrs("198.18.120.128/25", "198.18.121.0/24")})
	startController(t, false)

	waitFor(t, 20*time.Second, func() string {
		var p ironlbv1.IPAddressPool
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: "over-new"}, &p); err != nil {
			return err.Error()
		}
		c := meta.FindStatusCondition(p.Status.Conditions, ironlbv1.ConditionConflict)
		if c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "over-old") || !strings.Contains(c.Message, "198.18.120.128/25") {
			return fmt.Sprintf("over-new Conflict condition %+v", c)
		}
		return ""
	})
	// The conflicting pool is never used, even when asked for by name.
	createService(t, lbService("over", "a", map[string]string{ironlbv1.AnnotationAddressPool: "over-new"}, 80))
	waitReason(t, "over", "a", "NoMatchingPool")

	// Deleting a pool in use is held back until its Services let go.
	createService(t, lbService("over", "b", map[string]string{ironlbv1.AnnotationAddressPool: "over-old"}, 80))
	waitIP(t, "over", "b", "198.18.120.0")
	var p ironlbv1.IPAddressPool
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: "over-old"}, &p); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(context.Background(), &p); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() string {
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: "over-old"}, &p); err != nil {
			return "pool vanished while in use: " + err.Error()
		}
		c := meta.FindStatusCondition(p.Status.Conditions, ironlbv1.ConditionReady)
		if c == nil || c.Reason != "Deleting" || !strings.Contains(c.Message, "1 Service(s)") {
			return fmt.Sprintf("Ready condition %+v", c)
		}
		return ""
	})
	if got := ingress(getService(t, "over", "b")); got != "198.18.120.0" {
		t.Fatalf("Service lost its address when its pool was deleted: %q", got)
	}
	if err := env.Client.Delete(context.Background(), getService(t, "over", "b")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() string {
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: "over-old"}, &p); err == nil {
			return "pool still present after its last Service left"
		}
		return ""
	})
}

// TestRestartKeepsEveryAddress creates 500 Services, restarts the controller after deleting
// half of them, and checks that no surviving Service's address changed and that new Services
// only got free addresses.
func TestRestartKeepsEveryAddress(t *testing.T) {
	testenv.Require(t, env)
	env.EnsureNamespace(t, "restart", nil)
	env.CreatePool(t, "restart", ironlbv1.IPAddressPoolSpec{Addresses: addrs("198.18.132.0/22")})
	c := startController(t, false)
	const n = 500
	createMany(t, "restart", n)
	before := waitAllAssigned(t, "restart", n)
	c.stop()
	// Delete every other Service while the controller is down; the rest must keep their IPs.
	ctx := context.Background()
	for i := 0; i < n; i += 2 {
		if err := env.Client.Delete(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "restart", Name: fmt.Sprintf("s%d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	startController(t, false)
	// New Services get addresses only after the old ones are claimed, so they cannot take any.
	for i := n; i < n+50; i++ {
		createService(t, lbService("restart", fmt.Sprintf("s%d", i), nil, 80))
	}
	after := waitAllAssigned(t, "restart", n/2+50)
	for name, ip := range after {
		if old, ok := before[name]; ok && old != ip {
			t.Errorf("%s moved from %s to %s across a restart", name, old, ip)
		}
	}
	checkNoDuplicates(t, "restart")
}

// TestLeaderHandoff runs two replicas, kills the leader during create/delete churn and
// checks that no address is ever given to two Services.
func TestLeaderHandoff(t *testing.T) {
	testenv.Require(t, env)
	env.EnsureNamespace(t, "ironlb-system", nil)
	env.EnsureNamespace(t, "handoff", nil)
	env.CreatePool(t, "handoff", ironlbv1.IPAddressPoolSpec{Addresses: addrs("198.18.140.0/24")})
	a := startController(t, true)
	time.Sleep(2 * time.Second) // let a win the lease first
	startController(t, true)

	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 150 {
			svc := lbService("handoff", fmt.Sprintf("h%d", i), nil, 80)
			if err := env.Client.Create(ctx, svc); err != nil {
				t.Error(err)
				return
			}
			if i%3 == 0 && i > 0 {
				_ = env.Client.Delete(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "handoff", Name: fmt.Sprintf("h%d", i-1)}})
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	time.Sleep(1 * time.Second)
	a.stop() // the leader goes away in the middle of the churn
	wg.Wait()
	waitAllAssigned(t, "handoff", 150-49)
	checkNoDuplicates(t, "handoff")
	t.Cleanup(func() { deleteAllServices("handoff") })
}

func createMany(t *testing.T, ns string, n int) {
	t.Helper()
	for i := range n {
		svc := lbService(ns, fmt.Sprintf("s%d", i), nil, 80)
		if err := env.Client.Create(context.Background(), svc); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { deleteAllServices(ns) })
}

func deleteAllServices(ns string) {
	_ = env.Client.DeleteAllOf(context.Background(), &corev1.Service{}, client.InNamespace(ns))
}

// waitAllAssigned waits until want Services of the namespace have an address and returns
// name → address.
func waitAllAssigned(t *testing.T, ns string, want int) map[string]string {
	t.Helper()
	var got map[string]string
	waitFor(t, 90*time.Second, func() string {
		var list corev1.ServiceList
		if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return err.Error()
		}
		got = map[string]string{}
		for _, s := range list.Items {
			if ip := ingress(&s); ip != "" {
				got[s.Name] = ip
			}
		}
		if len(list.Items) != want || len(got) != want {
			return fmt.Sprintf("%d of %d Services have an address (want %d)", len(got), len(list.Items), want)
		}
		return ""
	})
	return got
}

// checkNoDuplicates is the invariant checker: no address is held by two Services unless
// both carry the same sharing key.
func checkNoDuplicates(t *testing.T, ns string) {
	t.Helper()
	var list corev1.ServiceList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	holder := map[string]string{}
	for _, s := range list.Items {
		for _, ing := range s.Status.LoadBalancer.Ingress {
			if other, ok := holder[ing.IP]; ok {
				t.Errorf("%s is held by both %s and %s", ing.IP, other, s.Name)
			}
			holder[ing.IP] = s.Name
		}
	}
}

func dualStack(svc *corev1.Service, policy corev1.IPFamilyPolicy) *corev1.Service {
	svc.Spec.IPFamilyPolicy = &policy
	svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	return svc
}

func TestDualStack(t *testing.T) {
	testenv.Require(t, env)
	env.EnsureNamespace(t, "dual", nil)
	env.CreatePool(t, "dual-v4", ironlbv1.IPAddressPoolSpec{Addresses: addrs("198.18.150.0/24"),
		ServiceAllocation: &ironlbv1.ServiceAllocation{Namespaces: []string{"dual"}}})
	startController(t, false)

	createService(t, dualStack(lbService("dual", "prefer", nil, 80), corev1.IPFamilyPolicyPreferDualStack))
	createService(t, dualStack(lbService("dual", "require", nil, 80), corev1.IPFamilyPolicyRequireDualStack))
	waitIP(t, "dual", "prefer", "198.18.150.0")
	waitReason(t, "dual", "require", "FamilyUnavailable")

	// An IPv6 pool appears: the PreferDualStack Service gains its second family and keeps
	// its first; the RequireDualStack one gets both.
	env.CreatePool(t, "dual-v6", ironlbv1.IPAddressPoolSpec{Addresses: addrs("2001:db8:150::/120"),
		ServiceAllocation: &ironlbv1.ServiceAllocation{Namespaces: []string{"dual"}}})
	// Both Services wait for the pool, so which one is retried first (and gets the lower
	// IPv6 address) is up to the work queue; the IPv4 address the first one has is kept.
	waitFor(t, 20*time.Second, func() string {
		p, r := ingress(getService(t, "dual", "prefer")), ingress(getService(t, "dual", "require"))
		pair := map[string]bool{p: true, r: true}
		if pair["198.18.150.0,2001:db8:150::"] && pair["198.18.150.1,2001:db8:150::1"] && strings.HasPrefix(p, "198.18.150.0,") {
			return ""
		}
		if pair["198.18.150.0,2001:db8:150::1"] && pair["198.18.150.1,2001:db8:150::"] && strings.HasPrefix(p, "198.18.150.0,") {
			return ""
		}
		return fmt.Sprintf("prefer %q, require %q", p, r)
	})
	waitFor(t, 10*time.Second, func() string {
		if got := getService(t, "dual", "prefer").Annotations[ironlbv1.AnnotationAllocatedFromPool]; got != "dual-v4,dual-v6" {
			return "pool annotation is " + got
		}
		return ""
	})

	// A SingleStack IPv6 Service gets only IPv6.
	v6 := lbService("dual", "v6only", nil, 80)
	v6.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
	createService(t, v6)
	waitIP(t, "dual", "v6only", "2001:db8:150::2")
}

// TestOtherConditionsSurvive checks that the controller's status writes leave conditions
// written by other components (the speakers) alone.
func TestOtherConditionsSurvive(t *testing.T) {
	testenv.Require(t, env)
	env.EnsureNamespace(t, "cond", nil)
	env.CreatePool(t, "cond", ironlbv1.IPAddressPoolSpec{Addresses: addrs("198.18.160.0/24")})
	svc := lbService("cond", "s", map[string]string{ironlbv1.AnnotationLoadBalancerIPs: "198.18.160.5"}, 80)
	createService(t, svc)
	other := metav1.Condition{Type: "example.com/Other", Status: metav1.ConditionTrue, Reason: "Test", Message: "written by someone else", LastTransitionTime: metav1.Now()}
	svc = getService(t, "cond", "s")
	svc.Status.Conditions = append(svc.Status.Conditions, other)
	if err := env.Client.Status().Update(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	startController(t, false)
	waitIP(t, "cond", "s", "198.18.160.5")
	svc = getService(t, "cond", "s")
	svc.Annotations[ironlbv1.AnnotationLoadBalancerIPs] = "198.18.160.6"
	if err := env.Client.Update(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	waitIP(t, "cond", "s", "198.18.160.6")
	if meta.FindStatusCondition(getService(t, "cond", "s").Status.Conditions, other.Type) == nil {
		t.Fatal("the controller's status write removed another component's condition")
	}
}

// TestAdvertisementConditions checks, on the real API server, that advertisements get a
// Ready condition that follows the pools and peers they refer to.
func TestAdvertisementConditions(t *testing.T) {
	testenv.Require(t, env)
	startController(t, false)
	ctx := context.Background()
	bgpAdv := &ironlbv1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "adv-check"},
		Spec: ironlbv1.BGPAdvertisementSpec{PoolSelection: ironlbv1.PoolSelection{IPAddressPools: []string{"adv-pool"}}}}
	l2Adv := &ironlbv1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "adv-check"},
		Spec: ironlbv1.L2AdvertisementSpec{PoolSelection: ironlbv1.PoolSelection{IPAddressPools: []string{"adv-pool"}}}}
	for _, o := range []client.Object{bgpAdv, l2Adv} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
	}
	readyReason := func(obj client.Object, conds *[]metav1.Condition, want string) func() string {
		return func() string {
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
				return err.Error()
			}
			c := meta.FindStatusCondition(*conds, ironlbv1.ConditionReady)
			if c == nil || c.Reason != want {
				return fmt.Sprintf("%T Ready = %+v, want reason %s", obj, c, want)
			}
			return ""
		}
	}
	waitFor(t, 20*time.Second, readyReason(bgpAdv, &bgpAdv.Status.Conditions, advertisement.ReasonPoolNotFound))
	waitFor(t, 20*time.Second, readyReason(l2Adv, &l2Adv.Status.Conditions, advertisement.ReasonPoolNotFound))

	env.CreatePool(t, "adv-pool", ironlbv1.IPAddressPoolSpec{Addresses: addrs("198.18.200.0/24")})
	waitFor(t, 20*time.Second, readyReason(bgpAdv, &bgpAdv.Status.Conditions, advertisement.ReasonReady))
	waitFor(t, 20*time.Second, readyReason(l2Adv, &l2Adv.Status.Conditions, advertisement.ReasonReady))

	bgpAdv.Spec.AggregationLength = ptr.To(int32(16))
	bgpAdv.Spec.Peers = []string{"adv-router"}
	if err := env.Client.Update(ctx, bgpAdv); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, readyReason(bgpAdv, &bgpAdv.Status.Conditions, advertisement.ReasonPeerNotFound))
	peer := &ironlbv1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "adv-router"},
		Spec: ironlbv1.BGPPeerSpec{MyASN: 64513, PeerASN: 64512, PeerAddress: "198.18.0.254"}}
	if err := env.Client.Create(ctx, peer); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), peer) })
	waitFor(t, 20*time.Second, readyReason(bgpAdv, &bgpAdv.Status.Conditions, advertisement.ReasonAggregationBeyondPool))
	if c := meta.FindStatusCondition(bgpAdv.Status.Conditions, ironlbv1.ConditionReady); !strings.Contains(c.Message, "spec.aggregationLength 16") {
		t.Errorf("message %q does not name the field", c.Message)
	}
}
