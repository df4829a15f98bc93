package plan

import (
	"net/netip"
	"slices"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/ipset"
)

// Prefix is one route this node advertises. When several advertisements select addresses
// in it, they combine: communities are the union, the highest localPref wins, and the
// route goes to the union of their peers (any advertisement without peers means every
// peer). A Service's ironlb.io/bgp-communities join the union, and its
// ironlb.io/bgp-local-pref stands in for its advertisements' localPref before the highest
// is taken, so with Services sharing the prefix the highest of theirs wins.
type Prefix struct {
	Prefix      netip.Prefix
	Communities []ironlbv1.Community // sorted, no duplicates
	LocalPref   *int64
	Peers       []string // sorted; nil means every peer
	Services    []string // "namespace/name", sorted
	// Endpoints is the weight the link-bandwidth community carries (endpointWeightedECMP):
	// the ready local endpoints of the prefix's Services, summed. 0 sends no community:
	// no advertisement of the prefix asks for it, or a Service of it is not
	// externalTrafficPolicy Local.
	Endpoints int
}

// maxWeightedEndpoints bounds Prefix.Endpoints: FRR keeps a path's bandwidth in 32 bits of
// bytes per second, which LinkBandwidthPerEndpoint times this still fits. A node with more
// endpoints than that counts as having this many.
const maxWeightedEndpoints = 32768

// add merges what one advertisement gives an address into its prefix. The Service's own
// annotations (bgpattr) add communities, and their localPref replaces the advertisement's
// for this Service; the highest localPref of every Service in the prefix wins (a shared
// address or an aggregate carries several).
func (p *Prefix) add(adv *ironlbv1.BGPAdvertisementSpec, addr address) {
	p.Communities = append(p.Communities, adv.Communities...)
	p.Communities = append(p.Communities, addr.bgp.Communities...)
	lp := adv.LocalPref
	if addr.bgp.LocalPref != nil {
		lp = addr.bgp.LocalPref
	}
	if lp != nil && (p.LocalPref == nil || *lp > *p.LocalPref) {
		v := *lp
		p.LocalPref = &v
	}
	p.Peers = append(p.Peers, adv.Peers...)
	p.Services = append(p.Services, addr.key)
}

// building is a Prefix while the advertisements are merged into it.
type building struct {
	Prefix
	allPeers bool // an advertisement without peers covers it: every peer
	weighted bool // an advertisement with endpointWeightedECMP covers it
	cluster  bool // a Service of it has externalTrafficPolicy Cluster: no weight
	// endpoints are the node's up local endpoints of each Local Service of the prefix, of
	// the prefix's family (a Service with two addresses in it counts once).
	endpoints map[string]int
}

func (b *building) add(adv *ironlbv1.BGPAdvertisementSpec, addr address, local localEndpoints) {
	b.Prefix.add(adv, addr)
	b.allPeers = b.allPeers || len(adv.Peers) == 0
	b.weighted = b.weighted || adv.EndpointWeightedECMP
	if !isLocal(addr.svc) {
		b.cluster = true
		return
	}
	if b.endpoints == nil {
		b.endpoints = map[string]int{}
	}
	b.endpoints[addr.key] = local.weight(addr.ip)
}

// done sorts the merged lists and works the weight out.
func (b *building) done() Prefix {
	p := b.Prefix
	p.Communities = sortedUnique(p.Communities)
	p.Services = sortedUnique(p.Services)
	p.Peers = sortedUnique(p.Peers)
	if b.allPeers {
		p.Peers = nil
	}
	if b.weighted && !b.cluster {
		for _, n := range b.endpoints {
			p.Endpoints += n
		}
		p.Endpoints = min(p.Endpoints, maxWeightedEndpoints)
	}
	return p
}

// Prefixes returns the prefixes this node advertises, in prefix order. Unlike layer 2
// there is no election: every eligible node advertises, and routers spread traffic with
// ECMP (weighted by endpoints when an advertisement asks for it).
func Prefixes(s Snapshot) []Prefix {
	c := compile(s, true)
	node := c.nodes[s.Node]
	if node == nil || nodeExclusion(node) != "" {
		return nil
	}
	byPrefix := map[netip.Prefix]*building{}
	// Routes a cordoned node still sends, with GRACEFUL_SHUTDOWN, to the peers that ask
	// for it (gracefulShutdownTime) while their time runs; they go out only where no
	// advertisement still gives the node the prefix plainly.
	draining := map[netip.Prefix]*building{}
	graceful := gracefulPeers(s, node)
	for _, addr := range c.addresses {
		local := c.local[addr.key][s.Node]
		if isLocal(addr.svc) {
			if !local.up() {
				continue // only nodes with a ready local endpoint attract traffic
			}
		} else if !c.ready[addr.key] {
			continue // nothing would answer: do not attract traffic at all
		}
		for j := range s.BGPAdvertisements {
			adv := &s.BGPAdvertisements[j].Spec
			if !adv.Selects(addr.pool.pool) || !ironlbv1.MatchesAnySelector(adv.ServiceSelectors, addr.svc.Labels) {
				continue
			}
			into := byPrefix
			if !selectsNode(adv.TargetSelection, node) {
				// A cordoned node withdraws the route here (its sessions stay up), at
				// once or after a graceful shutdown.
				if adv = drainingAdvertisement(adv, node, graceful); adv == nil {
					continue
				}
				into = draining
			}
			prefix := aggregate(addr.ip, adv, addr.pool.set)
			b := into[prefix]
			if b == nil {
				b = &building{Prefix: Prefix{Prefix: prefix}}
				into[prefix] = b
			}
			b.add(adv, addr, local)
		}
	}
	for prefix, b := range draining {
		if byPrefix[prefix] == nil {
			byPrefix[prefix] = b
		}
	}
	out := make([]Prefix, 0, len(byPrefix))
	for _, b := range byPrefix {
		out = append(out, b.done())
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

// gracefulShutdown is RFC 8326's GRACEFUL_SHUTDOWN community (65535:0).
const gracefulShutdown ironlbv1.Community = "graceful-shutdown"

// gracefulPeers names the BGPPeers that still get the routes of this node, cordoned, with
// GRACEFUL_SHUTDOWN: those with gracefulShutdownTime whose time since the speaker saw the
// cordon (Snapshot.CordonedSince) has not run out. None when the node is not cordoned.
func gracefulPeers(s Snapshot, node *corev1.Node) []string {
	if !node.Spec.Unschedulable || s.CordonedSince.IsZero() {
		return nil
	}
	var out []string
	for i := range s.BGPPeers {
		d := s.BGPPeers[i].Spec.GracefulShutdownTime
		if d != nil && s.Now.Before(s.CordonedSince.Add(d.Duration)) {
			out = append(out, s.BGPPeers[i].Name)
		}
	}
	return out
}

// CordonClock times the cordon of the speaker's node for Snapshot.CordonedSince, from the
// node as successive plans see it. Only a cordon the speaker sees happen is timed: a
// speaker that starts on a node already cordoned (restarted mid-drain, or long after)
// leaves the routes withdrawn rather than send them again for a graceful shutdown that
// already ran or was never asked of it while it was away. The zero value has seen nothing.
type CordonClock struct {
	seen, cordoned bool
	since          time.Time
}

// Observe returns the clock after a plan that reads nodes at now.
func (c CordonClock) Observe(nodes []corev1.Node, name string, now time.Time) CordonClock {
	for i := range nodes {
		if nodes[i].Name != name {
			continue
		}
		switch {
		case !nodes[i].Spec.Unschedulable:
			return CordonClock{seen: true}
		case c.cordoned:
			return c // timing already, or cordoned before the speaker saw the node
		case c.seen:
			return CordonClock{seen: true, cordoned: true, since: now}
		}
		return CordonClock{seen: true, cordoned: true}
	}
	return c // no Node object: nothing learnt
}

// Since is when the speaker saw its node cordoned, zero when it is not or the cordon came
// before the speaker saw the node.
func (c CordonClock) Since() time.Time { return c.since }

// GracefulShutdownEnds is when the next graceful shutdown of this node's routes runs out
// (the plan then changes with no API event), or zero when none is running.
func GracefulShutdownEnds(s Snapshot) time.Time {
	var node *corev1.Node
	for i := range s.Nodes {
		if s.Nodes[i].Name == s.Node {
			node = &s.Nodes[i]
		}
	}
	var next time.Time
	if node == nil || !node.Spec.Unschedulable || s.CordonedSince.IsZero() {
		return next
	}
	for i := range s.BGPPeers {
		if d := s.BGPPeers[i].Spec.GracefulShutdownTime; d != nil {
			end := s.CordonedSince.Add(d.Duration)
			if s.Now.Before(end) && (next.IsZero() || end.Before(next)) {
				next = end
			}
		}
	}
	return next
}

// drainingAdvertisement is what an advertisement that leaves out this node gives it still:
// nil, unless the node is left out for being cordoned alone (excludeCordonedNodes) and
// some of the advertisement's peers are in their graceful shutdown (graceful); then the
// advertisement as sent to those peers only, with GRACEFUL_SHUTDOWN added.
func drainingAdvertisement(adv *ironlbv1.BGPAdvertisementSpec, node *corev1.Node, graceful []string) *ironlbv1.BGPAdvertisementSpec {
	if len(graceful) == 0 || !adv.ExcludeCordonedNodes || !ironlbv1.MatchesAnySelector(adv.NodeSelectors, node.Labels) {
		return nil
	}
	var peers []string
	for _, p := range graceful {
		if len(adv.Peers) == 0 || slices.Contains(adv.Peers, p) {
			peers = append(peers, p)
		}
	}
	if len(peers) == 0 {
		return nil
	}
	d := *adv
	d.Peers = peers
	d.Communities = append(slices.Clone(adv.Communities), gracefulShutdown)
	return &d
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

// BGPAdvertisementsOf names the BGPAdvertisements that cover an address of the Service
// key ("namespace/name") by its pool and labels, whatever the nodes and endpoints: the
// controller tells "no advertisement covers it" from "no node may advertise it" with it.
func BGPAdvertisementsOf(s Snapshot, key string) []string {
	c := compile(s, false)
	var out []string
	for _, addr := range c.addresses {
		if addr.key != key {
			continue
		}
		for j := range s.BGPAdvertisements {
			adv := &s.BGPAdvertisements[j]
			if adv.Spec.Selects(addr.pool.pool) && ironlbv1.MatchesAnySelector(adv.Spec.ServiceSelectors, addr.svc.Labels) {
				out = append(out, adv.Name)
			}
		}
	}
	return sortedUnique(out)
}

// PeersFor lists the BGPPeers a node sends a prefix on: those the prefix names (all when
// it names none) whose nodeSelectors match the node and whose session carries the
// prefix's family (its own family, or both with dualStackAddressFamily), as the
// speaker's routing policy does.
func PeersFor(peers []ironlbv1.BGPPeer, p Prefix, node *corev1.Node) []*ironlbv1.BGPPeer {
	var out []*ironlbv1.BGPPeer
	for i := range peers {
		peer := &peers[i]
		if p.Peers != nil && !slices.Contains(p.Peers, peer.Name) || !ironlbv1.MatchesAnySelector(peer.Spec.NodeSelectors, node.Labels) {
			continue
		}
		addr, err := netip.ParseAddr(peer.Spec.PeerAddress)
		if err != nil || !peer.Spec.DualStackAddressFamily && addr.Unmap().Is4() != p.Prefix.Addr().Is4() {
			continue
		}
		out = append(out, peer)
	}
	return out
}
