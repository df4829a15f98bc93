package eligibility

import (
	"net/netip"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/ipset"
	"github.com/ironlb/ironlb/internal/lbservice"
)

// BGPSnapshot is everything one node's BGP decision depends on. Unlike layer 2 there is no
// election: every eligible node advertises, and routers spread traffic with ECMP.
type BGPSnapshot struct {
	Node              string
	Services          []corev1.Service
	EndpointSlices    []discoveryv1.EndpointSlice
	Nodes             []corev1.Node
	Pools             []ironlbv1.IPAddressPool
	BGPAdvertisements []ironlbv1.BGPAdvertisement
	// Class is the loadBalancerClass served ("" for Services without one).
	Class string
}

// Prefix is one route this node advertises. When several advertisements select addresses
// in it, they combine: communities are the union, the highest localPref wins, and the
// route goes to the union of their peers (any advertisement without peers means every
// peer).
type Prefix struct {
	Prefix      netip.Prefix
	Communities []ironlbv1.Community // sorted, no duplicates
	LocalPref   *int64
	Peers       []string // sorted; nil means every peer
	Services    []string // "namespace/name", sorted
}

// DecideBGP returns the prefixes the snapshot's node advertises, in prefix order.
func DecideBGP(s BGPSnapshot) []Prefix {
	var node *corev1.Node
	for i := range s.Nodes {
		if s.Nodes[i].Name == s.Node {
			node = &s.Nodes[i]
		}
	}
	if node == nil || hasLabel(node, ExcludeLabel) || networkUnavailable(node) {
		return nil
	}
	pools := compilePools(s.Pools)
	local := localEndpoints(s.EndpointSlices)
	anyReady := readyServices(s.EndpointSlices)

	byPrefix := map[netip.Prefix]*Prefix{}
	allPeers := map[netip.Prefix]bool{}
	for i := range s.Services {
		svc := &s.Services[i]
		if !lbservice.IsOurs(svc, s.Class) {
			continue
		}
		key := svc.Namespace + "/" + svc.Name
		if svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
			if !local[key][s.Node] {
				continue // only nodes with a ready local endpoint attract traffic
			}
		} else if !anyReady[key] {
			continue // nothing would answer: do not attract traffic at all
		}
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			ip, err := netip.ParseAddr(ing.IP)
			if err != nil {
				continue
			}
			pool := poolOf(ip, svc, pools)
			if pool == nil {
				continue
			}
			for j := range s.BGPAdvertisements {
				adv := &s.BGPAdvertisements[j].Spec
				if !adv.Selects(pool) || !ironlbv1.MatchesAnySelector(adv.ServiceSelectors, svc.Labels) ||
					!ironlbv1.MatchesAnySelector(adv.NodeSelectors, node.Labels) {
					continue
				}
				prefix := aggregate(ip, adv, setOf(pool, pools))
				p := byPrefix[prefix]
				if p == nil {
					p = &Prefix{Prefix: prefix}
					byPrefix[prefix] = p
				}
				p.Communities = append(p.Communities, adv.Communities...)
				if adv.LocalPref != nil && (p.LocalPref == nil || *adv.LocalPref > *p.LocalPref) {
					v := *adv.LocalPref
					p.LocalPref = &v
				}
				if len(adv.Peers) == 0 {
					allPeers[prefix] = true
				}
				p.Peers = append(p.Peers, adv.Peers...)
				p.Services = append(p.Services, key)
			}
		}
	}
	out := make([]Prefix, 0, len(byPrefix))
	for prefix, p := range byPrefix {
		p.Communities = sortedUnique(p.Communities)
		p.Services = sortedUnique(p.Services)
		p.Peers = sortedUnique(p.Peers)
		if allPeers[prefix] {
			p.Peers = nil
		}
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Prefix, out[j].Prefix
		if a.Addr() != b.Addr() {
			return a.Addr().Less(b.Addr())
		}
		return a.Bits() < b.Bits()
	})
	return out
}

// aggregate is the prefix an advertisement sends for an address. An aggregate that would
// reach beyond the address's pool (aggregationLength 0 would be a default route) is not
// sent: the router would draw traffic for addresses ironlb does not own, so the address
// alone is advertised instead. The advertisement's Ready condition, written by the
// controller, says so.
func aggregate(ip netip.Addr, adv *ironlbv1.BGPAdvertisementSpec, pool ipset.Set) netip.Prefix {
	bits := ip.BitLen()
	length := adv.AggregationLength
	if ip.Is6() {
		length = adv.AggregationLengthV6
	}
	if length != nil && int(*length) < bits {
		bits = int(*length)
	}
	p, _ := ip.Prefix(bits)
	if bits < ip.BitLen() && !within(p, pool) {
		return netip.PrefixFrom(ip, ip.BitLen())
	}
	return p
}

// within reports whether every address of p belongs to the set.
func within(p netip.Prefix, set ipset.Set) bool {
	r, err := ipset.ParseRange(p.String())
	return err == nil && ipset.New(r).Subtract(set).IsEmpty()
}

// setOf returns the compiled addresses of a pool.
func setOf(pool *ironlbv1.IPAddressPool, pools []compiledPool) ipset.Set {
	for _, cp := range pools {
		if cp.pool == pool {
			return cp.set
		}
	}
	return ipset.Set{}
}

// readyServices lists the Services ("namespace/name") with at least one ready or serving
// endpoint anywhere in the cluster.
func readyServices(slices []discoveryv1.EndpointSlice) map[string]bool {
	out := map[string]bool{}
	for _, s := range slices {
		svc := s.Labels[discoveryv1.LabelServiceName]
		if svc == "" {
			continue
		}
		for _, ep := range s.Endpoints {
			if endpointUp(ep) {
				out[s.Namespace+"/"+svc] = true
				break
			}
		}
	}
	return out
}

func sortedUnique[T ~string](in []T) []T {
	if len(in) == 0 {
		return nil
	}
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}
