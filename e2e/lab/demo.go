package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab/host"
)

// demoObjects are what both demos apply: a pool announced on layer 2, and a pool advertised
// by BGP from every node to the lab router (an IPv4 and an IPv6 session per node). Both are
// slices of the lab's pool range. How a Service gets the BGP pool (%[5]s) differs:
// demoBGPPoolByAnnotation or demoBGPPoolForNamespace.
const demoObjects = `apiVersion: ironlb.io/v1beta1
kind: IPAddressPool
metadata:
  name: demo
spec:
  addresses:
    - 198.18.100.0/24
    - 2001:db8:100::/120
  avoidBuggyIPs: true
---
apiVersion: ironlb.io/v1beta1
kind: L2Advertisement
metadata:
  name: demo
spec:
  ipAddressPools: [demo]
---
apiVersion: ironlb.io/v1beta1
kind: IPAddressPool
metadata:
  name: demo-bgp
spec:
  addresses:
    - 198.18.103.0/24
    - 2001:db8:100:3::/120
  avoidBuggyIPs: true
%[5]s---
apiVersion: ironlb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: demo-bgp
spec:
  ipAddressPools: [demo-bgp]
---
apiVersion: ironlb.io/v1beta1
kind: BGPPeer
metadata:
  name: lab-router
spec:
  myASN: %[1]d
  peerASN: %[2]d
  peerAddress: "%[3]s"
---
apiVersion: ironlb.io/v1beta1
kind: BGPPeer
metadata:
  name: lab-router-v6
spec:
  myASN: %[1]d
  peerASN: %[2]d
  peerAddress: "%[4]s"
`

// demoBGPPoolByAnnotation: the BGP pool is not handed out automatically, so only the
// Service that asks for it gets its addresses.
const demoBGPPoolByAnnotation = "  autoAssign: false\n"

// demoBGPPoolForNamespace: the BGP pool serves the namespace "bgp" first (priority), so a
// Service there gets a BGP address without any annotation.
const demoBGPPoolForNamespace = "  serviceAllocation:\n    priority: 10\n    namespaces: [bgp]\n"

// writeDemoObjects writes the demo's pools, advertisements and BGP peers, with bgpPool
// choosing how Services get the BGP pool, to the lab folder and returns the file's path.
func (l *Lab) writeDemoObjects(bgpPool string) (string, error) {
	file := filepath.Join(l.Dir, "demo.yaml")
	objects := fmt.Sprintf(demoObjects, l.opts.NodeASN, l.Router.ASN, l.Router.IPv4, l.Router.IPv6, bgpPool)
	return file, os.WriteFile(file, []byte(objects), 0o644)
}

// RunDemo shows ironlb at work in the lab: it starts the controller and the speakers,
// applies the demo's pools, advertisements and BGP peers, creates a LoadBalancer Service
// with a pod behind node-1, waits for the Service's external IP, and prints what a user would
// look at (kubectl get/describe) and a request through the EXTERNAL-IP from the L2 client.
// Then the same over BGP (demoBGP). The controller, speakers and pods keep running.
func (l *Lab) RunDemo(ctx context.Context, w io.Writer) error {
	if err := l.StartIronlb(ctx); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	file, err := l.writeDemoObjects(demoBGPPoolByAnnotation)
	if err != nil {
		return err
	}
	if err := l.applyFiles(ctx, []string{file}); err != nil {
		return fmt.Errorf("demo: apply the pools, advertisements and BGP peers: %w", err)
	}
	// A Service created before the controller has seen the pool would first get an
	// "AllocationFailed" event; wait for the pools to be Ready so the demo shows the usual case.
	for _, name := range []string{"demo", "demo-bgp"} {
		err := host.Poll(ctx, 30*time.Second, 100*time.Millisecond, "IPAddressPool "+name+" to be Ready", func(ctx context.Context) (bool, error) {
			var pool ironlbv1.IPAddressPool
			if err := l.Client.Get(ctx, client.ObjectKey{Name: name}, &pool); err != nil {
				return false, err
			}
			return meta.IsStatusConditionTrue(pool.Status.Conditions, ironlbv1.ConditionReady), nil
		})
		if err != nil {
			return fmt.Errorf("demo: %w (controller log: %s)", err, l.ControllerLog())
		}
	}
	svc, err := l.demoService(ctx, l.Nodes[0].Name, "demo", nil)
	if err != nil {
		return err
	}
	for _, args := range [][]string{
		{"get", "svc", "-n", "demo", "-o", "wide"},
		{"describe", "svc", "-n", "demo", "demo"},
	} {
		out, err := l.Kubectl(ctx, args...)
		_, _ = fmt.Fprintf(w, "$ kubectl %s\n%s\n\n", host.CommandLine(args[0], args[1:]), out)
		if err != nil {
			return err
		}
	}
	// The speakers answer ARP/NDP for the EXTERNAL-IP; the node that does hands the packets
	// to kube-proxy, exactly like NodePort traffic.
	if err := l.demoCurl(ctx, w, svc, l.L2Client.Netns, ""); err != nil {
		return err
	}
	return l.demoBGP(ctx, w)
}

// demoBGP shows the BGP path: a Service from the BGP pool with a pod behind node-2, the
// router's route to its address through every node (ECMP), and a request from the BGP
// client, which reaches the address only through that route.
func (l *Lab) demoBGP(ctx context.Context, w io.Writer) error {
	svc, err := l.demoService(ctx, l.Nodes[min(1, len(l.Nodes)-1)].Name, "demo-bgp",
		map[string]string{ironlbv1.AnnotationAddressPool: "demo-bgp"})
	if err != nil {
		return err
	}
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		a, err := netip.ParseAddr(ing.IP)
		if err != nil {
			return fmt.Errorf("demo: ingress %q: %w", ing.IP, err)
		}
		if err := l.showRouterRoute(ctx, w, a); err != nil {
			return fmt.Errorf("demo: %w (speaker logs: %s)", err, l.SpeakerLog(l.Nodes[0].Name))
		}
	}
	for _, args := range [][]string{{"get", "svc", "-n", "demo", "demo-bgp"}, {"get", "bgppeers"}} {
		if out, err := l.Kubectl(ctx, args...); err == nil {
			_, _ = fmt.Fprintf(w, "$ kubectl %s\n%s\n\n", host.CommandLine(args[0], args[1:]), out)
		}
	}
	return l.demoCurl(ctx, w, svc, l.BGPClient.Netns, "   # the BGP client, behind the router")
}

// demoService starts pod NAME-1 on node, creates LoadBalancer Service demo/NAME for it
// and returns the Service once it has its addresses.
func (l *Lab) demoService(ctx context.Context, node, name string, annotations map[string]string) (*corev1.Service, error) {
	pod, err := l.StartPod(ctx, node, name+"-1", map[string]string{"app": name})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	spec := NewLoadBalancerService("demo", name)
	spec.Annotations = annotations
	svc, err := l.CreateService(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if err := l.SetEndpoints(ctx, svc, Ready(pod)); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	svc, err = l.WaitForIngress(ctx, svc.Namespace, svc.Name, time.Minute)
	if err != nil {
		return nil, fmt.Errorf("demo: %w (controller log: %s)", err, l.ControllerLog())
	}
	return svc, nil
}

// demoCurl fetches every EXTERNAL-IP of svc from a client namespace and prints the
// command and the answer.
func (l *Lab) demoCurl(ctx context.Context, w io.Writer, svc *corev1.Service, netns, note string) error {
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if err := l.showCurl(ctx, w, ing.IP, netns, note); err != nil {
			return err
		}
	}
	_, _ = fmt.Fprintln(w)
	return nil
}

// showCurl waits until a request from netns to port 80 of ip answers, and prints the
// command with its answer.
func (l *Lab) showCurl(ctx context.Context, w io.Writer, ip, netns, note string) error {
	url := "http://" + net.JoinHostPort(ip, "80") + "/"
	var body string
	err := host.Poll(ctx, 30*time.Second, 200*time.Millisecond, "the EXTERNAL-IP at "+url+" from "+netns, func(ctx context.Context) (bool, error) {
		var err error
		body, err = l.Curl(ctx, netns, url)
		return err == nil, err
	})
	_, _ = fmt.Fprintf(w, "$ ip netns exec %s curl -g %s%s\n%s\n", netns, url, note, body)
	return err
}

// showRouterRoute waits until the router has a route to a through every node (each node
// advertises it with externalTrafficPolicy Cluster: ECMP), and prints vtysh's view of it.
func (l *Lab) showRouterRoute(ctx context.Context, w io.Writer, a netip.Addr) error {
	prefix := netip.PrefixFrom(a, a.BitLen())
	err := host.Poll(ctx, 30*time.Second, 200*time.Millisecond, "the router's route to "+prefix.String()+" through every node", func(ctx context.Context) (bool, error) {
		hops, err := l.RouterRoutes(ctx, prefix)
		if err != nil {
			return false, err
		}
		if len(hops) != len(l.Nodes) {
			return false, fmt.Errorf("%d next hops, want %d", len(hops), len(l.Nodes))
		}
		return true, nil
	})
	family := "ip"
	if a.Is6() {
		family = "ipv6"
	}
	cmd := fmt.Sprintf("show %s route %s", family, prefix)
	out, _ := l.Vtysh(ctx, cmd)
	_, _ = fmt.Fprintf(w, "$ vtysh -N %s -c '%s'\n%s\n\n", l.Router.FRRName, cmd, out)
	return err
}

// WaitForIngress waits until a Service has an address in status.loadBalancer.ingress and
// returns it as stored.
func (l *Lab) WaitForIngress(ctx context.Context, namespace, name string, timeout time.Duration) (*corev1.Service, error) {
	var svc *corev1.Service
	err := host.Poll(ctx, timeout, 100*time.Millisecond, "status.loadBalancer.ingress of Service "+namespace+"/"+name, func(ctx context.Context) (bool, error) {
		s, err := l.Kube.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		svc = s
		return len(s.Status.LoadBalancer.Ingress) > 0, nil
	})
	return svc, err
}
