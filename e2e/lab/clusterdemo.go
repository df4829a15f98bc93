package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// clusterDemoObjects are what the cluster demo applies after installing the chart: a pool
// announced on layer 2 for every namespace, and a pool advertised by BGP to the lab router
// that serves the namespace "bgp" first (priority), so a Service there gets a BGP address
// without any annotation. Both are slices of the lab's pool range.
const clusterDemoObjects = `apiVersion: ironlb.io/v1beta1
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
  serviceAllocation:
    priority: 10
    namespaces: [bgp]
---
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

// DemoObjectsFile writes the demo's pools, advertisements and BGP peers to the lab folder
// and returns the file's path.
func (l *Lab) DemoObjectsFile() (string, error) {
	file := filepath.Join(l.Dir, "demo.yaml")
	objects := fmt.Sprintf(clusterDemoObjects, l.opts.NodeASN, l.Router.ASN, l.Router.IPv4, l.Router.IPv6)
	return file, os.WriteFile(file, []byte(objects), 0o644)
}

// RunClusterDemo is `make demo` on a cluster lab: it installs ironlb with Helm from
// charts/ironlb, applies the demo's pools, then does what the README's "deploy your own
// app" session does (a Deployment of the podserver image, `kubectl expose
// --type=LoadBalancer`, curl from the L2 client), and the same in namespace "bgp" through
// the router. Every command is printed with its real output.
func (l *Lab) RunClusterDemo(ctx context.Context, w io.Writer) error {
	show := func(args ...string) (string, error) {
		out, err := l.Kubectl(ctx, args...)
		_, _ = fmt.Fprintf(w, "$ kubectl %s\n%s\n\n", strings.Join(args, " "), out)
		return out, err
	}
	if _, err := show("get", "nodes", "-o", "wide"); err != nil {
		return err
	}
	_, _ = fmt.Fprintf(w, "$ helm install %s charts/ironlb --namespace %s --create-namespace --wait\n", ReleaseName, ControllerNamespace)
	out, err := l.InstallIronlb(ctx)
	_, _ = fmt.Fprintf(w, "%s\n\n", firstLines(out, 6))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if _, err := show("-n", ControllerNamespace, "get", "pods", "-o", "wide"); err != nil {
		return err
	}
	file, err := l.DemoObjectsFile()
	if err != nil {
		return err
	}
	if _, err := show("apply", "-f", file); err != nil {
		return fmt.Errorf("demo: apply the pools: %w", err)
	}
	for _, pool := range []string{"demo", "demo-bgp"} {
		if _, err := l.Kubectl(ctx, "wait", "--for=condition=Ready", "--timeout=60s", "ipaddresspool/"+pool); err != nil {
			return fmt.Errorf("demo: pool %s: %w", pool, err)
		}
	}
	if err := l.demoApp(ctx, w, show, "default", l.L2Client.Netns, ""); err != nil {
		return err
	}
	if _, err := show("create", "namespace", "bgp"); err != nil {
		return err
	}
	return l.demoApp(ctx, w, show, "bgp", l.BGPClient.Netns, "   # the BGP client, behind the router")
}

// demoApp is the README's session in one namespace: create a Deployment of the podserver
// with two replicas, expose it as a LoadBalancer, wait for its EXTERNAL-IP and curl it
// from a client namespace (and, for BGP, show the router's route through every node).
func (l *Lab) demoApp(ctx context.Context, w io.Writer, show func(...string) (string, error), ns, client, note string) error {
	if _, err := show("-n", ns, "create", "deployment", "web", "--image="+PodserverImage, "--replicas=2"); err != nil {
		return err
	}
	if _, err := show("-n", ns, "expose", "deployment", "web", "--type=LoadBalancer", "--port=80"); err != nil {
		return err
	}
	if _, err := l.Kubectl(ctx, "-n", ns, "rollout", "status", "deployment/web", "--timeout=90s"); err != nil {
		return fmt.Errorf("demo: deployment %s/web: %w", ns, err)
	}
	svc, err := l.WaitForIngress(ctx, ns, "web", time.Minute)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if _, err := show("-n", ns, "get", "pods,svc", "-o", "wide"); err != nil {
		return err
	}
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		a, err := netip.ParseAddr(ing.IP)
		if err != nil {
			return err
		}
		if ns == "bgp" {
			prefix := netip.PrefixFrom(a, a.BitLen())
			err := poll(ctx, 30*time.Second, 200*time.Millisecond, "the router's route to "+prefix.String()+" through every node", func(ctx context.Context) (bool, error) {
				hops, err := l.RouterRoutes(ctx, prefix)
				if err != nil {
					return false, err
				}
				return len(hops) == len(l.Nodes), fmt.Errorf("%d next hops, want %d", len(hops), len(l.Nodes))
			})
			family := "ip"
			if a.Is6() {
				family = "ipv6"
			}
			cmd := fmt.Sprintf("show %s route %s", family, prefix)
			out, _ := l.Vtysh(ctx, cmd)
			_, _ = fmt.Fprintf(w, "$ vtysh -N %s -c '%s'\n%s\n\n", l.Router.FRRName, cmd, out)
			if err != nil {
				return fmt.Errorf("demo: %w", err)
			}
		}
		url := "http://" + net.JoinHostPort(ing.IP, "80") + "/"
		var body string
		err = poll(ctx, 30*time.Second, 200*time.Millisecond, "the EXTERNAL-IP at "+url+" from "+client, func(ctx context.Context) (bool, error) {
			body, err = l.Curl(ctx, client, url)
			return err == nil, err
		})
		_, _ = fmt.Fprintf(w, "$ ip netns exec %s curl -g %s%s\n%s\n", client, url, note, body)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	_, _ = fmt.Fprintln(w)
	return nil
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
