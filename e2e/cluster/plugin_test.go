package cluster

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/ironlb/ironlb/e2e/lab"
)

// TestPluginOnTheLab runs `kubectl ironlb` against the lab cluster, where the real
// speakers write the L2Announced conditions, the BGP session status and their Pods' Gossip
// conditions: status lists every node's speaker pod, seeing all speakers, and the sessions
// to the lab router, explain names the node answering
// ARP/NDP for a layer-2 Service and the Established sessions a BGP Service is advertised on.
func TestPluginOnTheLab(t *testing.T) {
	l := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	run := pluginRunner(ctx, t, l)
	applyDemo(ctx, t, l, "plugin", "bgp")
	ips := map[string][]string{}
	for _, ns := range []string{"plugin", "bgp"} {
		if _, err := l.CreateDeployment(ctx, lab.NewPodserverDeployment(ns, "web", 1)); err != nil {
			t.Fatal(err)
		}
		spec := lab.NewLoadBalancerService(ns, "web")
		spec.Spec.Ports[0].TargetPort = intstr.FromInt32(lab.PodPort)
		if _, err := l.CreateService(ctx, spec); err != nil {
			t.Fatal(err)
		}
		svc, err := l.WaitForIngress(ctx, ns, "web", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			ips[ns] = append(ips[ns], ing.IP)
		}
	}
	var explainL2 string
	eventually(t, time.Minute, "explain names the node answering ARP/NDP", func() error {
		explainL2 = run("explain", "svc", "-n", "plugin", "web")
		for _, ip := range ips["plugin"] {
			if !strings.Contains(explainL2, "answers ARP/NDP for "+ip+" on ") {
				return fmt.Errorf("no node answers for %s:\n%s", ip, explainL2)
			}
		}
		return nil
	})
	t.Logf("kubectl ironlb explain svc -n plugin web\n%s", explainL2)
	var explainBGP string
	eventually(t, time.Minute, "explain shows Established sessions", func() error {
		explainBGP = run("explain", "svc", "-n", "bgp", "web")
		for _, ip := range ips["bgp"] {
			if !strings.Contains(explainBGP, " advertises "+ip+"/") || !strings.Contains(explainBGP, "(Established since ") {
				return fmt.Errorf("%s is not advertised on an Established session:\n%s", ip, explainBGP)
			}
		}
		return nil
	})
	t.Logf("kubectl ironlb explain svc -n bgp web\n%s", explainBGP)
	checkLocal(ctx, t, l, run)
	// A session may still be connecting (Active) just after explain saw others up.
	var status string
	eventually(t, time.Minute, "status shows every node's speaker and Established sessions", func() error {
		status = run("status")
		for _, n := range l.Nodes {
			line := speakerLine(status, n.Name)
			if line == "" || strings.Contains(line, "not running") {
				return fmt.Errorf("node %s has no running speaker:\n%s", n.Name, status)
			}
			if !strings.Contains(line, fmt.Sprintf("True: %d of %d speakers: ", len(l.Nodes), len(l.Nodes))) {
				return fmt.Errorf("node %s's speaker does not report seeing every speaker:\n%s", n.Name, status)
			}
			if lineWith(status, "lab-router ", " "+n.Name+" ", "Established") == "" {
				return fmt.Errorf("no Established session of node %s to lab-router:\n%s", n.Name, status)
			}
		}
		return nil
	})
	t.Logf("kubectl ironlb status\n%s", status)
	pools := run("pools")
	t.Logf("kubectl ironlb pools\n%s", pools)
	if lineWith(pools, "demo-bgp ", "bgp/web (") == "" || lineWith(pools, "demo ", "plugin/web (") == "" {
		t.Errorf("pools does not list the Services under their pools:\n%s", pools)
	}
}

// pluginRunner builds kubectl-ironlb and returns a function that runs it against the lab
// and returns its output, failing the test when it exits non-zero.
func pluginRunner(ctx context.Context, t *testing.T, l *lab.Lab) func(args ...string) string {
	t.Helper()
	plugin := filepath.Join(t.TempDir(), "kubectl-ironlb")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", plugin, "github.com/ironlb/ironlb/kubectl-ironlb").CombinedOutput(); err != nil {
		t.Fatalf("go build kubectl-ironlb: %v\n%s", err, out)
	}
	return func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, plugin, append([]string{"--kubeconfig", l.Kubeconfig()}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl ironlb %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
}

// checkLocal exposes the one-pod Deployment of namespace "plugin" again with
// externalTrafficPolicy: Local, and checks that explain names the pod's node as the only one
// with a local endpoint and as the node answering ARP/NDP.
func checkLocal(ctx context.Context, t *testing.T, l *lab.Lab, run func(...string) string) {
	t.Helper()
	spec := lab.NewLoadBalancerService("plugin", "local")
	spec.Spec.Selector = map[string]string{"app": "web"}
	spec.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	spec.Spec.Ports[0].TargetPort = intstr.FromInt32(lab.PodPort)
	if _, err := l.CreateService(ctx, spec); err != nil {
		t.Fatal(err)
	}
	var out string
	eventually(t, time.Minute, "explain of an externalTrafficPolicy: Local Service", func() error {
		pods, err := l.PodsOf(ctx, "plugin", "app=web")
		if err != nil {
			return err
		}
		if len(pods) != 1 || pods[0].Spec.NodeName == "" {
			return fmt.Errorf("%d pods of plugin/web, want one scheduled", len(pods))
		}
		node := pods[0].Spec.NodeName
		out = run("explain", "svc", "-n", "plugin", "local")
		if !strings.Contains(out, "nodes with a ready local endpoint: "+node+"\n") ||
			strings.Count(out, "\n  node "+node+" answers ARP/NDP for ") != 2 {
			return fmt.Errorf("want node %s (the pod's) alone, answering for both addresses:\n%s", node, out)
		}
		return nil
	})
	t.Logf("kubectl ironlb explain svc -n plugin local\n%s", out)
}

// speakerLine returns the status screen's Speakers row of node: the line whose first
// column is the node (other rows name it too, in their GOSSIP column).
func speakerLine(status, node string) string {
	for _, l := range strings.Split(status, "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == node && strings.Contains(f[1], "ironlb-speaker") {
			return l
		}
	}
	return ""
}

// lineWith returns the first line that contains every part.
func lineWith(text string, parts ...string) string {
	for _, l := range strings.Split(text, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			return l
		}
	}
	return ""
}
