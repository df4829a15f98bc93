package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
)

// Helpers of the BGP tests (bgp_test.go). Their failure messages carry what FRR and the
// BGPPeer status show, so a failure says which side is wrong.

// bgpLab starts a lab, creates objs (pools, advertisements, peers...), then the controller
// and a speaker on every node (BGP is on by default).
func bgpLab(t *testing.T, opts lab.Options, setup func(*lab.Lab) []client.Object) *lab.Lab {
	t.Helper()
	l := startLab(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, o := range setup(l) {
		if err := l.Client.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	if err := l.StartIronlb(ctx); err != nil {
		t.Fatal(err)
	}
	return l
}

// bgpPool is a dual-stack IPAddressPool.
func bgpPool(name string, addrs ...ironlbv1.AddressRange) *ironlbv1.IPAddressPool {
	return &ironlbv1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: ironlbv1.IPAddressPoolSpec{Addresses: addrs}}
}

// bgpPeer is a BGPPeer from the nodes (AS myASN) to a router, retrying every 2 s (instead
// of the default 10 s) so tests that break and heal sessions stay short.
func bgpPeer(name string, myASN, peerASN uint32, addr netip.Addr, mutate ...func(*ironlbv1.BGPPeerSpec)) *ironlbv1.BGPPeer {
	p := &ironlbv1.BGPPeer{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: ironlbv1.BGPPeerSpec{
			MyASN: int64(myASN), PeerASN: int64(peerASN), PeerAddress: addr.String(),
			ConnectTime: &metav1.Duration{Duration: 2 * time.Second},
		},
	}
	for _, m := range mutate {
		m(&p.Spec)
	}
	return p
}

// bgpService creates a dual-stack LoadBalancer Service from pool (any pool if "") with one
// pod per node given, and returns its IPv4 and IPv6 addresses.
func bgpService(t *testing.T, l *lab.Lab, name, pool string, policy corev1.ServiceExternalTrafficPolicy, nodes ...string) (*corev1.Service, []*lab.Pod, netip.Addr, netip.Addr) {
	t.Helper()
	svc, pods := extraService(t, l, name, func(s *corev1.Service) {
		if pool != "" {
			s.Annotations = map[string]string{ironlbv1.AnnotationAddressPool: pool}
		}
		if policy != "" {
			s.Spec.ExternalTrafficPolicy = policy
		}
	}, nodes...)
	var v4, v6 netip.Addr
	for _, a := range ingressAddrs(svc) {
		if a.Is4() {
			v4 = a
		} else {
			v6 = a
		}
	}
	if !v4.IsValid() || !v6.IsValid() {
		t.Fatalf("Service %s: want an IPv4 and an IPv6 address, got %v", name, ingressAddrs(svc))
	}
	return svc, pods, v4, v6
}

// host is the /32 or /128 of an address.
func host(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

// names lists node names, sorted.
func names(nodes ...*lab.Node) []string {
	out := make([]string, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, n.Name)
	}
	sort.Strings(out)
	return out
}

// nodeOf names the node an address belongs to, or the address itself.
func nodeOf(l *lab.Lab, a netip.Addr) string {
	if n := l.NodeByAddr(a); n != nil {
		return n.Name
	}
	return a.String()
}

// nextHopNodes returns the nodes the lab router's zebra forwards prefix to, sorted (none:
// no route). A next hop that is no node shows as its address.
func nextHopNodes(ctx context.Context, l *lab.Lab, prefix netip.Prefix) ([]string, error) {
	hops, err := l.RouterRoutes(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, h := range hops {
		if h.Protocol != "bgp" {
			return nil, fmt.Errorf("%s is a %s route on the router, not a BGP one", prefix, h.Protocol)
		}
		if !h.Active {
			continue
		}
		out = append(out, nodeOf(l, h.Via))
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}

// bgpDiag describes what the router knows about prefix: the BGP paths (from which node,
// which next hop, stale or not) and the state of every node session. It goes into
// failure messages, so a missing route says whether the session or the advertisement is
// missing.
func bgpDiag(ctx context.Context, l *lab.Lab, r *lab.Router, prefix netip.Prefix) string {
	var b strings.Builder
	paths, err := r.BGPPaths(ctx, prefix)
	fmt.Fprintf(&b, "\n  BGP paths of %s at %s:", prefix, r.FRRName)
	if err != nil {
		fmt.Fprintf(&b, " %v", err)
	}
	if len(paths) == 0 {
		b.WriteString(" none")
	}
	for _, p := range paths {
		fmt.Fprintf(&b, " [from %s next hop %s valid=%t best=%t multipath=%t stale=%t]", nodeOf(l, p.Peer), p.NextHop, p.Valid, p.Best, p.Multipath, p.Stale)
	}
	peers, err := r.BGPNeighbors(ctx)
	b.WriteString("\n  sessions:")
	if err != nil {
		fmt.Fprintf(&b, " %v", err)
	}
	for _, p := range peers {
		fmt.Fprintf(&b, " [%s (%s) %s, %d prefixes", p.Address, nodeOf(l, p.Address), p.State, p.PrefixesReceived)
		if p.State != "Established" && p.LastReset != "" {
			fmt.Fprintf(&b, ", last reset: %s", p.LastReset)
		}
		b.WriteString("]")
	}
	return b.String()
}

// waitNextHops waits until the lab router forwards prefix to exactly the given nodes (no
// nodes: the prefix is withdrawn).
func waitNextHops(t *testing.T, l *lab.Lab, prefix netip.Prefix, timeout time.Duration, nodes ...*lab.Node) {
	t.Helper()
	want := names(nodes...)
	what := fmt.Sprintf("router next hops of %s to be %v", prefix, want)
	if len(want) == 0 {
		what = fmt.Sprintf("%s to be withdrawn from the router", prefix)
	}
	eventually(t, timeout, what, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		got, err := nextHopNodes(ctx, l, prefix)
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("next hops %v, want %v%s", got, want, bgpDiag(ctx, l, l.Router, prefix))
		}
		return nil
	})
}

// pathsFrom checks that r has exactly one valid path for prefix from each given node
// (identified by the session it came on, peerAddr(node)) and runs check on each.
func pathsFrom(ctx context.Context, l *lab.Lab, r *lab.Router, prefix netip.Prefix, nodes []*lab.Node, peerAddr func(*lab.Node) netip.Addr, check func(*lab.Node, lab.BGPPath) error) error {
	paths, err := r.BGPPaths(ctx, prefix)
	if err != nil {
		return err
	}
	var from []string
	for _, p := range paths {
		from = append(from, nodeOf(l, p.Peer))
	}
	sort.Strings(from)
	if !slices.Equal(from, names(nodes...)) {
		return fmt.Errorf("paths from %v, want one from each of %v%s", from, names(nodes...), bgpDiag(ctx, l, r, prefix))
	}
	for _, n := range nodes {
		for _, p := range paths {
			if p.Peer != peerAddr(n) {
				continue
			}
			if !p.Valid {
				return fmt.Errorf("the path from %s is not valid: %+v", n.Name, p)
			}
			if check != nil {
				if err := check(n, p); err != nil {
					return fmt.Errorf("path of %s from %s: %w", prefix, n.Name, err)
				}
			}
		}
	}
	return nil
}

func nodeV4(n *lab.Node) netip.Addr { return n.IPv4 }
func nodeV6(n *lab.Node) netip.Addr { return n.IPv6 }

// waitSessions waits until r's sessions with up are Established and those with down are
// not.
func waitSessions(t *testing.T, l *lab.Lab, r *lab.Router, timeout time.Duration, up, down []netip.Addr) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("%s: sessions with %v Established and with %v not", r.FRRName, up, down), func() error {
		return sessionsAre(l, r, up, down)
	})
}

func sessionsAre(l *lab.Lab, r *lab.Router, up, down []netip.Addr) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	peers, err := r.BGPNeighbors(ctx)
	if err != nil {
		return err
	}
	state := map[netip.Addr]lab.BGPNeighbor{}
	for _, p := range peers {
		state[p.Address] = p
	}
	var bad []string
	for _, a := range up {
		if p := state[a]; p.State != "Established" {
			bad = append(bad, fmt.Sprintf("%s (%s) is %q, last reset: %s", a, nodeOf(l, a), p.State, p.LastReset))
		}
	}
	for _, a := range down {
		if p := state[a]; p.State == "Established" {
			bad = append(bad, fmt.Sprintf("%s (%s) is Established", a, nodeOf(l, a)))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return nil
}

// consistently runs check every 250 ms for d and fails the test at the first error.
func consistently(t *testing.T, d time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if err := check(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func nodeAddrs(nodes []*lab.Node, addr func(*lab.Node) netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, n := range nodes {
		out = append(out, addr(n))
	}
	return out
}

// reachBGP checks that the pod answers through the external address from the BGP client,
// whose only way there is the router's BGP routes.
func reachBGP(t *testing.T, l *lab.Lab, a netip.Addr, want ...string) {
	t.Helper()
	eventually(t, 20*time.Second, "curl "+lbURL(a)+" from the BGP client", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		body, err := l.Curl(ctx, l.BGPClient.Netns, lbURL(a))
		if err != nil {
			return fmt.Errorf("%w%s", err, bgpDiag(ctx, l, l.Router, host(a)))
		}
		if len(want) > 0 && !slices.Contains(want, strings.TrimSpace(body)) {
			return fmt.Errorf("answered by %q, want one of %v", body, want)
		}
		return nil
	})
}

// getPeer reads a BGPPeer.
func getPeer(ctx context.Context, l *lab.Lab, name string) (*ironlbv1.BGPPeer, error) {
	var p ironlbv1.BGPPeer
	if err := l.Client.Get(ctx, types.NamespacedName{Name: name}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// nodeStatus is a node's entry in a BGPPeer's status, or nil.
func nodeStatus(p *ironlbv1.BGPPeer, node string) *ironlbv1.PeerNodeStatus {
	for i := range p.Status.Nodes {
		if p.Status.Nodes[i].Node == node {
			return &p.Status.Nodes[i]
		}
	}
	return nil
}

// waitPeerStatus waits until check accepts the BGPPeer; the error shows its status.
func waitPeerStatus(t *testing.T, l *lab.Lab, name string, timeout time.Duration, what string, check func(*ironlbv1.BGPPeer) error) {
	t.Helper()
	eventually(t, timeout, "BGPPeer "+name+": "+what, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p, err := getPeer(ctx, l, name)
		if err != nil {
			return err
		}
		if err := check(p); err != nil {
			return fmt.Errorf("%w\n  status: %s", err, peerStatusString(p))
		}
		return nil
	})
}

func peerStatusString(p *ironlbv1.BGPPeer) string {
	var b strings.Builder
	for _, n := range p.Status.Nodes {
		fmt.Fprintf(&b, "[%s %s prefixesSent=%d since=%v message=%q] ", n.Node, n.State, n.PrefixesSent, n.Since, n.Message)
	}
	for _, c := range p.Status.Conditions {
		fmt.Fprintf(&b, "[condition %s=%s %s: %q] ", c.Type, c.Status, c.Reason, c.Message)
	}
	if b.Len() == 0 {
		return "empty"
	}
	return b.String()
}

// established checks that the peer's status shows each node Established.
func established(nodes ...*lab.Node) func(*ironlbv1.BGPPeer) error {
	return func(p *ironlbv1.BGPPeer) error {
		for _, n := range nodes {
			st := nodeStatus(p, n.Name)
			if st == nil || st.State != "Established" {
				return fmt.Errorf("%s is not Established", n.Name)
			}
		}
		return nil
	}
}

// readyCondition checks the peer's Ready condition and that its message contains contains.
func readyCondition(status metav1.ConditionStatus, contains string) func(*ironlbv1.BGPPeer) error {
	return func(p *ironlbv1.BGPPeer) error {
		c := meta.FindStatusCondition(p.Status.Conditions, ironlbv1.ConditionReady)
		if c == nil || c.Status != status || !strings.Contains(c.Message, contains) {
			return fmt.Errorf("condition Ready is %+v, want %s with a message containing %q", c, status, contains)
		}
		return nil
	}
}

// updatePeer changes a BGPPeer's spec.
func updatePeer(t *testing.T, l *lab.Lab, name string, change func(*ironlbv1.BGPPeerSpec)) {
	t.Helper()
	updateObject(t, l, name, &ironlbv1.BGPPeer{}, func(p *ironlbv1.BGPPeer) { change(&p.Spec) })
}

// updateBGPAdvertisement changes a BGPAdvertisement's spec.
func updateBGPAdvertisement(t *testing.T, l *lab.Lab, name string, change func(*ironlbv1.BGPAdvertisementSpec)) {
	t.Helper()
	updateObject(t, l, name, &ironlbv1.BGPAdvertisement{}, func(a *ironlbv1.BGPAdvertisement) { change(&a.Spec) })
}

// setNetworkUnavailable sets or clears a Node's NetworkUnavailable condition, as a network
// plugin does.
func setNetworkUnavailable(t *testing.T, l *lab.Lab, node string, unavailable bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	status := corev1.ConditionFalse
	if unavailable {
		status = corev1.ConditionTrue
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := l.Kube.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cond := corev1.NodeCondition{Type: corev1.NodeNetworkUnavailable, Status: status, Reason: "E2E", Message: "set by the BGP test", LastTransitionTime: metav1.Now()}
		found := false
		for i := range n.Status.Conditions {
			if n.Status.Conditions[i].Type == corev1.NodeNetworkUnavailable {
				n.Status.Conditions[i], found = cond, true
			}
		}
		if !found {
			n.Status.Conditions = append(n.Status.Conditions, cond)
		}
		_, err = l.Kube.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("set NetworkUnavailable=%s on %s: %v", status, node, err)
	}
}

// speakerMetric returns the value of the sample of metric name whose labels include want,
// from a speaker's /metrics (scraped from the L2 client, which shares the nodes' segment).
func speakerMetric(ctx context.Context, l *lab.Lab, n *lab.Node, name string, want map[string]string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	url := net.JoinHostPort(n.IPv4.String(), strconv.Itoa(lab.SpeakerMetricsPort))
	body, err := l.ScrapeMetrics(ctx, l.L2Client.Netns, url)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		labels, value, ok := parseSample(line)
		if !ok {
			continue
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if match {
			return value, nil
		}
	}
	return 0, fmt.Errorf("%s of %s has no sample of %s with labels %v", url, n.Name, name, want)
}

// parseSample parses `name{a="b",c="d"} value` (label values without commas or quotes,
// which is all the speaker's labels have).
func parseSample(line string) (map[string]string, float64, bool) {
	labels := map[string]string{}
	var rest string
	if i := strings.Index(line, "{"); i >= 0 {
		j := strings.LastIndex(line, "}")
		if j < i {
			return nil, 0, false
		}
		for _, kv := range strings.Split(line[i+1:j], ",") {
			k, v, ok := strings.Cut(kv, "=")
			if ok {
				labels[strings.TrimSpace(k)] = strings.Trim(v, `"`)
			}
		}
		rest = line[j+1:]
	} else {
		_, rest, _ = strings.Cut(line, " ")
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return nil, 0, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	return labels, v, err == nil
}

// waitMetric waits until every node's speaker reports value for the metric sample.
func waitMetric(t *testing.T, l *lab.Lab, nodes []*lab.Node, name string, labels func(*lab.Node) map[string]string, ok func(float64) bool, want string) {
	t.Helper()
	for _, n := range nodes {
		eventually(t, 20*time.Second, fmt.Sprintf("%s %v on %s to be %s", name, labels(n), n.Name, want), func() error {
			v, err := speakerMetric(context.Background(), l, n, name, labels(n))
			if err != nil {
				return err
			}
			if !ok(v) {
				return fmt.Errorf("it is %v", v)
			}
			return nil
		})
	}
}

// peerEvent finds an event with reason about the BGPPeer name whose note contains
// contains.
func peerEvent(ctx context.Context, l *lab.Lab, name, reason, contains string) error {
	return l.FindEvent(ctx, "BGPPeer", name, reason, contains)
}

// hopWatch polls the router's next hops for a prefix in the background and records every
// poll where a node is missing, so a withdrawal between two checks of a test is not missed.
type hopWatch struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	polls  int
	misses []string
}

func watchNextHop(l *lab.Lab, prefix netip.Prefix, node *lab.Node) *hopWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &hopWatch{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for ctx.Err() == nil {
			hops, err := nextHopNodes(ctx, l, prefix)
			if ctx.Err() != nil {
				return
			}
			w.mu.Lock()
			w.polls++
			if err != nil {
				w.misses = append(w.misses, fmt.Sprintf("%s: %v", time.Now().Format("15:04:05.000"), err))
			} else if !slices.Contains(hops, node.Name) {
				w.misses = append(w.misses, fmt.Sprintf("%s: next hops %v", time.Now().Format("15:04:05.000"), hops))
			}
			w.mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return w
}

// stop ends the watch and returns how many polls it made and the ones that missed the node.
func (w *hopWatch) stop() (int, []string) {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.polls, w.misses
}

// restartBits checks that the router saw the Restart State bit and, for family (FRR's
// name: "ipv4Unicast", "ipv6Unicast"), the Forwarding State bit (RFC 4724) in the graceful
// restart capability of the session to addr: without the latter a router drops the stale
// routes it kept the moment the restarted speaker's session comes up.
func restartBits(ctx context.Context, l *lab.Lab, addr netip.Addr, family string) error {
	peers, err := l.BGPNeighbors(ctx)
	if err != nil {
		return err
	}
	for _, p := range peers {
		if p.Address == addr {
			if !p.RestartBit || !slices.Contains(p.Forwarding, family) {
				return fmt.Errorf("FRR's neighbor %s after a restart: Restart State bit %t, Forwarding State bit for %v, want the first and %s", addr, p.RestartBit, p.Forwarding, family)
			}
			return nil
		}
	}
	return fmt.Errorf("FRR has no neighbor %s", addr)
}
