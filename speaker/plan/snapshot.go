// Package plan decides what this node does, from one snapshot of what every speaker sees
// alike (the API objects and the live memberlist members): which addresses it answers
// ARP/NDP for and on which interfaces, which BGP sessions it opens and which routes it
// advertises, and which conditions it reports. It is pure: the same snapshot gives the same
// answer on every node, which is what lets layer-2 failover happen without any write to
// the API server, and what lets every rule be tested with a table.
//
// Both modes read the snapshot through one compile step (compile): the pools are parsed,
// the endpoints indexed and every served address matched to its pool once, and the rules
// they share (which Services count, which pool an address is from, which nodes may carry
// traffic, which endpoints are up) are written once.
package plan

import (
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/bgpattr"
	"github.com/ironlb/ironlb/internal/ipset"
	"github.com/ironlb/ironlb/internal/lbservice"
)

// Snapshot is everything the decisions depend on. Each mode reads the fields it needs;
// the others may be left empty.
type Snapshot struct {
	// Node is this speaker's node.
	Node string
	// Class is the loadBalancerClass served ("" for Services without one).
	Class string
	// Namespace is the only namespace the speaker may read Secrets in ("": none).
	Namespace string

	Services          []corev1.Service
	EndpointSlices    []discoveryv1.EndpointSlice
	Nodes             []corev1.Node
	Pools             []ironlbv1.IPAddressPool
	L2Advertisements  []ironlbv1.L2Advertisement
	BGPAdvertisements []ironlbv1.BGPAdvertisement
	BGPPeers          []ironlbv1.BGPPeer
	BFDProfiles       []ironlbv1.BFDProfile
	// Secrets are those of Namespace (BGP passwords).
	Secrets []corev1.Secret

	// Alive maps each live speaker's node name to the interfaces it reports up. A nil
	// slice means the speaker did not report (then any interface counts as present).
	Alive map[string][]string
	// Gossip tells an isolated speaker from a survivor (layer 2 only).
	Gossip Gossip

	// Now is when the snapshot was taken, and CordonedSince when this speaker saw its node
	// cordoned (CordonClock; zero: not cordoned, or cordoned before the speaker saw the
	// node): together they time the graceful shutdown of a cordoned node's routes
	// (BGPPeer gracefulShutdownTime). With CordonedSince zero, a cordoned node withdraws
	// at once.
	Now, CordonedSince time.Time
}

// compiled is a snapshot read once for both modes.
type compiled struct {
	nodes map[string]*corev1.Node
	// addresses are the served Services' addresses that lie in a pool, in the order of
	// the Services and of their ingress entries.
	addresses []address
	// local maps "namespace/service" to the nodes with an up endpoint and how many they
	// have; ready holds the Services with an up endpoint anywhere.
	local map[string]map[string]localEndpoints
	ready map[string]bool
}

// localEndpoints counts one Service's endpoints on one node that are up, by address
// family (a dual-stack Service has one EndpointSlice per family, each listing the same
// pods, and kube-proxy sends a family's traffic to that family's endpoints): ready ones,
// and terminating ones still serving. Index 0 is IPv4, 1 IPv6, 2 FQDN slices.
type localEndpoints struct{ ready, serving [3]int }

func (e localEndpoints) up() bool {
	for i := range e.ready {
		if e.ready[i]+e.serving[i] > 0 {
			return true
		}
	}
	return false
}

// weight is how many endpoints of ip's family the node sends the Service's traffic to, as
// kube-proxy does for externalTrafficPolicy Local: the ready ones, or when none is ready,
// the terminating ones still serving (its fallback).
func (e localEndpoints) weight(ip netip.Addr) int {
	f := familyIndex(discoveryv1.AddressTypeIPv4)
	if ip.Is6() {
		f = familyIndex(discoveryv1.AddressTypeIPv6)
	}
	if e.ready[f] > 0 {
		return e.ready[f]
	}
	return e.serving[f]
}

func familyIndex(t discoveryv1.AddressType) int {
	switch t {
	case discoveryv1.AddressTypeIPv4:
		return 0
	case discoveryv1.AddressTypeIPv6:
		return 1
	}
	return 2
}

// address is one address of a served Service, with the pool it came from.
type address struct {
	ip   netip.Addr
	svc  *corev1.Service
	key  string // "namespace/name"
	pool *compiledPool
	// bgp are the attributes the Service's annotations add to its routes (none when
	// they are malformed: the controller reports that, and the routes keep their
	// advertisements' attributes).
	bgp bgpattr.Attributes
}

type compiledPool struct {
	pool *ironlbv1.IPAddressPool
	set  ipset.Set
}

// compile reads a snapshot once. The endpoints are indexed only as far as needed (they are
// as many as the Services): which nodes have an up endpoint only for the Services with
// externalTrafficPolicy Local, and which Services have one anywhere only when ready asks.
func compile(s Snapshot, ready bool) compiled {
	c := compiled{nodes: make(map[string]*corev1.Node, len(s.Nodes)), addresses: make([]address, 0, len(s.Services))}
	for i := range s.Nodes {
		c.nodes[s.Nodes[i].Name] = &s.Nodes[i]
	}
	pools := compilePools(s.Pools)
	localKeys := map[string]bool{}
	for i := range s.Services {
		svc := &s.Services[i]
		if !lbservice.IsOurs(svc, s.Class) {
			continue
		}
		key := serviceKey(svc)
		attrs, _ := bgpattr.Parse(svc.Annotations) // once per Service, not per address
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			ip, err := netip.ParseAddr(ing.IP)
			if err != nil {
				continue // a hostname, or garbage: nothing to announce
			}
			if pool := poolOf(ip, svc, pools); pool != nil {
				c.addresses = append(c.addresses, address{ip: ip, svc: svc, key: key, pool: pool, bgp: attrs})
				if isLocal(svc) {
					localKeys[key] = true
				}
			}
		}
	}
	if ready || len(localKeys) > 0 {
		c.local, c.ready = indexEndpoints(s.EndpointSlices, localKeys)
	}
	return c
}

func serviceKey(svc *corev1.Service) string { return svc.Namespace + "/" + svc.Name }

// compilePools parses every pool's addresses, sorted by name; a pool that does not parse
// (the controller reports it) holds no address.
func compilePools(in []ironlbv1.IPAddressPool) []compiledPool {
	var out []compiledPool
	for i := range in {
		entries := make([]string, len(in[i].Spec.Addresses))
		for j, a := range in[i].Spec.Addresses {
			entries[j] = string(a)
		}
		set, err := ipset.Parse(entries)
		if err != nil {
			continue
		}
		out = append(out, compiledPool{&in[i], set})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pool.Name < out[j].pool.Name })
	return out
}

// poolOf finds the pool an address came from: the one the controller recorded on the
// Service if it contains the address, else the first pool (by name) that does. An address
// no pool contains any more is one its Service kept when its pool shrank (the controller
// never takes an address away on a pool edit): it stays with the recorded pool, so the
// advertisements of that pool keep announcing it and the condition stays true. With no
// recorded pool left (it was deleted), the address is in no pool and is not announced.
func poolOf(ip netip.Addr, svc *corev1.Service, pools []compiledPool) *compiledPool {
	recorded := svc.Annotations[ironlbv1.AnnotationAllocatedFromPool]
	var first, kept *compiledPool
	for i := range pools {
		p := &pools[i]
		if !p.set.Contains(ip) {
			if kept == nil && listed(recorded, p.pool.Name) && p.family(ip) {
				kept = p
			}
			continue
		}
		if listed(recorded, p.pool.Name) {
			return p
		}
		if first == nil {
			first = p
		}
	}
	if first != nil {
		return first
	}
	return kept
}

// listed reports whether name is one of the comma-separated names in list.
func listed(list, name string) bool {
	for n := range strings.SplitSeq(list, ",") {
		if n == name {
			return true
		}
	}
	return false
}

// family reports whether the pool holds any address of ip's family: a dual-stack Service
// records one pool per family, and a pool of the other family is not where ip came from.
func (p *compiledPool) family(ip netip.Addr) bool {
	return slices.Contains(p.set.Families(), ipset.FamilyOf(ip))
}

// nodeExclusion says why a node may not carry load-balancer traffic in either mode, or ""
// when it may.
func nodeExclusion(n *corev1.Node) string {
	if _, ok := n.Labels[corev1.LabelNodeExcludeBalancers]; ok {
		return "is excluded from load balancers"
	}
	if networkUnavailable(n) {
		return "has NetworkUnavailable"
	}
	return ""
}

// selectsNode reports whether an advertisement's target selection lets the node carry its
// addresses: its nodeSelectors match, and it is not cordoned when the advertisement
// excludes cordoned nodes. Each advertisement is judged alone, so a cordoned node stays
// eligible for an address through any advertisement covering it without the flag.
func selectsNode(t ironlbv1.TargetSelection, n *corev1.Node) bool {
	if t.ExcludeCordonedNodes && n.Spec.Unschedulable {
		return false
	}
	return ironlbv1.MatchesAnySelector(t.NodeSelectors, n.Labels)
}

// indexEndpoints counts the up endpoints of each node (local), for the Services in
// localKeys, and lists the Services with an up endpoint anywhere (ready), an endpoint
// without a node included. A slice belongs to the Service its kubernetes.io/service-name
// label names.
func indexEndpoints(slices []discoveryv1.EndpointSlice, localKeys map[string]bool) (local map[string]map[string]localEndpoints, ready map[string]bool) {
	local, ready = map[string]map[string]localEndpoints{}, map[string]bool{}
	for i := range slices {
		s := &slices[i]
		svc := s.Labels[discoveryv1.LabelServiceName]
		if svc == "" {
			continue
		}
		key := s.Namespace + "/" + svc
		for _, ep := range s.Endpoints {
			if !endpointUp(ep) {
				continue
			}
			ready[key] = true
			if ep.NodeName == nil || !localKeys[key] {
				continue
			}
			if local[key] == nil {
				local[key] = map[string]localEndpoints{}
			}
			n, f := local[key][*ep.NodeName], familyIndex(s.AddressType)
			if endpointReady(ep) {
				n.ready[f]++
			} else {
				n.serving[f]++
			}
			local[key][*ep.NodeName] = n
		}
	}
	return local, ready
}

// endpointUp is true for a ready endpoint, or a serving one (terminating but still
// answering, which kube-proxy falls back to).
func endpointUp(ep discoveryv1.Endpoint) bool {
	serving := ep.Conditions.Serving != nil && *ep.Conditions.Serving
	return endpointReady(ep) || serving
}

// endpointReady is true for a ready endpoint (no condition means ready).
func endpointReady(ep discoveryv1.Endpoint) bool {
	return ep.Conditions.Ready == nil || *ep.Conditions.Ready
}

func isLocal(svc *corev1.Service) bool {
	return svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

func sortedUnique[T ~string](in []T) []T {
	if len(in) == 0 {
		return nil
	}
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}
