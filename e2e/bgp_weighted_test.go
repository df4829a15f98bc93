package e2e

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
	labhost "github.com/ironlb/ironlb/e2e/lab/host"
	"github.com/ironlb/ironlb/internal/testenv"
)

// weightedRequests is how many requests the split is measured over.
const weightedRequests = 10000

// TestBGPEndpointWeightedECMP: a BGPAdvertisement with endpointWeightedECMP, a Service with
// externalTrafficPolicy Local and 1 pod behind the first node, 3 behind the second. Each
// node attaches the link-bandwidth community worth its endpoints, FRR (bgp bestpath
// bandwidth) installs the route with next hops weighted 1:3, and the BGP client's requests
// split that way; for comparison, the split without the opt-in (measured, not asserted:
// e2e/results/bgp-weighted-ecmp.json with IRONLB_BENCH=1). Then the counts change: 1 and 1
// weighs the nodes the same, and a node left with none withdraws its route.
func TestBGPEndpointWeightedECMP(t *testing.T) {
	l := bgpLab(t, lab.Options{Nodes: 2}, func(l *lab.Lab) []client.Object {
		// Weighted ECMP is FRR's default when every path carries a link bandwidth; say so
		// anyway, and weigh a path without one as 1 rather than fall back to plain ECMP.
		err := l.RouterConfigure(context.Background(), fmt.Sprintf("router bgp %d", l.Router.ASN),
			"bgp bestpath bandwidth default-weight-for-missing")
		if err != nil {
			t.Fatal(err)
		}
		return []client.Object{
			bgpPool("weighted", "198.18.117.0/28", "2001:db8:100:17::/124"),
			&ironlbv1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "weighted"}, Spec: ironlbv1.BGPAdvertisementSpec{
				PoolSelection:        ironlbv1.PoolSelection{IPAddressPools: []string{"weighted"}},
				EndpointWeightedECMP: true,
			}},
			bgpPeer("router4", l.NodeASN(), l.Router.ASN, l.Router.IPv4),
			bgpPeer("router6", l.NodeASN(), l.Router.ASN, l.Router.IPv6),
		}
	})
	n0, n1 := l.Nodes[0], l.Nodes[1]
	svc, pods, v4, v6 := bgpService(t, l, "wecmp", "weighted", corev1.ServiceExternalTrafficPolicyLocal,
		n0.Name, n1.Name, n1.Name, n1.Name)
	waitSessions(t, l, l.Router, 30*time.Second, append(nodeAddrs(l.Nodes, nodeV4), nodeAddrs(l.Nodes, nodeV6)...), nil)
	setL4Hashing(t, l)

	var weights map[string]int
	t.Run("each node's route carries its endpoints as link bandwidth, FRR weights the next hops 1:3", func(t *testing.T) {
		want := map[*lab.Node]int{n0: 1, n1: 3}
		waitLinkBandwidth(t, l, v4, v6, want)
		weights = waitWeights(t, l, host(v4), want)
		waitWeights(t, l, host(v6), want)
	})

	endpoints := map[string]int{n0.Name: 1, n1.Name: 3}
	results := map[string]weightedSplit{}
	t.Run(fmt.Sprintf("split of %d requests from the BGP client", weightedRequests), func(t *testing.T) {
		reachBGP(t, l, v4)
		results["weighted"] = measureSplit(t, l, v4, pods, endpoints, weights)
	})

	t.Run("without endpointWeightedECMP, for comparison: no community, the router splits by node", func(t *testing.T) {
		updateBGPAdvertisement(t, l, "weighted", func(s *ironlbv1.BGPAdvertisementSpec) { s.EndpointWeightedECMP = false })
		waitLinkBandwidth(t, l, v4, v6, map[*lab.Node]int{n0: 0, n1: 0})
		waitNextHops(t, l, host(v4), 10*time.Second, n0, n1)
		results["unweighted"] = measureSplit(t, l, v4, pods, endpoints, routeWeights(t, l, host(v4)))
		updateBGPAdvertisement(t, l, "weighted", func(s *ironlbv1.BGPAdvertisementSpec) { s.EndpointWeightedECMP = true })
		waitLinkBandwidth(t, l, v4, v6, map[*lab.Node]int{n0: 1, n1: 3})
	})
	if testenv.BenchEnabled() {
		t.Logf("wrote %s", testenv.WriteResult(t, "bgp-weighted-ecmp.json", results))
	}

	t.Run("a changed endpoint count changes the route: 1 and 1 weigh the same", func(t *testing.T) {
		setEndpoints(t, l, svc, pods[0], pods[1])
		want := map[*lab.Node]int{n0: 1, n1: 1}
		waitLinkBandwidth(t, l, v4, v6, want)
		waitWeights(t, l, host(v4), want)
	})

	t.Run("a node left without ready endpoints withdraws its route", func(t *testing.T) {
		setEndpoints(t, l, svc, pods[1], pods[2])
		waitNextHops(t, l, host(v4), 20*time.Second, n1)
		waitLinkBandwidth(t, l, v4, v6, map[*lab.Node]int{n1: 2})
		reachBGP(t, l, v4, pods[1].Name, pods[2].Name)
	})
}

// setL4Hashing makes the router's kernel hash ECMP on L4: by default it hashes only the
// addresses, and every request of the one BGP client would take the same next hop.
func setL4Hashing(t *testing.T, l *lab.Lab) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, kv := range []string{"net.ipv4.fib_multipath_hash_policy=1", "net.ipv6.fib_multipath_hash_policy=1"} {
		if out, err := labhost.RunIn(ctx, l.Router.Netns, "sysctl", "-w", kv); err != nil {
			t.Fatalf("router: sysctl -w %s: %v: %s", kv, err, out)
		}
	}
}

// setEndpoints makes the pods the Service's only ready endpoints.
func setEndpoints(t *testing.T, l *lab.Lab, svc *corev1.Service, pods ...*lab.Pod) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.SetEndpoints(ctx, svc, lab.Ready(pods...)); err != nil {
		t.Fatal(err)
	}
}

// waitLinkBandwidth waits until the router has, for both addresses, exactly one path from
// each node of want (learned on its session of the address's family), carrying the
// link-bandwidth community worth want[node] endpoints with the nodes' AS (0: none at all).
func waitLinkBandwidth(t *testing.T, l *lab.Lab, a4, a6 netip.Addr, want map[*lab.Node]int) {
	t.Helper()
	var nodes []*lab.Node
	for n := range want {
		nodes = append(nodes, n)
	}
	for _, a := range []netip.Addr{a4, a6} {
		peerAddr := nodeV4
		if a.Is6() {
			peerAddr = nodeV6
		}
		eventually(t, 30*time.Second, fmt.Sprintf("link bandwidth of %s from %v", a, names(nodes...)), func() error {
			return pathsFrom(context.Background(), l, l.Router, host(a), nodes, peerAddr, func(n *lab.Node, p lab.BGPPath) error {
				bw := uint64(want[n]) * ironlbv1.LinkBandwidthPerEndpoint
				if bw == 0 && p.LinkBandwidth != 0 {
					return fmt.Errorf("extended communities %q, want no link bandwidth", p.ExtendedCommunities)
				}
				if bw != 0 && (p.LinkBandwidth != bw || p.LinkBandwidthAS != l.NodeASN()) {
					return fmt.Errorf("extended communities %q, want LB:%d:%d (%d endpoints)", p.ExtendedCommunities, l.NodeASN(), bw, want[n])
				}
				return nil
			})
		})
	}
}

// waitWeights waits until the router's route for prefix has one active next hop per node
// of want, with weights in want's proportions (to FRR's rounding), and returns them by node.
func waitWeights(t *testing.T, l *lab.Lab, prefix netip.Prefix, want map[*lab.Node]int) map[string]int {
	t.Helper()
	total := 0
	for _, e := range want {
		total += e
	}
	got := map[string]int{}
	eventually(t, 30*time.Second, fmt.Sprintf("next hop weights of %s in the proportions of %v", prefix, endpointsByName(want)), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hops, err := l.RouterRoutes(ctx, prefix)
		if err != nil {
			return err
		}
		clear(got)
		sum := 0
		for _, h := range hops {
			if h.Active {
				got[nodeOf(l, h.Via)] = h.Weight
				sum += h.Weight
			}
		}
		if len(got) != len(want) || sum == 0 {
			return fmt.Errorf("weights %v%s", got, bgpDiag(ctx, l, l.Router, prefix))
		}
		for n, e := range want {
			// FRR scales the weights to 100 (or 255) and rounds down: 1 point of slack.
			if share, wantShare := float64(got[n.Name])/float64(sum), float64(e)/float64(total); math.Abs(share-wantShare) > 0.02 {
				return fmt.Errorf("weights %v: %s has %.3f of the total, want %.3f%s", got, n.Name, share, wantShare, bgpDiag(ctx, l, l.Router, prefix))
			}
		}
		return nil
	})
	return got
}

// routeWeights reads the weights of the router's next hops for prefix, by node.
func routeWeights(t *testing.T, l *lab.Lab, prefix netip.Prefix) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hops, err := l.RouterRoutes(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, h := range hops {
		if h.Active {
			out[nodeOf(l, h.Via)] = h.Weight
		}
	}
	return out
}

func endpointsByName(want map[*lab.Node]int) map[string]int {
	out := map[string]int{}
	for n, e := range want {
		out[n.Name] = e
	}
	return out
}

// weightedSplit is what e2e/results/bgp-weighted-ecmp.json holds.
type weightedSplit struct {
	Date      string             `json:"date"`
	Address   string             `json:"address"`
	Requests  int                `json:"requests"`
	Failures  int                `json:"failures"`
	Seconds   float64            `json:"seconds"`
	Endpoints map[string]int     `json:"ready_endpoints_by_node"`
	Weights   map[string]int     `json:"router_next_hop_weights"`
	ByNode    map[string]int     `json:"answers_by_node"`
	ByPod     map[string]int     `json:"answers_by_pod"`
	Share     map[string]float64 `json:"share_by_node"`
	Expected  map[string]float64 `json:"expected_share_by_node"`
	Method    string             `json:"method"`
}

// measureSplit sends weightedRequests requests from the BGP client and reports how they
// split across the nodes (each node's pods answer only its traffic, externalTrafficPolicy
// Local). It fails only if requests fail: the split itself is a figure.
func measureSplit(t *testing.T, l *lab.Lab, a netip.Addr, pods []*lab.Pod, endpoints, weights map[string]int) weightedSplit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := l.Requests(ctx, l.BGPClient.Netns, lbURL(a), weightedRequests, 4)
	if err != nil {
		t.Fatal(err)
	}
	podNode := map[string]string{}
	for _, p := range pods {
		podNode[p.Name] = p.Node.Name
	}
	out := weightedSplit{
		Date: time.Now().UTC().Format(time.RFC3339), Address: a.String(), Requests: weightedRequests, Failures: res.Failures,
		Seconds: res.Duration.Seconds(), Endpoints: endpoints, Weights: weights, ByNode: map[string]int{}, ByPod: res.Responders,
		Share: map[string]float64{}, Expected: map[string]float64{},
		Method: "The BGP client (behind the lab router, which reaches the Service only through its BGP routes) sends " +
			"HTTP GETs, 4 at a time, each on a new TCP connection; the router's kernel hashes ECMP on L4 " +
			"(fib_multipath_hash_policy=1), so every connection picks a weighted next hop afresh. With " +
			"externalTrafficPolicy Local a node forwards only to its own pods, so the answering pod names the node.",
	}
	total := 0
	for _, e := range endpoints {
		total += e
	}
	for pod, n := range res.Responders {
		out.ByNode[podNode[pod]] += n
	}
	answered := weightedRequests - res.Failures
	var parts []string
	for _, node := range sortedKeys(endpoints) {
		out.Share[node] = float64(out.ByNode[node]) / float64(max(answered, 1))
		out.Expected[node] = float64(endpoints[node]) / float64(total)
		parts = append(parts, fmt.Sprintf("%s (%d pods, weight %d): %d (%.1f%%, expected %.0f%%)", node, endpoints[node],
			weights[node], out.ByNode[node], 100*out.Share[node], 100*out.Expected[node]))
	}
	t.Logf("%d requests in %s, %d failed: %s; by pod %v", weightedRequests, res.Duration.Round(time.Millisecond),
		res.Failures, strings.Join(parts, ", "), res.Responders)
	if res.Failures > weightedRequests/100 {
		t.Errorf("%d of %d requests failed (last: %s)", res.Failures, weightedRequests, res.LastError)
	}
	return out
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
