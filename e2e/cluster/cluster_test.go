package cluster

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
)

// TestNodesAreKubelets checks what `make demo` promises: every node registered by its own
// kubelet v1.37.1 on containerd, Ready, and ironlb's pods (installed by helm in TestMain)
// all Running and ready: two controllers and one speaker per node.
func TestNodesAreKubelets(t *testing.T) {
	l := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nodes, err := l.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != len(l.Nodes) {
		t.Fatalf("%d Nodes, want %d", len(nodes.Items), len(l.Nodes))
	}
	for _, n := range nodes.Items {
		if v := n.Status.NodeInfo.KubeletVersion; v != "v1.37.1" {
			t.Errorf("%s: kubelet %q, want v1.37.1", n.Name, v)
		}
		if rt := n.Status.NodeInfo.ContainerRuntimeVersion; !strings.HasPrefix(rt, "containerd://") {
			t.Errorf("%s: runtime %q, want containerd", n.Name, rt)
		}
		ready := false
		for _, c := range n.Status.Conditions {
			ready = ready || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
		}
		if !ready {
			t.Errorf("%s is not Ready: %+v", n.Name, n.Status.Conditions)
		}
	}
	pods, err := l.Kube.CoreV1().Pods(lab.ControllerNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	speakerNodes := map[string]bool{}
	for _, p := range pods.Items {
		component := p.Labels["app.kubernetes.io/component"]
		count[component]++
		if p.Status.Phase != corev1.PodRunning || !podReady(&p) {
			t.Errorf("pod %s is %s, ready=%v", p.Name, p.Status.Phase, podReady(&p))
		}
		if p.Labels["helm.sh/chart"] == "" || p.Labels["app.kubernetes.io/instance"] != lab.ReleaseName {
			t.Errorf("pod %s was not created from the Helm release (labels %v)", p.Name, p.Labels)
		}
		if component == "speaker" {
			speakerNodes[p.Spec.NodeName] = true
		}
	}
	if count["controller"] != 2 || count["speaker"] != len(l.Nodes) || len(speakerNodes) != len(l.Nodes) {
		t.Errorf("pods per component %v on speaker nodes %v, want 2 controllers and one speaker on each of %d nodes", count, speakerNodes, len(l.Nodes))
	}
}

// TestChartSecurityContextIsEnforced reads the running processes of ironlb's containers:
// the speaker (hostNetwork, in its node's namespace) has exactly one effective capability,
// NET_RAW, and the controller runs as user 65532 with no capabilities. This is what the
// kernel enforces, not what the pod spec asks for.
func TestChartSecurityContextIsEnforced(t *testing.T) {
	_ = cluster(t)
	const netRaw = 1 << 13
	checked := map[string]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil {
			continue
		}
		name := strings.TrimSpace(string(comm))
		if name != "ironlb-speaker" && name != controllerComm {
			continue
		}
		cg, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
		if !strings.Contains(string(cg), "/k8s.io/") {
			continue // another engineer's process-mode lab or test, not a container
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		fields := map[string]string{}
		for _, line := range strings.Split(string(status), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				fields[k] = strings.TrimSpace(v)
			}
		}
		capEff, err := strconv.ParseUint(fields["CapEff"], 16, 64)
		if err != nil {
			t.Fatalf("pid %s: CapEff %q: %v", e.Name(), fields["CapEff"], err)
		}
		switch name {
		case "ironlb-speaker":
			if capEff != netRaw {
				t.Errorf("speaker pid %s: effective capabilities %#x, want only NET_RAW (%#x)", e.Name(), capEff, netRaw)
			}
		default:
			if capEff != 0 || !strings.HasPrefix(fields["Uid"], "65532") {
				t.Errorf("controller pid %s: capabilities %#x, uid %q; want none and 65532", e.Name(), capEff, fields["Uid"])
			}
		}
		checked[name]++
	}
	if checked["ironlb-speaker"] == 0 || checked[controllerComm] == 0 {
		t.Fatalf("found no container processes of ironlb to check: %v", checked)
	}
}

// TestKubectlLogs reads the logs of every ironlb pod through the API server and the
// kubelets (kubectl logs needs the kubelet's serving port and client certificates): each
// node's speaker, so every kubelet serves them, and both controllers, the standby too.
func TestKubectlLogs(t *testing.T) {
	l := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	count := map[string]int{}
	for _, component := range []string{"speaker", "controller"} {
		pods, err := l.PodsOf(ctx, lab.ControllerNamespace, "app.kubernetes.io/component="+component)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods {
			out := kubectl(ctx, t, l, "-n", lab.ControllerNamespace, "logs", p.Name, "-c", component, "--tail=20")
			if !strings.Contains(out, `"level"`) {
				t.Errorf("kubectl logs %s (on %s): no log lines:\n%s", p.Name, p.Spec.NodeName, out)
			}
			count[component]++
		}
	}
	if count["speaker"] != len(l.Nodes) || count["controller"] != 2 {
		t.Errorf("read the logs of %v pods, want %d speakers and 2 controllers", count, len(l.Nodes))
	}
}

// TestDeploymentBehindLoadBalancer is the README's "deploy your own app" with the
// harness's assertions: a Deployment whose readiness probes drive its EndpointSlices, a
// dual-stack LoadBalancer Service, both addresses answering from the L2 client with the
// names of the Deployment's pods, and from the BGP client through ECMP routes via every node.
func TestDeploymentBehindLoadBalancer(t *testing.T) {
	l := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	applyDemo(ctx, t, l, "l2app", "bgp")
	for _, c := range []struct{ ns, client string }{{"l2app", l.L2Client.Netns}, {"bgp", l.BGPClient.Netns}} {
		t.Run(c.ns, func(t *testing.T) {
			if _, err := l.CreateDeployment(ctx, lab.NewPodserverDeployment(c.ns, "web", 2)); err != nil {
				t.Fatal(err)
			}
			spec := lab.NewLoadBalancerService(c.ns, "web")
			spec.Spec.Ports[0].TargetPort = intstr.FromInt32(lab.PodPort)
			if _, err := l.CreateService(ctx, spec); err != nil {
				t.Fatal(err)
			}
			svc, err := l.WaitForIngress(ctx, c.ns, "web", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			pods, err := l.PodsOf(ctx, c.ns, "app=web")
			if err != nil {
				t.Fatal(err)
			}
			names := map[string]bool{}
			for _, p := range pods {
				names[p.Name] = true
			}
			if len(svc.Status.LoadBalancer.Ingress) != 2 {
				t.Fatalf("ingress %v, want one IPv4 and one IPv6 address", svc.Status.LoadBalancer.Ingress)
			}
			for _, ing := range svc.Status.LoadBalancer.Ingress {
				a := netip.MustParseAddr(ing.IP)
				if c.ns == "bgp" {
					eventually(t, 30*time.Second, "ECMP route to "+ing.IP, func() error {
						hops, err := l.RouterRoutes(ctx, netip.PrefixFrom(a, a.BitLen()))
						if err != nil {
							return err
						}
						if len(hops) != len(l.Nodes) {
							return fmt.Errorf("%d next hops, want %d", len(hops), len(l.Nodes))
						}
						return nil
					})
				}
				url := "http://" + net.JoinHostPort(ing.IP, "80") + "/"
				eventually(t, 30*time.Second, "GET "+url+" from "+c.client, func() error {
					body, err := l.Curl(ctx, c.client, url)
					if err != nil {
						return err
					}
					if !names[body] {
						return fmt.Errorf("answered %q, not one of the Deployment's pods %v", body, names)
					}
					return nil
				})
			}
			if c.ns == "l2app" {
				// The real speaker's condition write passes the chart's status policy.
				eventually(t, 30*time.Second, "the speaker's L2Announced condition", func() error {
					got, err := l.Kubectl(ctx, "-n", c.ns, "get", "service", "web", "-o",
						`jsonpath={.status.conditions[?(@.type=="`+ironlbv1.ConditionL2Announced+`")].status}`)
					if err != nil {
						return err
					}
					if got != "True" {
						return fmt.Errorf("condition status %q, want True", got)
					}
					return nil
				})
			}
		})
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// controllerComm is the controller's name in /proc/PID/comm, which the kernel cuts to 15
// characters.
var controllerComm = "ironlb-controller"[:15]
