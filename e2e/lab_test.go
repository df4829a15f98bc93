// Package e2e holds ironlb's end-to-end tests. They run in the lab (package e2e/lab), a
// real cluster in network namespaces, so they need root and take minutes; `go test -short`
// skips them.
package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
	"github.com/ironlb/ironlb/internal/testenv"
)

// startLab starts a lab for a test and removes it when the test ends, printing the end of
// every log first if the test failed.
func startLab(t *testing.T, opts lab.Options) *lab.Lab {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: needs root and a few minutes; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Fatal("end-to-end tests need root (they create network namespaces); run them as root or with -short")
	}
	opts.Logf = t.Logf
	// The lab lock serialises labs; the cluster package holds it for all its tests, so
	// the wait can be long when both packages run at once (make test).
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	start := time.Now()
	l, err := lab.Start(ctx, opts)
	if err != nil {
		t.Fatalf("start the lab: %v", err)
	}
	t.Logf("lab %s started in %s", l.Prefix, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			var b strings.Builder
			l.DumpLogs(&b, 40)
			t.Log(b.String())
		}
		start := time.Now()
		if err := l.Stop(); err != nil {
			t.Errorf("stop the lab: %v", err)
		}
		t.Logf("lab %s stopped in %s", l.Prefix, time.Since(start).Round(time.Millisecond))
	})
	return l
}

// nodePortURL is http://NODE-ADDRESS:NODEPORT/ for the Service's first port.
func nodePortURL(svc *corev1.Service, addr netip.Addr) string {
	return "http://" + net.JoinHostPort(addr.String(), strconv.Itoa(int(svc.Spec.Ports[0].NodePort))) + "/"
}

// eventually polls a check until it passes or the timeout ends, then fails the test with
// the last error.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	testenv.Eventually(t, timeout, 100*time.Millisecond, what, check)
}

// expectBody polls until curl from the L2 client answers with want.
func expectBody(ctx context.Context, t *testing.T, l *lab.Lab, url, want string) {
	t.Helper()
	eventually(t, 30*time.Second, "GET "+url, func() error {
		body, err := l.Curl(ctx, l.L2Client.Netns, url)
		if err != nil {
			return err
		}
		if body != want {
			return fmt.Errorf("answered %q, want %q", body, want)
		}
		return nil
	})
}

// expectNoAnswer checks that url does not answer within a second. Call it once the state
// that should make it silent is known to be in place (rules synced, link down).
func expectNoAnswer(ctx context.Context, t *testing.T, l *lab.Lab, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if body, err := l.Curl(ctx, l.L2Client.Netns, url); err == nil {
		t.Fatalf("GET %s answered %q, want no answer", url, body)
	}
}

// kubeProxyHasService reports whether a node's kube-proxy has programmed rules for a Service
// (its iptables comments name namespace/name).
func kubeProxyHasService(ctx context.Context, n *lab.Node, svc *corev1.Service) error {
	for _, tool := range []string{"iptables-save", "ip6tables-save"} {
		out, err := runCmd(ctx, "ip", "netns", "exec", n.Netns, tool, "-t", "nat")
		if err != nil {
			return err
		}
		if !strings.Contains(out, svc.Namespace+"/"+svc.Name) {
			return fmt.Errorf("%s: no %s rules for %s/%s yet", n.Name, tool, svc.Namespace, svc.Name)
		}
	}
	return nil
}

// TestLab builds a 3-node lab and checks every part of it a later test relies on: kube-proxy
// serving NodePorts from its real iptables rules (both families, both traffic policies),
// pods and EndpointSlices, the router, the ARP/NDP observer, the prober, failure injection,
// and ironlb's controller when it has been built.
func TestLab(t *testing.T) {
	l := startLab(t, lab.Options{Nodes: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n1, n2, n3 := l.Nodes[0], l.Nodes[1], l.Nodes[2]

	t.Run("router runs FRR with a neighbor per node address", func(t *testing.T) {
		peers, err := l.BGPNeighbors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[netip.Addr]bool{}
		for _, n := range l.Nodes {
			want[n.IPv4], want[n.IPv6] = true, true
		}
		for _, p := range peers {
			delete(want, p.Address)
			if p.State == "Established" {
				t.Errorf("neighbor %s is Established, but nothing speaks BGP yet", p.Address)
			}
		}
		if len(want) > 0 {
			t.Errorf("FRR has no neighbor for %v (has %v)", want, peers)
		}
		out, err := l.Vtysh(ctx, "show running-config")
		if err != nil || !strings.Contains(out, "maximum-paths") || !strings.Contains(out, "bfd") {
			t.Errorf("running config lacks maximum-paths or bfd (err %v):\n%s", err, out)
		}
		hops, err := l.RouterRoutes(ctx, netip.MustParsePrefix("198.18.1.0/24"))
		if err != nil || len(hops) != 1 || hops[0].Protocol != "connected" {
			t.Errorf("route to the BGP client's network: %v, %v", hops, err)
		}
		hops, err = l.RouterRoutes(ctx, netip.MustParsePrefix("198.18.100.7/32"))
		if err != nil || len(hops) != 0 {
			t.Errorf("route to an unannounced address: %v, %v", hops, err)
		}
	})

	t.Run("ARP and NDP observer names the node that answers", func(t *testing.T) {
		for _, a := range []netip.Addr{n1.IPv4, n1.IPv6} {
			macs, err := l.WhoHas(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			if len(macs) != 1 || l.NodeByMAC(macs[0]) != n1 {
				t.Errorf("WhoHas(%s) = %v, want only %s (%s)", a, macs, n1.MAC, n1.Name)
			}
		}
		macs, err := l.WhoHas(ctx, netip.MustParseAddr("198.18.0.99"))
		if err != nil || len(macs) != 0 {
			t.Errorf("WhoHas(unused address) = %v, %v; want no answer", macs, err)
		}
	})

	pod, err := l.StartPod(ctx, n2.Name, "web-1", map[string]string{"app": "web"})
	if err != nil {
		t.Fatal(err)
	}
	svcSpec := lab.NewLoadBalancerService("e2e", "web")
	svcSpec.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	svc, err := l.CreateService(ctx, svcSpec)
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Ports[0].NodePort == 0 || svc.Spec.HealthCheckNodePort == 0 {
		t.Fatalf("the API server allocated no NodePort or health check port: %+v", svc.Spec)
	}
	if err := l.SetEndpoints(ctx, svc, lab.Ready(pod)); err != nil {
		t.Fatal(err)
	}

	t.Run("externalTrafficPolicy Local: only the pod's node answers on the NodePort", func(t *testing.T) {
		for _, a := range []netip.Addr{n2.IPv4, n2.IPv6} {
			expectBody(ctx, t, l, nodePortURL(svc, a), "web-1")
		}
		for _, n := range []*lab.Node{n1, n3} {
			eventually(t, 30*time.Second, "kube-proxy rules on "+n.Name, func() error { return kubeProxyHasService(ctx, n, svc) })
			expectNoAnswer(ctx, t, l, nodePortURL(svc, n.IPv4))
			expectNoAnswer(ctx, t, l, nodePortURL(svc, n.IPv6))
		}
	})

	t.Run("externalTrafficPolicy Cluster: every node forwards to the pod", func(t *testing.T) {
		patch := []byte(`{"spec":{"externalTrafficPolicy":"Cluster"}}`)
		if _, err := l.Kube.CoreV1().Services(svc.Namespace).Patch(ctx, svc.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, n := range l.Nodes {
			expectBody(ctx, t, l, nodePortURL(svc, n.IPv4), "web-1")
			expectBody(ctx, t, l, nodePortURL(svc, n.IPv6), "web-1")
		}
	})

	t.Run("prober sees no gap on a steady path", func(t *testing.T) {
		p, err := l.Probe(ctx, l.L2Client.Netns, nodePortURL(svc, n1.IPv4), 10*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // the measurement window itself
		r := p.Stop()
		t.Logf("probe: %s", r)
		if r.Failures != 0 || r.Successes < 20 || r.Responders["web-1"] != r.Successes {
			t.Errorf("steady probe: %s", r)
		}
	})

	t.Run("moved pod is reached on its new node", func(t *testing.T) {
		moved, err := l.MovePod(ctx, pod, n3.Name)
		if err != nil {
			t.Fatal(err)
		}
		if moved.IPv4 == pod.IPv4 || !moved.Node.PodCIDRv4.Contains(moved.IPv4) {
			t.Errorf("moved pod has address %s, want a new one in %s", moved.IPv4, moved.Node.PodCIDRv4)
		}
		if err := l.SetEndpoints(ctx, svc, lab.Ready(moved)); err != nil {
			t.Fatal(err)
		}
		expectBody(ctx, t, l, nodePortURL(svc, n1.IPv4), "web-1")
		expectBody(ctx, t, l, nodePortURL(svc, n1.IPv6), "web-1")
		pod = moved
	})

	t.Run("link down cuts a node off and link up restores it", func(t *testing.T) {
		url := nodePortURL(svc, n2.IPv4)
		if err := l.LinkDown(ctx, n2.Name); err != nil {
			t.Fatal(err)
		}
		expectNoAnswer(ctx, t, l, url)
		if err := l.LinkUp(ctx, n2.Name); err != nil {
			t.Fatal(err)
		}
		expectBody(ctx, t, l, url, "web-1")
	})

	t.Run("nftables block of a port in a node", func(t *testing.T) {
		// kube-proxy's healthz is a local socket on the node, as memberlist's will be.
		url := fmt.Sprintf("http://%s:10256/healthz", n1.IPv4)
		if err := l.BlockMemberlist(ctx, n1.Name, 10256); err != nil {
			t.Fatal(err)
		}
		expectNoAnswer(ctx, t, l, url)
		if err := l.UnblockMemberlist(ctx, n1.Name); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "unblocked port", func() error { _, err := l.Curl(ctx, l.L2Client.Netns, url); return err })
	})

	t.Run("API server stop and start", func(t *testing.T) {
		if err := l.StopAPIServer(); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
			t.Error("the API server answered while stopped")
		}
		// The data path does not depend on the API server.
		expectBody(ctx, t, l, nodePortURL(svc, n1.IPv4), "web-1")
		if err := l.StartAPIServer(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("after restart: %v", err)
		}
	})

	t.Run("ServiceAccount identities are subject to RBAC", func(t *testing.T) {
		kubeconfig, err := l.ServiceAccountKubeconfig(ctx, "e2e", "nobody")
		if err != nil {
			t.Fatal(err)
		}
		out, err := runCmd(ctx, l.KubectlPath(), "--kubeconfig", kubeconfig, "get", "nodes")
		if err == nil || !strings.Contains(out, "forbidden") {
			t.Errorf("a ServiceAccount without roles listed nodes: %v %s", err, out)
		}
	})

	t.Run("controller assigns an external IP", func(t *testing.T) {
		pool := &ironlbv1.IPAddressPool{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e"},
			Spec:       ironlbv1.IPAddressPoolSpec{Addresses: []ironlbv1.AddressRange{"198.18.100.0/24", "2001:db8:100::/120"}},
		}
		if err := l.Client.Create(ctx, pool); err != nil {
			t.Fatal(err)
		}
		if err := l.StartController(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := l.WaitForIngress(ctx, svc.Namespace, svc.Name, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, ing := range got.Status.LoadBalancer.Ingress {
			a, err := netip.ParseAddr(ing.IP)
			inPool := err == nil && (netip.MustParsePrefix("198.18.100.0/24").Contains(a) || netip.MustParsePrefix("2001:db8:100::/120").Contains(a))
			if !inPool {
				t.Errorf("ingress %q is not from the pool", ing.IP)
			}
		}
		t.Logf("ingress: %+v", got.Status.LoadBalancer.Ingress)
	})

	t.Run("speakers run in the nodes and obey failure injection", func(t *testing.T) {
		// Only the wiring: the speaker's own tests check what it announces.
		for _, n := range l.Nodes {
			if err := l.StartSpeaker(ctx, n.Name); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.StartSpeaker(ctx, n1.Name); err == nil {
			t.Error("a second speaker started on node-1")
		}
		if err := l.FreezeSpeaker(n1.Name); err != nil {
			t.Fatal(err)
		}
		if err := l.ThawSpeaker(n1.Name); err != nil {
			t.Fatal(err)
		}
		if err := l.KillSpeaker(n2.Name); err != nil {
			t.Fatal(err)
		}
		if err := l.StopSpeaker(n2.Name); err == nil {
			t.Error("stopping a killed speaker succeeded")
		}
		// Restart a frozen speaker: it must be thawed to be stopped.
		if err := l.FreezeSpeaker(n3.Name); err != nil {
			t.Fatal(err)
		}
		for _, n := range []*lab.Node{n2, n3} {
			if err := l.RestartSpeaker(ctx, n.Name); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.RestartController(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
