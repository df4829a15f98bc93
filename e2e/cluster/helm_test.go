package cluster

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
	"github.com/ironlb/ironlb/internal/testenv"
)

// speakerSelector selects the chart's speaker pods.
const speakerSelector = "app.kubernetes.io/component=speaker"

// upgradeArg is what the measured upgrade adds to the speaker: the default value of a
// flag, so the DaemonSet's pod template changes (and rolls) but nothing the speaker does.
const upgradeArg = "--gratuitous-count=3"

// rollResult is one rolling update of the speakers, as TestHelmUpgradeRollsSpeakers
// reports it (e2e/results/cluster-helm-upgrade.json with IRONLB_BENCH=1).
type rollResult struct {
	Change string `json:"change"`
	// Seconds is from `helm upgrade` to the end of `kubectl rollout status`.
	Seconds float64 `json:"seconds"`
	// LongestGapMs is the longest outage each probe saw, by path ("l2-ipv4" over ARP,
	// "l2-ipv6" over NDP, "bgp-ipv4" and "bgp-ipv6" through the router with graceful restart).
	LongestGapMs map[string]float64 `json:"longestGapMs"`
	Failures     map[string]int     `json:"failures"`
}

// TestHelmUpgradeRollsSpeakers: `helm upgrade` that changes the speaker's args rolls the
// DaemonSet, one node at a time, while clients probe a layer-2 Service (ARP and NDP, from
// the L2 client) and a BGP Service (through FRR, graceful restart on the BGPPeers) every
// 10 ms. The upgrade must complete with a new speaker pod on every node and the Services
// answering; the longest gap of each path is reported, not asserted (a timing on a shared
// machine). The second upgrade goes back to the chart's defaults, so the test leaves the
// release as it found it and measures a second roll for free.
func TestHelmUpgradeRollsSpeakers(t *testing.T) {
	l := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	applyDemo(ctx, t, l, "rollup", "bgp")
	for _, peer := range []string{"lab-router", "lab-router-v6"} {
		kubectl(ctx, t, l, "patch", "bgppeer", peer, "--type=merge", "-p", `{"spec":{"gracefulRestart":{"enabled":true}}}`)
	}
	targets := map[string]probeTarget{}
	for _, c := range []struct{ ns, path, client string }{{"rollup", "l2", l.L2Client.Netns}, {"bgp", "bgp", l.BGPClient.Netns}} {
		for _, a := range exposeWeb(ctx, t, l, c.ns) {
			targets[c.path+"-"+family(a)] = probeTarget{netns: c.client, addr: a}
		}
	}
	waitGracefulRestart(ctx, t, l)
	for name, tg := range targets {
		if strings.HasPrefix(name, "bgp") {
			waitECMP(ctx, t, l, tg.addr)
		}
		waitAnswers(ctx, t, l, tg)
	}
	restored := false
	t.Cleanup(func() {
		if !restored {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			if out, err := l.UpgradeIronlb(ctx); err != nil {
				t.Errorf("restore the chart's defaults: %v\n%s", err, out)
			}
		}
	})
	var results []rollResult
	for _, roll := range []struct {
		change string
		set    []string
	}{
		{"speaker.extraArgs={" + upgradeArg + "}", []string{"speaker.extraArgs={" + upgradeArg + "}"}},
		{"back to the chart's defaults", nil},
	} {
		res := rollSpeakers(ctx, t, l, roll.change, roll.set, targets)
		results = append(results, res)
		restored = roll.set == nil
		t.Logf("%s: rolled in %.1f s; longest gap (ms) %v; failed probes %v", res.Change, res.Seconds, res.LongestGapMs, res.Failures)
	}
	for _, tg := range targets {
		waitAnswers(ctx, t, l, tg)
	}
	if testenv.BenchEnabled() {
		t.Logf("wrote %s", testenv.WriteResult(t, "cluster-helm-upgrade.json", results))
	}
}

// rollSpeakers runs one `helm upgrade` with the given values while every target is
// probed, waits for the rollout, and checks that every node runs a new speaker pod with
// (or without) upgradeArg.
func rollSpeakers(ctx context.Context, t *testing.T, l *lab.Lab, change string, set []string, targets map[string]probeTarget) rollResult {
	t.Helper()
	before := speakerPodsByNode(ctx, t, l)
	sessionsBefore := sessionUps(ctx, t, l)
	probers := map[string]*lab.Prober{}
	for name, tg := range targets {
		p, err := l.Probe(ctx, tg.netns, webURL(tg.addr), 10*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		probers[name] = p
	}
	start := time.Now()
	out, err := l.UpgradeIronlb(ctx, set...)
	if err == nil {
		_, err = l.Kubectl(ctx, "-n", lab.ControllerNamespace, "rollout", "status", "daemonset/ironlb-speaker", "--timeout=3m")
	}
	took := time.Since(start)
	// The last node's new speaker rejoins and takes its addresses back after the rollout
	// is reported done: keep probing through that handover.
	time.Sleep(3 * time.Second)
	res := rollResult{Change: change, Seconds: took.Seconds(), LongestGapMs: map[string]float64{}, Failures: map[string]int{}}
	for name, p := range probers {
		r := p.Stop()
		t.Logf("%s during %s: %s", name, change, r)
		res.LongestGapMs[name] = float64(r.Longest.Microseconds()) / 1000
		res.Failures[name] = r.Failures
	}
	if err != nil {
		t.Fatalf("helm upgrade (%s): %v\n%s", change, err, out)
	}
	after := speakerPodsByNode(ctx, t, l)
	// Each new speaker opened new sessions: the router kept the routes through a real
	// restart (graceful restart), not through sessions that never went down.
	waitGracefulRestart(ctx, t, l)
	for addr, ups := range sessionUps(ctx, t, l) {
		if ups <= sessionsBefore[addr] {
			t.Errorf("FRR's session with %s was not re-established during %s (%d ups, %d before)", addr, change, ups, sessionsBefore[addr])
		}
	}
	for _, n := range l.Nodes {
		p, ok := after[n.Name]
		switch {
		case !ok:
			t.Errorf("no running speaker pod on %s after the upgrade", n.Name)
		case p.UID == before[n.Name].UID:
			t.Errorf("%s still runs speaker pod %s from before the upgrade", n.Name, p.Name)
		case !podReady(&p):
			t.Errorf("speaker pod %s on %s is not ready after the rollout", p.Name, n.Name)
		case hasArg(p, upgradeArg) != (set != nil):
			t.Errorf("speaker pod %s on %s has args %v after %s", p.Name, n.Name, p.Spec.Containers[0].Args, change)
		}
	}
	return res
}

// sessionUps counts, per node address, how often FRR's session with it became Established.
func sessionUps(ctx context.Context, t *testing.T, l *lab.Lab) map[netip.Addr]int {
	t.Helper()
	peers, err := l.BGPNeighbors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ups := map[netip.Addr]int{}
	for _, p := range peers {
		ups[p.Address] = p.ConnectionsEstablished
	}
	return ups
}

// probeTarget is an address and the client namespace that reaches it.
type probeTarget struct {
	netns string
	addr  netip.Addr
}

// exposeWeb creates a one-replica podserver Deployment "web" and a dual-stack
// LoadBalancer Service for it in namespace ns, and returns the Service's addresses.
func exposeWeb(ctx context.Context, t *testing.T, l *lab.Lab, ns string) []netip.Addr {
	t.Helper()
	if _, err := l.CreateDeployment(ctx, lab.NewPodserverDeployment(ns, "web", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateService(ctx, lab.NewLoadBalancerService(ns, "web")); err != nil {
		t.Fatal(err)
	}
	return ingressAddrs(ctx, t, l, ns, "web")
}

// ingressAddrs waits for a Service's addresses and returns them in status order.
func ingressAddrs(ctx context.Context, t *testing.T, l *lab.Lab, ns, name string) []netip.Addr {
	t.Helper()
	svc, err := l.WaitForIngress(ctx, ns, name, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var addrs []netip.Addr
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		addrs = append(addrs, netip.MustParseAddr(ing.IP))
	}
	return addrs
}

// waitGracefulRestart waits until every node's sessions to the router (IPv4 and IPv6) are
// Established and announce the graceful restart capability.
func waitGracefulRestart(ctx context.Context, t *testing.T, l *lab.Lab) {
	t.Helper()
	eventually(t, time.Minute, "every node's sessions Established with graceful restart", func() error {
		peers, err := l.BGPNeighbors(ctx)
		if err != nil {
			return err
		}
		up := 0
		for _, p := range peers {
			if p.State != "Established" || !p.GracefulRestart {
				return fmt.Errorf("FRR's neighbor %s (%s): %s, graceful restart %t", p.Address, p.Description, p.State, p.GracefulRestart)
			}
			up++
		}
		if up != 2*len(l.Nodes) {
			return fmt.Errorf("%d sessions, want %d", up, 2*len(l.Nodes))
		}
		return nil
	})
}

// waitECMP waits until the router routes a to every node.
func waitECMP(ctx context.Context, t *testing.T, l *lab.Lab, a netip.Addr) {
	t.Helper()
	eventually(t, 30*time.Second, "ECMP route to "+a.String(), func() error {
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

// waitAnswers waits until a GET of the target from its client succeeds.
func waitAnswers(ctx context.Context, t *testing.T, l *lab.Lab, tg probeTarget) {
	t.Helper()
	eventually(t, time.Minute, "GET "+webURL(tg.addr)+" from "+tg.netns, func() error {
		_, err := l.Curl(ctx, tg.netns, webURL(tg.addr))
		return err
	})
}

func webURL(a netip.Addr) string { return "http://" + net.JoinHostPort(a.String(), "80") + "/" }

func family(a netip.Addr) string {
	if a.Is4() {
		return "ipv4"
	}
	return "ipv6"
}

// speakerPodsByNode returns the running speaker pod of each node.
func speakerPodsByNode(ctx context.Context, t *testing.T, l *lab.Lab) map[string]corev1.Pod {
	t.Helper()
	pods, err := l.PodsOf(ctx, lab.ControllerNamespace, speakerSelector)
	if err != nil {
		t.Fatal(err)
	}
	byNode := map[string]corev1.Pod{}
	for _, p := range pods {
		if prev, ok := byNode[p.Spec.NodeName]; ok {
			t.Fatalf("two running speaker pods on %s: %s and %s", p.Spec.NodeName, prev.Name, p.Name)
		}
		byNode[p.Spec.NodeName] = p
	}
	return byNode
}

func hasArg(p corev1.Pod, arg string) bool {
	for _, c := range p.Spec.Containers {
		for _, a := range c.Args {
			if a == arg {
				return true
			}
		}
	}
	return false
}

// TestHelmUninstallReinstallKeepsAddresses: pools and Services are the user's objects, so
// `helm uninstall` leaves the CRDs, the pools and the Services' addresses, and a new
// `helm install` serves them again with exactly the same addresses (IPv4 and IPv6, layer 2
// and BGP), raising no IPAllocated or IPReleased event for them; a Service created after
// the reinstall gets an address none of them holds.
func TestHelmUninstallReinstallKeepsAddresses(t *testing.T) {
	l := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	applyDemo(ctx, t, l, "keep", "bgp")
	kept := map[string][]netip.Addr{}
	clients := map[string]string{"keep": l.L2Client.Netns, "bgp": l.BGPClient.Netns}
	for ns := range clients {
		kept[ns+"/web"] = exposeWeb(ctx, t, l, ns)
	}
	single := lab.NewLoadBalancerService("keep", "web-v4")
	single.Spec.Selector = map[string]string{"app": "web"}
	single.Spec.IPFamilyPolicy, single.Spec.IPFamilies = nil, nil
	if _, err := l.CreateService(ctx, single); err != nil {
		t.Fatal(err)
	}
	kept["keep/web-v4"] = ingressAddrs(ctx, t, l, "keep", "web-v4")
	for key, addrs := range kept {
		for _, a := range addrs {
			waitAnswers(ctx, t, l, probeTarget{netns: clients[strings.Split(key, "/")[0]], addr: a})
		}
	}
	var events string
	eventually(t, 30*time.Second, "an "+ironlbv1.EventIPAllocated+" event on every Service, to compare with", func() error {
		events = allocationEvents(ctx, t, l, kept)
		for key := range kept {
			if !strings.Contains(events, key+" "+ironlbv1.EventIPAllocated) {
				return fmt.Errorf("none on %s: %s", key, events)
			}
		}
		return nil
	})
	crds := crdNames(ctx, t, l)
	if len(crds) < 5 {
		t.Fatalf("ironlb.io CRDs before the uninstall: %v", crds)
	}

	installed := true
	t.Cleanup(func() {
		if !installed {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			if out, err := l.InstallIronlb(ctx); err != nil {
				t.Errorf("reinstall ironlb: %v\n%s", err, out)
			}
		}
	})
	if out, err := l.UninstallIronlb(ctx); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	installed = false
	if pods, err := l.PodsOf(ctx, lab.ControllerNamespace, "app.kubernetes.io/instance="+lab.ReleaseName); err != nil || len(pods) > 0 {
		t.Fatalf("after helm uninstall: %d pods of the release left (%v)", len(pods), err)
	}
	if got := crdNames(ctx, t, l); strings.Join(got, ",") != strings.Join(crds, ",") {
		t.Fatalf("helm uninstall changed the CRDs: %v, before %v", got, crds)
	}
	kubectl(ctx, t, l, "get", "ipaddresspool", "demo", "demo-bgp")
	checkAddresses(ctx, t, l, kept, "after helm uninstall")

	if out, err := l.InstallIronlb(ctx); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	installed = true
	// A Service created now is allocated after the new controller has read the Services
	// it found (its first list), so its address shows the kept ones are held.
	fresh := ingressAddrs(ctx, t, l, "keep", exposeOnly(ctx, t, l, "keep", "after"))
	for _, a := range fresh {
		for key, addrs := range kept {
			for _, b := range addrs {
				if a == b {
					t.Errorf("the Service created after the reinstall got %s, held by %s", a, key)
				}
			}
		}
	}
	checkAddresses(ctx, t, l, kept, "after helm install")
	t.Logf("kept across helm uninstall and install: %v (CRDs %v); the Service created after got %v", kept, crds, fresh)
	if got := allocationEvents(ctx, t, l, kept); got != events {
		t.Errorf("allocation events of the kept Services changed across the reinstall:\nbefore: %s\nafter:  %s", events, got)
	}
	for key, addrs := range kept {
		for _, a := range addrs {
			waitAnswers(ctx, t, l, probeTarget{netns: clients[strings.Split(key, "/")[0]], addr: a})
		}
	}
}

// exposeOnly creates a dual-stack LoadBalancer Service NAME for the Deployment "web" of
// namespace ns and returns its name.
func exposeOnly(ctx context.Context, t *testing.T, l *lab.Lab, ns, name string) string {
	t.Helper()
	svc := lab.NewLoadBalancerService(ns, name)
	svc.Spec.Selector = map[string]string{"app": "web"}
	if _, err := l.CreateService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	return name
}

// checkAddresses fails the test unless every Service ("ns/name") has exactly the
// addresses it had, in the same order.
func checkAddresses(ctx context.Context, t *testing.T, l *lab.Lab, want map[string][]netip.Addr, when string) {
	t.Helper()
	for key, addrs := range want {
		ns, name, _ := strings.Cut(key, "/")
		svc, err := l.Kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			got = append(got, ing.IP)
		}
		if fmt.Sprint(got) != fmt.Sprint(addrs) {
			t.Errorf("%s: Service %s has %v, had %v", when, key, got, addrs)
		}
	}
}

// allocationEvents renders the IPAllocated and IPReleased events of the given Services
// (name and count of each, sorted), so that any new or repeated one shows as a difference.
func allocationEvents(ctx context.Context, t *testing.T, l *lab.Lab, services map[string][]netip.Addr) string {
	t.Helper()
	var lines []string
	for key := range services {
		ns, name, _ := strings.Cut(key, "/")
		list, err := l.Kube.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range list.Items {
			if e.Regarding.Kind != "Service" || e.Regarding.Name != name ||
				(e.Reason != ironlbv1.EventIPAllocated && e.Reason != ironlbv1.EventIPReleased) {
				continue
			}
			count := int32(1)
			if e.Series != nil {
				count = e.Series.Count
			}
			lines = append(lines, fmt.Sprintf("%s %s x%d: %s", key, e.Reason, max(count, e.DeprecatedCount), e.Note))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "; ")
}

// crdNames lists the CustomResourceDefinitions of the ironlb.io group.
func crdNames(ctx context.Context, t *testing.T, l *lab.Lab) []string {
	t.Helper()
	out := kubectl(ctx, t, l, "get", "crd", "-o", "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}")
	var names []string
	for _, n := range strings.Fields(out) {
		if strings.HasSuffix(n, ".ironlb.io") {
			names = append(names, n)
		}
	}
	return names
}
