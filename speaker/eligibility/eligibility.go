// Package eligibility decides, from what every speaker sees alike (the API objects and the
// live memberlist members), which node answers ARP/NDP for each Service address and on
// which interfaces. It is pure: the same snapshot gives the same answer on every node, which
// is what lets failover happen without any write to the API server.
package eligibility

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/ipset"
	"github.com/ironlb/ironlb/internal/lbservice"
	"github.com/ironlb/ironlb/speaker/election"
)

// ExcludeLabel marks nodes that must not carry load-balancer traffic.
const ExcludeLabel = "node.kubernetes.io/exclude-from-external-load-balancers"

// Snapshot is everything the decision depends on.
type Snapshot struct {
	Services         []corev1.Service
	EndpointSlices   []discoveryv1.EndpointSlice
	Nodes            []corev1.Node
	Pools            []ironlbv1.IPAddressPool
	L2Advertisements []ironlbv1.L2Advertisement
	// Alive maps each live speaker's node name to the interfaces it reports up. A nil
	// slice means the speaker did not report (then any interface counts as present).
	Alive map[string][]string
	// Class is the loadBalancerClass served ("" for Services without one).
	Class string
}

// Announcement is the verdict for one address.
type Announcement struct {
	IP netip.Addr
	// Node answers for the address; "" when no node is eligible.
	Node string
	// Interfaces the node answers on; empty means every suitable interface.
	Interfaces []string
	// Services using the address ("namespace/name"), sorted.
	Services []string
	// Reason explains an address with no node.
	Reason string
}

// Decide returns one Announcement per Service address that an L2Advertisement covers, in
// address order.
func Decide(s Snapshot) []Announcement {
	pools := compilePools(s.Pools)
	nodes := map[string]*corev1.Node{}
	for i := range s.Nodes {
		nodes[s.Nodes[i].Name] = &s.Nodes[i]
	}
	local := localEndpoints(s.EndpointSlices)

	byIP := map[netip.Addr]*Announcement{}
	candidates := map[netip.Addr][]string{}
	ifaces := map[netip.Addr]map[string][]string{}
	reasons := map[netip.Addr][]string{}
	for i := range s.Services {
		svc := &s.Services[i]
		if !lbservice.IsOurs(svc, s.Class) {
			continue
		}
		key := svc.Namespace + "/" + svc.Name
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			ip, err := netip.ParseAddr(ing.IP)
			if err != nil {
				continue
			}
			pool := poolOf(ip, svc, pools)
			advs := matchingAdvertisements(s.L2Advertisements, pool, svc)
			if len(advs) == 0 {
				continue // not a layer-2 address (perhaps BGP)
			}
			eligible, perNode, why := eligibleNodes(svc, advs, nodes, s.Alive, local[key])
			a := byIP[ip]
			if a == nil {
				a = &Announcement{IP: ip}
				byIP[ip] = a
				candidates[ip] = eligible
				ifaces[ip] = perNode
			} else {
				// Services sharing an address: a node must be eligible for all of them, and
				// it answers on the interfaces of every advertisement that selects one of
				// them, whatever order the Services are listed in.
				candidates[ip] = intersect(candidates[ip], eligible)
				ifaces[ip] = mergeInterfaces(ifaces[ip], perNode)
			}
			if why != "" && !slices.Contains(reasons[ip], why) {
				reasons[ip] = append(reasons[ip], why)
			}
			a.Services = append(a.Services, key)
		}
	}
	out := make([]Announcement, 0, len(byIP))
	for ip, a := range byIP {
		sort.Strings(a.Services)
		a.Node = election.Owner(ip.String(), candidates[ip])
		if a.Node != "" {
			a.Interfaces = ifaces[ip][a.Node]
		} else {
			sort.Strings(reasons[ip])
			a.Reason = strings.Join(reasons[ip], "; ")
			if a.Reason == "" {
				a.Reason = "no node is eligible for every Service sharing this address"
			}
		}
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IP.Less(out[j].IP) })
	return out
}

type compiledPool struct {
	pool *ironlbv1.IPAddressPool
	set  ipset.Set
}

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
// Service if it contains the address, else the first pool (by name) that does.
func poolOf(ip netip.Addr, svc *corev1.Service, pools []compiledPool) *ironlbv1.IPAddressPool {
	recorded := strings.Split(svc.Annotations[lbservice.AnnotationAllocatedFromPool], ",")
	var first *ironlbv1.IPAddressPool
	for _, p := range pools {
		if !p.set.Contains(ip) {
			continue
		}
		if slices.Contains(recorded, p.pool.Name) {
			return p.pool
		}
		if first == nil {
			first = p.pool
		}
	}
	return first
}

func matchingAdvertisements(advs []ironlbv1.L2Advertisement, pool *ironlbv1.IPAddressPool, svc *corev1.Service) []*ironlbv1.L2Advertisement {
	if pool == nil {
		return nil
	}
	var out []*ironlbv1.L2Advertisement
	for i := range advs {
		adv := &advs[i]
		if adv.Spec.Selects(pool) && ironlbv1.MatchesAnySelector(adv.Spec.ServiceSelectors, svc.Labels) {
			out = append(out, adv)
		}
	}
	return out
}

// eligibleNodes lists the nodes that may announce the Service's address, the interfaces
// each would use, and, when there is none, why.
func eligibleNodes(svc *corev1.Service, advs []*ironlbv1.L2Advertisement, nodes map[string]*corev1.Node,
	alive map[string][]string, localEndpoints map[string]bool) ([]string, map[string][]string, string) {
	local := svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	var out []string
	perNode := map[string][]string{}
	counts := map[string]int{}
	names := make([]string, 0, len(alive))
	for n := range alive {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		node := nodes[name]
		switch {
		case node == nil:
			counts["has no Node object"]++
			continue
		case hasLabel(node, ExcludeLabel):
			counts["is excluded from load balancers"]++
			continue
		case networkUnavailable(node):
			counts["has NetworkUnavailable"]++
			continue
		case local && !localEndpoints[name]:
			counts["has no ready local endpoint (externalTrafficPolicy: Local)"]++
			continue
		}
		ifaces, ok := interfacesFor(advs, node, alive[name])
		if !ok {
			counts["is not selected by an L2Advertisement or lacks its interfaces"]++
			continue
		}
		out = append(out, name)
		perNode[name] = ifaces
	}
	if len(out) > 0 {
		return out, perNode, ""
	}
	if len(alive) == 0 {
		return nil, nil, "no speaker is alive"
	}
	var parts []string
	for why, n := range counts {
		parts = append(parts, fmt.Sprintf("%d node(s) %s", n, why))
	}
	sort.Strings(parts)
	return nil, nil, "no eligible node: " + strings.Join(parts, "; ")
}

// interfacesFor returns the interfaces the advertisements that select this node name,
// keeping only those the node reports up; ok is false when no advertisement selects the
// node or none of its named interfaces is up.
func interfacesFor(advs []*ironlbv1.L2Advertisement, node *corev1.Node, up []string) ([]string, bool) {
	selected, any := false, false
	var ifaces []string
	for _, adv := range advs {
		if !ironlbv1.MatchesAnySelector(adv.Spec.NodeSelectors, node.Labels) {
			continue
		}
		selected = true
		if len(adv.Spec.Interfaces) == 0 {
			any = true
			continue
		}
		for _, i := range adv.Spec.Interfaces {
			name := string(i)
			if (up == nil || slices.Contains(up, name)) && !slices.Contains(ifaces, name) {
				ifaces = append(ifaces, name)
			}
		}
	}
	if !selected {
		return nil, false
	}
	if any {
		return nil, true // every suitable interface
	}
	sort.Strings(ifaces)
	return ifaces, len(ifaces) > 0
}

func hasLabel(n *corev1.Node, key string) bool {
	_, ok := n.Labels[key]
	return ok
}

func networkUnavailable(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeNetworkUnavailable && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// localEndpoints maps "namespace/service" to the nodes with a ready or serving endpoint.
func localEndpoints(slices []discoveryv1.EndpointSlice) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, s := range slices {
		svc := s.Labels[discoveryv1.LabelServiceName]
		if svc == "" {
			continue
		}
		key := s.Namespace + "/" + svc
		for _, ep := range s.Endpoints {
			if ep.NodeName == nil || !endpointUp(ep) {
				continue
			}
			if out[key] == nil {
				out[key] = map[string]bool{}
			}
			out[key][*ep.NodeName] = true
		}
	}
	return out
}

// mergeInterfaces combines, for the nodes present in both, the interfaces two Services
// sharing an address would use: nil (every suitable interface) wins, else the sorted union.
func mergeInterfaces(a, b map[string][]string) map[string][]string {
	out := map[string][]string{}
	for node, x := range a {
		y, ok := b[node]
		if !ok {
			continue
		}
		if x == nil || y == nil {
			out[node] = nil
			continue
		}
		u := slices.Concat(x, y)
		sort.Strings(u)
		out[node] = slices.Compact(u)
	}
	return out
}

func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// endpointUp is true for a ready endpoint, or a serving one (terminating but still
// answering, which kube-proxy falls back to).
func endpointUp(ep discoveryv1.Endpoint) bool {
	ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
	serving := ep.Conditions.Serving != nil && *ep.Conditions.Serving
	return ready || serving
}
