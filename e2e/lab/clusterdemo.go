package lab

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
)

// DemoObjectsFile writes the cluster demo's pools, advertisements and BGP peers to the lab
// folder and returns the file's path. Services in namespace "bgp" get the BGP pool.
func (l *Lab) DemoObjectsFile() (string, error) { return l.writeDemoObjects(demoBGPPoolForNamespace) }

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
			if err := l.showRouterRoute(ctx, w, a); err != nil {
				return fmt.Errorf("demo: %w", err)
			}
		}
		if err := l.showCurl(ctx, w, ing.IP, client, note); err != nil {
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
