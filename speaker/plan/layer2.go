package plan

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/lbservice"
	"github.com/ironlb/ironlb/speaker/election"
)

// Announcement is the layer-2 verdict for one address.
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

// L2Plan is what this node does in layer 2.
type L2Plan struct {
	// Announcements is the verdict for every layer-2 address of the cluster, in address
	// order; every speaker computes the same.
	Announcements []Announcement
	// Owned maps the addresses this node answers for to the interfaces it answers on;
	// an empty list means every suitable interface.
	Owned map[netip.Addr][]string
	// Services maps each owned address to the Services using it ("namespace/name").
	Services map[netip.Addr][]string
	// Unannounced counts the addresses no node answers for.
	Unannounced int
	// Conditions are the L2Announced conditions this node reports, by Service name.
	Conditions []ServiceCondition
	// Isolation, when its Reason is set, says this node is cut off from speakers that
	// are up: it owns nothing and reports nothing, and the others cover its addresses.
	Isolation Isolation
	// Gossip is this node's memberlist view, for its Pod's ConditionGossip.
	Gossip GossipCondition
}

// ServiceCondition is a condition to report on a Service.
type ServiceCondition struct {
	Service   *corev1.Service
	Condition metav1.Condition
	// Remove says to delete the Service's condition of Condition.Type instead: the
	// Service is no longer one this speaker announces, and a stale True must not stay.
	Remove bool
}

// L2 plans this node's layer-2 work. Every speaker computes the same announcements, so
// one speaker per Service, chosen like an owner among the live speakers by the Service's
// name, reports the Service's whole condition: with one writer, no two speakers overwrite
// each other when a dual-stack Service's addresses are announced by different nodes.
func L2(s Snapshot) L2Plan {
	anns := Announcements(s)
	perNode := len(anns) / max(len(s.Alive), 1) // about what this node owns
	p := L2Plan{Announcements: anns, Owned: make(map[netip.Addr][]string, perNode), Services: make(map[netip.Addr][]string, perNode)}
	p.Isolation = s.Isolated()
	p.Gossip = s.GossipView(p.Isolation)
	if p.Isolation.Reason != "" {
		// Alone in its own view, this node would win every election and report every
		// condition; the speakers it cannot reach do both, correctly, without it.
		for _, a := range p.Announcements {
			if a.Node == "" {
				p.Unannounced++
			}
		}
		return p
	}
	perService := make(map[string][]*Announcement, len(s.Services))
	for i := range p.Announcements {
		a := &p.Announcements[i]
		if a.Node == "" {
			p.Unannounced++
		}
		if a.Node == s.Node {
			p.Owned[a.IP] = a.Interfaces
			p.Services[a.IP] = a.Services
		}
		for _, key := range a.Services {
			perService[key] = append(perService[key], a)
		}
	}
	alive := aliveNames(s.Alive)
	for i := range s.Services {
		svc := &s.Services[i]
		if election.Owner(serviceKey(svc), alive) != s.Node {
			continue
		}
		if sc, ok := conditionFor(svc, s.Class, perService); ok {
			p.Conditions = append(p.Conditions, sc)
		}
	}
	sort.Slice(p.Conditions, func(i, j int) bool {
		return serviceKey(p.Conditions[i].Service) < serviceKey(p.Conditions[j].Service)
	})
	return p
}

// conditionFor is the L2Announced condition to report on a Service, so that it never
// says an address is answered when it is not:
//   - announced by layer 2: True when every address has a node, else False;
//   - not a LoadBalancer any more, or without an address: the condition is removed;
//   - still ours, but no L2Advertisement covers any of its addresses (the advertisement
//     or the pool was deleted): False, NotAdvertised.
//
// A Service that never had the condition gets none unless it is announced, so a Service
// served only by BGP carries no layer-2 condition. A Service of another loadBalancerClass
// is left alone: its own load balancer may write the same condition type, and two writers
// would overwrite each other forever (the class cannot change while the Service stays a
// LoadBalancer, so a Service moving to another class passes through a removal first).
func conditionFor(svc *corev1.Service, class string, perService map[string][]*Announcement) (ServiceCondition, bool) {
	if anns, ok := perService[serviceKey(svc)]; ok {
		c := announcedCondition(anns)
		c.ObservedGeneration = svc.Generation
		return ServiceCondition{Service: svc, Condition: c}, true
	}
	if meta.FindStatusCondition(svc.Status.Conditions, ironlbv1.ConditionL2Announced) == nil {
		return ServiceCondition{}, false
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Status.LoadBalancer.Ingress) == 0 {
		return ServiceCondition{Service: svc, Condition: metav1.Condition{Type: ironlbv1.ConditionL2Announced}, Remove: true}, true
	}
	if !lbservice.IsOurs(svc, class) {
		return ServiceCondition{}, false
	}
	return ServiceCondition{Service: svc, Condition: metav1.Condition{
		Type: ironlbv1.ConditionL2Announced, Status: metav1.ConditionFalse, Reason: ironlbv1.ReasonNotAdvertised,
		ObservedGeneration: svc.Generation,
		Message:            "no L2Advertisement covers its addresses (their pool is not selected, or was deleted); no node answers ARP/NDP for them",
	}}, true
}

// announcedCondition sums up a Service's announcements: True when every address has a
// node, else False with the reason for each address left out.
func announcedCondition(anns []*Announcement) metav1.Condition {
	c := metav1.Condition{Type: ironlbv1.ConditionL2Announced, Status: metav1.ConditionTrue, Reason: ironlbv1.ReasonAnnouncing}
	var parts []string
	for _, d := range anns {
		if d.Node == "" {
			c.Status, c.Reason = metav1.ConditionFalse, ironlbv1.ReasonNoEligibleNode
			parts = append(parts, d.IP.String()+" is not announced: "+d.Reason)
			continue
		}
		on := "every suitable interface"
		if len(d.Interfaces) > 0 {
			on = strings.Join(d.Interfaces, ", ")
		}
		// Concatenated, not Sprintf: this runs for every Service on every plan.
		parts = append(parts, "node "+d.Node+" answers ARP/NDP for "+d.IP.String()+" on "+on)
	}
	c.Message = strings.Join(parts, "; ")
	return c
}

// MemberlistPeers lists the memberlist addresses of the other nodes, from their Node
// objects' InternalIPs, so a speaker finds the cluster without any list of its own.
func MemberlistPeers(s Snapshot, port int) []string {
	var out []string
	for _, n := range s.Nodes {
		if n.Name == s.Node {
			continue
		}
		for _, addr := range n.Status.Addresses {
			if addr.Type == corev1.NodeInternalIP {
				out = append(out, net.JoinHostPort(addr.Address, strconv.Itoa(port)))
			}
		}
	}
	return out
}

func aliveNames(alive map[string][]string) []string {
	names := make([]string, 0, len(alive))
	for n := range alive {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Announcements returns one Announcement per Service address that an L2Advertisement
// covers, in address order.
func Announcements(s Snapshot) []Announcement {
	c := compile(s, false)
	// pending is one address being decided: its Services' candidate nodes, the interfaces
	// each would answer on, and the reasons some nodes are not eligible.
	type pending struct {
		services   []string
		candidates []string
		ifaces     map[string][]string
		reasons    []string
	}
	byIP := make(map[netip.Addr]*pending, len(c.addresses))
	order := make([]netip.Addr, 0, len(c.addresses))
	names := aliveNames(s.Alive)
	// Without externalTrafficPolicy Local, which nodes are eligible depends only on the
	// advertisements that match: work it out once per set of them, not per address.
	memo := map[string]eligibility{}
	for _, addr := range c.addresses {
		advs, set := matchingL2Advertisements(s.L2Advertisements, addr)
		if len(advs) == 0 {
			continue // not a layer-2 address (perhaps BGP)
		}
		e, ok := memo[set]
		if !ok || isLocal(addr.svc) {
			e.nodes, e.perNode, e.why = eligibleNodes(addr.svc, advs, c.nodes, s.Alive, names, c.local[addr.key])
			if !isLocal(addr.svc) {
				memo[set] = e
			}
		}
		p := byIP[addr.ip]
		if p == nil {
			p = &pending{candidates: e.nodes, ifaces: e.perNode}
			byIP[addr.ip] = p
			order = append(order, addr.ip)
		} else {
			// Services sharing an address: a node must be eligible for all of them, and
			// it answers on the interfaces of every advertisement that selects one of
			// them, whatever order the Services are listed in.
			p.candidates = intersect(p.candidates, e.nodes)
			p.ifaces = mergeInterfaces(p.ifaces, e.perNode)
		}
		if e.why != "" && !slices.Contains(p.reasons, e.why) {
			p.reasons = append(p.reasons, e.why)
		}
		p.services = append(p.services, addr.key)
	}
	slices.SortFunc(order, netip.Addr.Compare)
	out := make([]Announcement, len(order))
	for i, ip := range order {
		p := byIP[ip]
		a := &out[i]
		a.IP, a.Services = ip, p.services
		sort.Strings(a.Services)
		a.Node = election.Owner(ip.String(), p.candidates)
		if a.Node != "" {
			a.Interfaces = p.ifaces[a.Node]
			continue
		}
		sort.Strings(p.reasons)
		a.Reason = strings.Join(p.reasons, "; ")
		if a.Reason == "" {
			a.Reason = "no node is eligible for every Service sharing this address"
		}
	}
	return out
}

// eligibility is eligibleNodes' answer.
type eligibility struct {
	nodes   []string
	perNode map[string][]string
	why     string
}

// matchingL2Advertisements returns the advertisements that cover the address, and a key
// naming that set (their positions).
func matchingL2Advertisements(advs []ironlbv1.L2Advertisement, addr address) ([]*ironlbv1.L2Advertisement, string) {
	var out []*ironlbv1.L2Advertisement
	var key []byte
	for i := range advs {
		adv := &advs[i]
		if adv.Spec.Selects(addr.pool.pool) && ironlbv1.MatchesAnySelector(adv.Spec.ServiceSelectors, addr.svc.Labels) {
			out = append(out, adv)
			key = strconv.AppendInt(append(key, ','), int64(i), 10)
		}
	}
	return out, string(key)
}

// eligibleNodes lists the nodes that may announce the Service's address, the interfaces
// each would use, and, when there is none, why; names are the live nodes, sorted.
func eligibleNodes(svc *corev1.Service, advs []*ironlbv1.L2Advertisement, nodes map[string]*corev1.Node,
	alive map[string][]string, names []string, localEndpoints map[string]localEndpoints) ([]string, map[string][]string, string) {
	local := isLocal(svc)
	var out []string
	perNode := map[string][]string{}
	counts := map[string]int{}
	for _, name := range names {
		node := nodes[name]
		if node == nil {
			counts["has no Node object"]++
			continue
		}
		if why := nodeExclusion(node); why != "" {
			counts[why]++
			continue
		}
		if local && !localEndpoints[name].up() {
			counts["has no ready local endpoint (externalTrafficPolicy: Local)"]++
			continue
		}
		if cordonedOut(advs, node) {
			counts["is cordoned"]++
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
		if !selectsNode(adv.Spec.TargetSelection, node) {
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

// cordonedOut reports whether the node is left out only because it is cordoned: some
// advertisement's nodeSelectors match it, and every one that does excludes cordoned nodes.
func cordonedOut(advs []*ironlbv1.L2Advertisement, node *corev1.Node) bool {
	if !node.Spec.Unschedulable {
		return false
	}
	matched := false
	for _, adv := range advs {
		if !ironlbv1.MatchesAnySelector(adv.Spec.NodeSelectors, node.Labels) {
			continue
		}
		if !adv.Spec.ExcludeCordonedNodes {
			return false
		}
		matched = true
	}
	return matched
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
