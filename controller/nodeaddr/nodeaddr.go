// Package nodeaddr computes the node-address fallback of a Service (the k3s ServiceLB
// style): when no IPAddressPool serves a Service that opted in, its external addresses are
// the InternalIPs of the nodes that can take its traffic, and kube-proxy on each of them
// handles the Service's ports on that address (ipMode VIP), so nothing is announced by ARP,
// NDP or BGP: the node addresses are already reachable.
//
// The package is pure: the same nodes give the same addresses, in the same order, so an
// unchanged cluster costs no status write.
package nodeaddr

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/ipset"
)

// listed bounds how many nodes a message names, so the condition stays short on a cluster
// of hundreds of nodes; the counts are always complete and the status lists every address.
const listed = 5

// Input is everything one Service's node addresses depend on.
type Input struct {
	Nodes []corev1.Node
	// Families are the families the Service wants, in its spec.ipFamilies order (the first
	// only for SingleStack; see allocator.WantedFamilies).
	Families []ipset.Family
	// RequireAll is spec.ipFamilyPolicy RequireDualStack: a node counts only with an
	// InternalIP of every family. Otherwise a node gives what it has of Families.
	RequireAll bool
	// Local is externalTrafficPolicy: Local. kube-proxy drops external traffic on a node
	// without a ready endpoint of the Service, so only the nodes in LocalNodes count.
	Local      bool
	LocalNodes map[string]bool
	// TCPPorts are the Service's TCP ports. kube-proxy's rules take a port on the node's
	// address before any socket of the node does, so a node whose kubelet listens on one of
	// them is left out: its API server traffic (logs, exec, metrics) would go to the pods.
	TCPPorts []int32
}

// Address is one node address of the Service.
type Address struct {
	IP   netip.Addr
	Node string
}

// Exclusion says why a node gives the Service no address.
type Exclusion struct {
	Node string
	Why  string
}

// Result is the Service's node addresses and the nodes left out.
type Result struct {
	// Addresses are sorted by the Service's family order, then by address.
	Addresses []Address
	// Nodes are the nodes that gave an address, sorted.
	Nodes []string
	// Excluded are the other nodes, sorted by name.
	Excluded []Exclusion
}

// Compute picks the eligible nodes and their first InternalIP of each wanted family.
func Compute(in Input) Result {
	var r Result
	nodes := slices.Clone(in.Nodes)
	slices.SortFunc(nodes, func(a, b corev1.Node) int { return cmp.Compare(a.Name, b.Name) })
	for i := range nodes {
		n := &nodes[i]
		why := exclusion(n, in)
		var addrs []Address
		if why == "" {
			addrs, why = addressesOf(n, in)
		}
		if why != "" {
			r.Excluded = append(r.Excluded, Exclusion{Node: n.Name, Why: why})
			continue
		}
		r.Addresses = append(r.Addresses, addrs...)
		r.Nodes = append(r.Nodes, n.Name)
	}
	slices.SortFunc(r.Addresses, func(a, b Address) int {
		fa, fb := slices.Index(in.Families, ipset.FamilyOf(a.IP)), slices.Index(in.Families, ipset.FamilyOf(b.IP))
		if fa != fb {
			return fa - fb
		}
		return a.IP.Compare(b.IP)
	})
	return r
}

// exclusion says why a node may not take the Service's traffic, or "" when it may. The
// rules are those a user expects of a load-balancer node: Ready, schedulable, not
// excluded from load balancers, with a working pod network, not on its way out.
func exclusion(n *corev1.Node, in Input) string {
	if _, ok := n.Labels[corev1.LabelNodeExcludeBalancers]; ok {
		return "is excluded from load balancers (label " + corev1.LabelNodeExcludeBalancers + ")"
	}
	if !n.DeletionTimestamp.IsZero() {
		return "is being deleted"
	}
	if condition(n, corev1.NodeReady) != corev1.ConditionTrue {
		return "is not Ready"
	}
	if n.Spec.Unschedulable {
		return "is cordoned"
	}
	if condition(n, corev1.NodeNetworkUnavailable) == corev1.ConditionTrue {
		return "has NetworkUnavailable"
	}
	if p := n.Status.DaemonEndpoints.KubeletEndpoint.Port; p != 0 && slices.Contains(in.TCPPorts, p) {
		return fmt.Sprintf("has its kubelet on TCP port %d, a port of the Service", p)
	}
	if in.Local && !in.LocalNodes[n.Name] {
		return "has no ready endpoint of the Service (externalTrafficPolicy: Local)"
	}
	return ""
}

func condition(n *corev1.Node, t corev1.NodeConditionType) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

// addressesOf returns the node's first InternalIP of each wanted family (kubelet lists the
// primary one first), or why it has none that counts.
func addressesOf(n *corev1.Node, in Input) ([]Address, string) {
	var out []Address
	var missing []string
	for _, f := range in.Families {
		ip, ok := internalIP(n, f)
		if !ok {
			missing = append(missing, f.String())
			continue
		}
		out = append(out, Address{IP: ip, Node: n.Name})
	}
	if len(out) == 0 || (in.RequireAll && len(missing) > 0) {
		return nil, "has no " + strings.Join(missing, " or ") + " InternalIP"
	}
	return out, ""
}

func internalIP(n *corev1.Node, f ipset.Family) (netip.Addr, bool) {
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		ip, err := netip.ParseAddr(a.Address)
		if err == nil && ip.Zone() == "" && !ip.Is4In6() && ipset.FamilyOf(ip) == f {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// InUse tells whether the controller last gave the Service node addresses: its status
// then holds addresses no pool gave (start-up must not claim them as if a pool had, and a
// Service that stops being a LoadBalancer of ours must lose them).
func InUse(svc *corev1.Service) bool {
	for _, c := range svc.Status.Conditions {
		if c.Type == ironlbv1.ConditionIPAllocated {
			return c.Reason == ironlbv1.ReasonNodeAddresses
		}
	}
	return false
}

// IPs lists the addresses alone, in order.
func (r Result) IPs() []netip.Addr {
	out := make([]netip.Addr, len(r.Addresses))
	for i, a := range r.Addresses {
		out[i] = a.IP
	}
	return out
}

// Used describes the addresses for the condition: which node gives which address.
func (r Result) Used() string {
	byNode := map[string][]string{}
	for _, a := range r.Addresses {
		byNode[a.Node] = append(byNode[a.Node], a.IP.String())
	}
	parts := make([]string, 0, min(len(r.Nodes), listed))
	for _, n := range r.Nodes[:min(len(r.Nodes), listed)] {
		parts = append(parts, fmt.Sprintf("%s (%s)", n, strings.Join(byNode[n], ", ")))
	}
	return fmt.Sprintf("uses the InternalIPs of %s %s%s; kube-proxy takes the Service's ports on them, and they change as nodes come and go",
		plural(len(r.Nodes), "node", "nodes"), strings.Join(parts, ", "), more(len(r.Nodes)))
}

// Refused says why no node gives an address, node by node.
func (r Result) Refused() string {
	if len(r.Excluded) == 0 {
		return "there are no nodes"
	}
	parts := make([]string, 0, min(len(r.Excluded), listed))
	for _, e := range r.Excluded[:min(len(r.Excluded), listed)] {
		parts = append(parts, "node "+e.Node+" "+e.Why)
	}
	return strings.Join(parts, ", ") + more(len(r.Excluded))
}

func more(n int) string {
	if n <= listed {
		return ""
	}
	return fmt.Sprintf(" and %d more", n-listed)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// LocalNodes lists the nodes with a ready endpoint of the Service in its EndpointSlices,
// or a serving one (terminating but still answering, which kube-proxy falls back to): the
// speaker's rule for externalTrafficPolicy: Local.
func LocalNodes(slices []discoveryv1.EndpointSlice) map[string]bool {
	out := map[string]bool{}
	for _, s := range slices {
		for _, ep := range s.Endpoints {
			ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			serving := ep.Conditions.Serving != nil && *ep.Conditions.Serving
			if (ready || serving) && ep.NodeName != nil {
				out[*ep.NodeName] = true
			}
		}
	}
	return out
}

// Claim is one Service's use of node addresses, for the port collision rule.
type Claim struct {
	Service string // "namespace/name"
	Created time.Time
	IPs     []netip.Addr
	// Ports are "PROTOCOL/port" strings, such as "TCP/80".
	Ports []string
}

// older orders claims by creation, then by name, so every replica picks the same winner.
func (c Claim) older(o Claim) bool {
	if !c.Created.Equal(o.Created) {
		return c.Created.Before(o.Created)
	}
	return c.Service < o.Service
}

// Collision finds the older Service on node addresses that already takes one of self's
// ports on one of its addresses, and says where. kube-proxy would program both Services
// on that address and port, and which one a client reached would be undefined, so the
// younger one waits (the older never yields: a working Service keeps its addresses). The
// result is "" when self may take its addresses.
func Collision(self Claim, others []Claim) string {
	sorted := slices.Clone(others)
	slices.SortFunc(sorted, func(a, b Claim) int {
		if a.older(b) {
			return -1
		}
		if b.older(a) {
			return 1
		}
		return 0
	})
	for _, o := range sorted {
		if o.Service == self.Service || !o.older(self) {
			continue
		}
		for _, p := range self.Ports {
			if !slices.Contains(o.Ports, p) {
				continue
			}
			for _, ip := range self.IPs {
				if slices.Contains(o.IPs, ip) {
					return fmt.Sprintf("port %s on %s is taken by older Service %s on node addresses", p, ip, o.Service)
				}
			}
		}
	}
	return ""
}

// ClaimOf reads a Service's claim: the node addresses in its status (if it is on node
// addresses) and its ports.
func ClaimOf(svc *corev1.Service) Claim {
	c := Claim{Service: svc.Namespace + "/" + svc.Name, Created: svc.CreationTimestamp.Time}
	if InUse(svc) {
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			if ip, err := netip.ParseAddr(ing.IP); err == nil {
				c.IPs = append(c.IPs, ip)
			}
		}
	}
	for _, p := range svc.Spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		c.Ports = append(c.Ports, fmt.Sprintf("%s/%d", proto, p.Port))
	}
	return c
}
