package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/controller/app"
	"github.com/ironlb/ironlb/internal/metricsendpoint"
	"github.com/ironlb/ironlb/internal/testenv"
	"github.com/ironlb/ironlb/kubectl-ironlb/report"
)

// startController runs the real ironlb controller against the test API server.
func startController(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	o := app.Options{Config: env.Config, Metrics: metricsendpoint.Options{BindAddress: "0"}, HealthAddr: "0", LeaderElect: false,
		QPS: 200, Burst: 400, EventsQPS: 100, EventsBurst: 200, Workers: 4, LogLevel: "error"}
	go func() { done <- app.Run(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
	})
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := env.Client.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		obj := o
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), obj) })
	}
}

func service(ns, name string, annotations map[string]string, port int32, change func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Name: "http", Port: port, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}}},
	}
	if change != nil {
		change(svc)
	}
	return svc
}

// waitCondition waits until the Service's IPAllocated condition satisfies ok.
func waitCondition(t *testing.T, ns, name string, ok func(*metav1.Condition) bool) *corev1.Service {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var svc corev1.Service
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &svc); err != nil {
			t.Fatal(err)
		}
		c := meta.FindStatusCondition(svc.Status.Conditions, ironlbv1.ConditionIPAllocated)
		if c != nil && ok(c) {
			return &svc
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s: condition %+v", ns, name, c)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func node(name string, labels map[string]string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func endpointSlice(ns, svc string, nodes ...string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: svc + "-eps",
		Labels: map[string]string{discoveryv1.LabelServiceName: svc}}, AddressType: discoveryv1.AddressTypeIPv4}
	for i, n := range nodes {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("198.18.250.%d", i+1)},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}, NodeName: ptr.To(n)})
	}
	return s
}

// speakerPod creates a pod labelled like the chart's speaker pods, running on node, with
// the Gossip conditions given (as the speaker writes them on its own pod).
func speakerPod(t *testing.T, name, node string, conds ...corev1.PodCondition) {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ironlb-system", Name: name, Labels: report.SpeakerSelector},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "speaker", Image: "localhost/ironlb/ironlb-speaker"}}}}
	create(t, pod)
	pod.Status.Phase = corev1.PodRunning
	pod.Status.Conditions = conds
	if err := env.Client.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
}

// announce writes the L2Announced condition the way the speaker does.
func announce(t *testing.T, ns, name, msg string) {
	t.Helper()
	var svc corev1.Service
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &svc); err != nil {
		t.Fatal(err)
	}
	meta.SetStatusCondition(&svc.Status.Conditions, metav1.Condition{Type: ironlbv1.ConditionL2Announced,
		Status: metav1.ConditionTrue, Reason: ironlbv1.ReasonAnnouncing, Message: msg})
	if err := env.Client.Status().Update(context.Background(), &svc); err != nil {
		t.Fatal(err)
	}
}

// reportSessions writes a BGPPeer's per-node session status the way the speakers do.
func reportSessions(t *testing.T, peer string, nodes ...ironlbv1.PeerNodeStatus) {
	t.Helper()
	var p ironlbv1.BGPPeer
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: peer}, &p); err != nil {
		t.Fatal(err)
	}
	p.Status.Nodes = nodes
	meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: ironlbv1.ConditionReady, Status: metav1.ConditionTrue,
		Reason: ironlbv1.ReasonConfigured, Message: "the session can be opened"})
	if err := env.Client.Status().Update(context.Background(), &p); err != nil {
		t.Fatal(err)
	}
}

// setupCluster creates nodes, pools, advertisements, a peer and Services: web (an address,
// announced on layer 2 by node-a and by BGP from both nodes), local (externalTrafficPolicy
// Local with its only pod on node-b), and one pending Service per reason the controller has.
func setupCluster(t *testing.T) map[string]string {
	t.Helper()
	ctx := context.Background()
	for _, ns := range []string{"demo", "full", "ironlb-system"} {
		_ = env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	create(t, node("node-a", map[string]string{"rack": "r1"}), node("node-b", map[string]string{"rack": "r2"}))
	create(t,
		&ironlbv1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "default"},
			Spec: ironlbv1.IPAddressPoolSpec{Addresses: []ironlbv1.AddressRange{"198.18.100.0/28"}}},
		&ironlbv1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "small"},
			Spec: ironlbv1.IPAddressPoolSpec{Addresses: []ironlbv1.AddressRange{"198.18.101.1-198.18.101.2", "2001:db8:101::/126"}, AutoAssign: ptr.To(false)}},
		&ironlbv1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "tenant"},
			Spec: ironlbv1.IPAddressPoolSpec{Addresses: []ironlbv1.AddressRange{"198.18.102.0/30"},
				ServiceAllocation: &ironlbv1.ServiceAllocation{Namespaces: []string{"tenant-only"}}}},
		&ironlbv1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "lan"},
			Spec: ironlbv1.L2AdvertisementSpec{PoolSelection: ironlbv1.PoolSelection{IPAddressPools: []string{"default"}}, Interfaces: []ironlbv1.InterfaceName{"eth0"}}},
		&ironlbv1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "upstream"},
			Spec: ironlbv1.BGPAdvertisementSpec{PoolSelection: ironlbv1.PoolSelection{IPAddressPools: []string{"default"}}}},
		&ironlbv1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "router"},
			Spec: ironlbv1.BGPPeerSpec{MyASN: 64500, PeerASN: 64501, PeerAddress: "198.18.0.1"}},
		// An IPv6 session carries IPv4 routes only with dualStackAddressFamily.
		&ironlbv1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "router-v6"},
			Spec: ironlbv1.BGPPeerSpec{MyASN: 64500, PeerASN: 64501, PeerAddress: "2001:db8::1"}},
		&ironlbv1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "router-ds"},
			Spec: ironlbv1.BGPPeerSpec{MyASN: 64500, PeerASN: 64501, PeerAddress: "2001:db8::2", DualStackAddressFamily: true}},
	)
	t.Cleanup(func() { removeIronlbObjects(t) })
	speakerPod(t, "ironlb-speaker-7x2kq", "node-a", corev1.PodCondition{Type: ironlbv1.ConditionGossip,
		Status: corev1.ConditionFalse, Reason: ironlbv1.ReasonPartial, Message: "1 of 2 speakers: node-a; missing: node-b",
		LastTransitionTime: metav1.Now()})
	speakerPod(t, "ironlb-speaker-m4d9s", "node-b")
	startController(t)
	key := ironlbv1.AnnotationLoadBalancerIPs
	create(t,
		service("demo", "web", map[string]string{key: "198.18.100.10"}, 80, nil),
		endpointSlice("demo", "web", "node-a", "node-b"),
		service("demo", "local", map[string]string{key: "198.18.100.11"}, 80, func(s *corev1.Service) {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}),
		endpointSlice("demo", "local", "node-b"),
		service("full", "one", map[string]string{ironlbv1.AnnotationAddressPool: "small"}, 80, nil),
		service("full", "two", map[string]string{ironlbv1.AnnotationAddressPool: "small"}, 80, nil),
	)
	waitCondition(t, "demo", "web", func(c *metav1.Condition) bool { return c.Status == metav1.ConditionTrue })
	waitCondition(t, "full", "two", func(c *metav1.Condition) bool { return c.Status == metav1.ConditionTrue })
	// One Service per reason the controller gives for having no address.
	pending := map[string]*corev1.Service{
		"NoMatchingPool": service("demo", "no-pool", map[string]string{ironlbv1.AnnotationAddressPool: "missing"}, 80, nil),
		// The test's nodes report no Ready condition: none can give node addresses.
		"NoNodeAddresses": service("demo", "no-node", map[string]string{ironlbv1.AnnotationAddressPool: "missing",
			ironlbv1.AnnotationNodeAddressFallback: "true"}, 80, nil),
		"PoolExhausted":        service("full", "three", map[string]string{ironlbv1.AnnotationAddressPool: "small"}, 80, nil),
		"RequestedIPNotInPool": service("demo", "outside", map[string]string{key: "198.18.200.1"}, 80, nil),
		"RequestedIPInUse":     service("demo", "taken", map[string]string{key: "198.18.100.10"}, 443, nil),
		"FamilyUnavailable": service("demo", "dual", map[string]string{ironlbv1.AnnotationAddressPool: "default"}, 80, func(s *corev1.Service) {
			s.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyRequireDualStack)
		}),
		"PoolNotAllowed":    service("demo", "not-mine", map[string]string{ironlbv1.AnnotationAddressPool: "tenant"}, 80, nil),
		"InvalidAnnotation": service("demo", "typo", map[string]string{key: "198.18.100.300"}, 80, nil),
		"SharingConflict": service("demo", "share-b", map[string]string{key: "198.18.100.12", ironlbv1.AnnotationAllowSharedIP: "k"}, 80, func(s *corev1.Service) {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}),
	}
	create(t, service("demo", "share-a", map[string]string{key: "198.18.100.12", ironlbv1.AnnotationAllowSharedIP: "k"}, 80, nil))
	waitCondition(t, "demo", "share-a", func(c *metav1.Condition) bool { return c.Status == metav1.ConditionTrue })
	names := map[string]string{}
	for reason, svc := range pending {
		create(t, svc)
		names[reason] = svc.Namespace + "/" + svc.Name
	}
	for reason, svc := range pending {
		r := reason
		waitCondition(t, svc.Namespace, svc.Name, func(c *metav1.Condition) bool { return c.Status == metav1.ConditionFalse && c.Reason == r })
	}
	announce(t, "demo", "web", "node node-a answers ARP/NDP for 198.18.100.10 on eth0")
	since := metav1.NewTime(time.Now().Add(-5 * time.Minute))
	reportSessions(t, "router",
		ironlbv1.PeerNodeStatus{Node: "node-a", State: "Established", Since: &since, PrefixesSent: 3},
		ironlbv1.PeerNodeStatus{Node: "node-b", State: "Active", Since: &since, Message: "connect: connection refused"})
	return names
}

func TestCommandsAgainstController(t *testing.T) {
	e := testenv.Require(t, env)
	pending := setupCluster(t)
	t.Run("explain every pending reason", func(t *testing.T) { explainPending(t, e, pending) })
	t.Run("explain an announced Service", func(t *testing.T) { explainAnnounced(t, e) })
	t.Run("explain externalTrafficPolicy Local", func(t *testing.T) { explainLocal(t, e) })
	t.Run("pools", func(t *testing.T) { poolsTable(t, e) })
	t.Run("status", func(t *testing.T) { statusScreen(t, e) })
}

func explainPending(t *testing.T, e *testenv.Env, pending map[string]string) {
	covered := map[string]bool{}
	for reason, key := range pending {
		ns, name, _ := strings.Cut(key, "/")
		out, stderr, code := plugin(t, e.Kubeconfig, "explain", "svc", "-n", ns, name)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", key, code, stderr)
		}
		mustContain(t, "explain "+key, out, "Why pending: "+reason+": ",
			"Meaning:   "+report.Reasons[reason].Meaning, "To fix:    "+report.Reasons[reason].Fix,
			"Warning  AllocationFailed")
		covered[reason] = true
		if reason == "PoolExhausted" {
			t.Logf("kubectl ironlb explain svc -n %s %s\n%s", ns, name, out)
		}
	}
	for reason := range report.Reasons {
		if !covered[reason] {
			t.Errorf("reason %s has no Service provoking it in this test", reason)
		}
	}
}

func explainAnnounced(t *testing.T, e *testenv.Env) {
	out, _, code := plugin(t, e.Kubeconfig, "explain", "svc", "-n", "demo", "web")
	if code != 0 {
		t.Fatal(out)
	}
	t.Logf("kubectl ironlb explain svc -n demo web\n%s", out)
	if strings.Contains(out, "router-v6") {
		t.Errorf("an IPv4 prefix must not go to the IPv6 session without dualStackAddressFamily:\n%s", out)
	}
	mustContain(t, "explain web", out,
		"Service demo/web (type LoadBalancer)",
		"Addresses:   198.18.100.10 from pool default",
		"Allocation:  allocated: 198.18.100.10 from pool default",
		"node node-a answers ARP/NDP for 198.18.100.10 on eth0",
		"node node-a advertises 198.18.100.10/32 to router (Established since ",
		"node node-b advertises 198.18.100.10/32 to router (Active since ",
		"router-ds (not reported)",
		"Cluster: every announcing node accepts the traffic",
		"Normal   IPAllocated")
}

func explainLocal(t *testing.T, e *testenv.Env) {
	out, _, _ := plugin(t, e.Kubeconfig, "explain", "svc/local", "-n", "demo")
	t.Logf("kubectl ironlb explain svc/local -n demo\n%s", out)
	mustContain(t, "explain local", out, "node node-b advertises 198.18.100.11/32 to router (Active",
		"nodes with a ready local endpoint: node-b", "is a speaker running?")
	if strings.Contains(out, "node node-a advertises") {
		t.Errorf("node-a has no local endpoint and must not advertise:\n%s", out)
	}
}

func poolsTable(t *testing.T, e *testenv.Env) {
	var out string
	// The controller writes pool usage in batches (about a second): wait for the counts.
	testenv.Eventually(t, 15*time.Second, 200*time.Millisecond, "the pools table", func() error {
		var code int
		out, _, code = plugin(t, e.Kubeconfig, "pools")
		if code != 0 {
			return fmt.Errorf("exit %d: %s", code, out)
		}
		for _, l := range strings.Split(out, "\n") {
			f := strings.Fields(l)
			if len(f) > 5 && f[0] == "small" && (f[1] != "IPv4" || f[2] != "2" || f[3] != "0" || f[4] != "2" || f[5] != "no") {
				return fmt.Errorf("small: %q; want IPv4 used 2 free 0 total 2, auto no", l)
			}
			if len(f) > 4 && f[0] == "default" && (f[1] != "IPv4" || f[2] != "3" || f[4] != "16") {
				return fmt.Errorf("default: %q; want IPv4 used 3 of 16", l)
			}
		}
		return nil
	})
	t.Logf("kubectl ironlb pools\n%s", out)
	mustContain(t, "pools", out, "POOL", "default", "demo/web (198.18.100.10)", "small", "IPv6", "full/one (")
	js, _, _ := plugin(t, e.Kubeconfig, "pools", "-o", "json")
	var parsed []report.PoolReport
	if err := json.Unmarshal([]byte(js), &parsed); err != nil || len(parsed) != 3 || parsed[1].IPv4.Used != 2 {
		t.Errorf("pools -o json: %v %+v", err, parsed)
	}
}

func statusScreen(t *testing.T, e *testenv.Env) {
	out, _, code := plugin(t, e.Kubeconfig, "status")
	if code != 0 {
		t.Fatal(out)
	}
	t.Logf("kubectl ironlb status\n%s", out)
	mustContain(t, "status", out, "Pools:", "Advertisements and peers:", "L2Advertisement", "lan", "BGPAdvertisement",
		"upstream", "BGPPeer", "Configured", "Speakers:", "NODE SPEAKER GOSSIP L2 ADDRESSES (ARP/NDP)",
		"node-a ironlb-system/ironlb-speaker-7x2kq False (Partial): 1 of 2 speakers: node-a; missing: node-b 198.18.100.10 demo/web on eth0",
		"node-b ironlb-system/ironlb-speaker-m4d9s not reported -", "BGP sessions:")
	for _, want := range [][]string{{"router", "198.18.0.1", "node-a", "Established", "5m", "3"}, {"router", "198.18.0.1", "node-b", "Active"}} {
		found := false
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) >= len(want) && strings.Join(f[:len(want)], " ") == strings.Join(want, " ") {
				found = true
			}
		}
		if !found {
			t.Errorf("status lacks a session line %v:\n%s", want, out)
		}
	}
	y, _, _ := plugin(t, e.Kubeconfig, "status", "-o", "yaml")
	mustContain(t, "status -o yaml", y, "bgpSessions:", "state: Established", "prefixesSent: 3", "node: node-a",
		"gossip:", "reason: Partial", "message: '1 of 2 speakers: node-a; missing: node-b'")
	js, _, _ := plugin(t, e.Kubeconfig, "status", "-o", "json")
	var parsed report.Status
	if err := json.Unmarshal([]byte(js), &parsed); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, js)
	}
	for _, sp := range parsed.Speakers {
		switch sp.Node {
		case "node-a":
			if sp.Gossip == nil || sp.Gossip.Status != "False" || sp.Gossip.Reason != ironlbv1.ReasonPartial || sp.Gossip.Since == nil {
				t.Errorf("status -o json: node-a's gossip %+v, want False Partial with a since", sp.Gossip)
			}
		case "node-b":
			if sp.Gossip != nil {
				t.Errorf("status -o json: node-b reported no gossip, got %+v", sp.Gossip)
			}
		}
	}
}
