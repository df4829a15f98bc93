// Package bgpcondition writes the ironlb.io/BGPAdvertised condition of Services: how many
// nodes advertise a Service's addresses by BGP, to which peers, with the session
// Established. The controller is its only writer (the speakers may change only their
// L2Announced condition): it computes which nodes should advertise with the speaker's own
// planning code (speaker/plan) and reads each node's sessions from the BGPPeers'
// status.nodes, which the speakers write. The decision (Decide) is pure; the reconciler
// only reads, decides and writes, skipping unchanged conditions and spacing the writes of
// one Service under flapping sessions.
//
// It also writes the ironlb.io/BGPAttributes condition (DecideAttributes), which says
// whether the Service's BGP attribute annotations are valid: the same writer, the same
// Service watch and the same write, and also controller-owned.
package bgpcondition

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/lbservice"
	"github.com/ironlb/ironlb/speaker/plan"
)

// Established is the BGP state in which a session carries routes.
const Established = "Established"

// listed bounds how many nodes and peers a message names, so the condition stays short on
// a cluster of hundreds of nodes; the counts are always complete.
const listed = 5

// Input is everything one Service's condition depends on.
type Input struct {
	// Class is the loadBalancerClass this controller serves ("" for none).
	Class   string
	Service *corev1.Service
	// EndpointSlices are the Service's (others are ignored).
	EndpointSlices    []discoveryv1.EndpointSlice
	Nodes             []corev1.Node
	Pools             []ironlbv1.IPAddressPool
	BGPAdvertisements []ironlbv1.BGPAdvertisement
	BGPPeers          []ironlbv1.BGPPeer
	// SpeakersAlive holds the nodes whose speaker Pod is Ready, when the controller knows
	// the speaker Pods (--speaker-pod-selector); nil when it does not, and then only the
	// Node's Ready condition decides whether its sessions are trusted.
	SpeakersAlive map[string]bool
}

// Action is what to do with the Service's condition.
type Action int

const (
	// Leave the condition as it is: the Service is not advertised by BGP and never was,
	// or it belongs to another loadBalancerClass (whose load balancer may write the same
	// type: two writers would overwrite each other forever).
	Leave Action = iota
	// Set the condition to Decision.Condition.
	Set
	// Remove the condition: the Service is no longer a LoadBalancer or has no address.
	Remove
)

// Decision is the outcome of Decide.
type Decision struct {
	Action    Action
	Condition metav1.Condition // for Set
}

// Decide says what the Service's BGPAdvertised condition should be, so that it is True
// only when some node that should advertise an address has an Established session to a
// peer the route goes to:
//   - not a LoadBalancer, or without an address: removed (if present);
//   - of another class: left alone;
//   - no BGPAdvertisement covers it: False, NotAdvertised, but only if the condition is
//     already there (a Service announced only by layer 2 never gets one);
//   - covered, but no node may advertise it: False, NoEligibleNode;
//   - nodes should advertise it, but none has an Established session that takes the
//     route: False, NoEstablishedSession;
//   - a node's sessions count only while its report can be trusted: the Node is Ready
//     and, when SpeakersAlive is known, its speaker Pod is Ready. A speaker that dies
//     without a goodbye (SIGKILL, crash, power off) leaves its last states in the
//     BGPPeers' status.nodes, Established though the router has dropped the session; the
//     message names each node not counted and why;
//   - else True, Advertised, naming the nodes and peers.
//
// The message holds no session state other than up or not (states cycle through Active,
// Connect and Idle while a session retries) nor counters, so it changes only when the
// answer does.
func Decide(in Input) Decision {
	svc := in.Service
	had := meta.FindStatusCondition(svc.Status.Conditions, ironlbv1.ConditionBGPAdvertised) != nil
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Status.LoadBalancer.Ingress) == 0 {
		if had {
			return Decision{Action: Remove}
		}
		return Decision{}
	}
	if !lbservice.IsOurs(svc, in.Class) {
		return Decision{}
	}
	snap := plan.Snapshot{Class: in.Class, Services: []corev1.Service{*svc}, EndpointSlices: in.EndpointSlices,
		Nodes: in.Nodes, Pools: in.Pools, BGPAdvertisements: in.BGPAdvertisements}
	covering := plan.BGPAdvertisementsOf(snap, svc.Namespace+"/"+svc.Name)
	if len(covering) == 0 {
		if !had {
			return Decision{}
		}
		return set(svc, metav1.ConditionFalse, ironlbv1.ReasonNotAdvertised,
			"no BGPAdvertisement covers its addresses (their pool is not selected, or was deleted, or the serviceSelectors do not match); no node advertises them by BGP")
	}
	r := routesOf(snap, in.BGPPeers, untrusted(in.Nodes, in.SpeakersAlive))
	switch {
	case len(r.should) == 0:
		return set(svc, metav1.ConditionFalse, ironlbv1.ReasonNoEligibleNode,
			fmt.Sprintf("BGPAdvertisement %s covers it, but no node may advertise it: %s", names(covering), whyNoNode(svc, in.EndpointSlices)))
	case len(r.up) == 0:
		return set(svc, metav1.ConditionFalse, ironlbv1.ReasonNoEstablishedSession, r.downMessage(in.BGPPeers)+r.untrustedMessage())
	}
	return set(svc, metav1.ConditionTrue, ironlbv1.ReasonAdvertised, r.upMessage(in.BGPPeers, svc)+r.untrustedMessage())
}

// Why a node's session reports are not trusted.
const (
	nodeNotReady    = "not Ready"
	speakerNotReady = "speaker not ready"
)

// untrusted maps each node whose session reports are not to be believed to why: its Node
// is not Ready (the kubelet, and so maybe the node, is gone), or its speaker Pod is not
// Ready (dead, restarting or being deleted) when alive is known.
func untrusted(nodes []corev1.Node, alive map[string]bool) map[string]string {
	out := map[string]string{}
	for i := range nodes {
		n := &nodes[i]
		switch {
		case !nodeReady(n):
			out[n.Name] = nodeNotReady
		case alive != nil && !alive[n.Name]:
			out[n.Name] = speakerNotReady
		}
	}
	return out
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func set(svc *corev1.Service, status metav1.ConditionStatus, reason, message string) Decision {
	return Decision{Action: Set, Condition: metav1.Condition{Type: ironlbv1.ConditionBGPAdvertised, Status: status,
		Reason: reason, Message: message, ObservedGeneration: svc.Generation}}
}

// routes is who advertises what: should holds the nodes with a prefix of the Service, up
// the nodes with a trusted Established session taking one, peersUp the peers those
// sessions go to, peersWanted every peer some prefix should go to, sent the prefixes that
// reach some peer, and distrusted why each node that should advertise is not counted.
type routes struct {
	should, up           map[string]bool
	peersUp, peersWanted map[string]bool
	sent                 []netip.Prefix
	distrusted           map[string]string
}

func routesOf(snap plan.Snapshot, peers []ironlbv1.BGPPeer, untrusted map[string]string) routes {
	r := routes{should: map[string]bool{}, up: map[string]bool{}, peersUp: map[string]bool{}, peersWanted: map[string]bool{},
		distrusted: map[string]string{}}
	for i := range snap.Nodes {
		node := &snap.Nodes[i]
		snap.Node = node.Name
		why, distrusted := untrusted[node.Name]
		for _, p := range plan.Prefixes(snap) {
			r.should[node.Name] = true
			if distrusted {
				r.distrusted[node.Name] = why
			}
			for _, peer := range plan.PeersFor(peers, p, node) {
				r.peersWanted[peer.Name] = true
				if distrusted || stateOn(peer, node.Name) != Established {
					continue
				}
				r.up[node.Name], r.peersUp[peer.Name] = true, true
				if !slices.Contains(r.sent, p.Prefix) {
					r.sent = append(r.sent, p.Prefix)
				}
			}
		}
	}
	return r
}

// stateOn is the session state the node's speaker reports for the peer ("" if none).
func stateOn(peer *ironlbv1.BGPPeer, node string) string {
	for _, n := range peer.Status.Nodes {
		if n.Node == node {
			return n.State
		}
	}
	return ""
}

func (r routes) upMessage(peers []ironlbv1.BGPPeer, svc *corev1.Service) string {
	count := plural(len(r.up), "node")
	if len(r.up) < len(r.should) {
		count = fmt.Sprintf("%d of %d nodes", len(r.up), len(r.should))
	}
	msg := fmt.Sprintf("advertised by %s to %s: %s", count, peerList(peers, r.peersUp), names(sortedKeys(r.up)))
	if down := minus(minus(r.should, r.up), r.distrusted); len(down) > 0 {
		msg += "; no Established session on " + names(sortedKeys(down))
	}
	var missing []string
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		ip, err := netip.ParseAddr(ing.IP)
		if err == nil && !slices.ContainsFunc(r.sent, func(p netip.Prefix) bool { return p.Contains(ip) }) {
			missing = append(missing, ip.String())
		}
	}
	if len(missing) > 0 {
		msg += fmt.Sprintf("; %s not advertised to any peer (no Established session of its family, or no BGPAdvertisement covers it)", strings.Join(missing, ", "))
	}
	return msg
}

func (r routes) downMessage(peers []ironlbv1.BGPPeer) string {
	should := names(sortedKeys(r.should))
	if len(r.peersWanted) == 0 {
		return fmt.Sprintf("%s should advertise it (%s), but no BGPPeer takes the route: none selects these nodes with a session of the address family, or the BGPAdvertisement's peers name none that exists",
			plural(len(r.should), "node"), should)
	}
	return fmt.Sprintf("%s should advertise it (%s), but none has an Established session to %s; see the BGPPeers' status.nodes",
		plural(len(r.should), "node"), should, peerList(peers, r.peersWanted))
}

// whyNoNode says why no node may advertise a covered Service.
func whyNoNode(svc *corev1.Service, eps []discoveryv1.EndpointSlice) string {
	ready := false
	for _, s := range eps {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready || ep.Conditions.Serving != nil && *ep.Conditions.Serving {
				ready = true
			}
		}
	}
	switch {
	case !ready:
		return "the Service has no ready endpoint, so no node attracts its traffic"
	case svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal:
		return "externalTrafficPolicy is Local and no node the advertisements select has a ready endpoint of it"
	}
	return "the advertisements' nodeSelectors match no node that may carry traffic (excluded from load balancers, NetworkUnavailable, or cordoned with excludeCordonedNodes)"
}

// peerList is "1 peer (router4 198.18.0.1)" or "2 peers (a 198.18.0.1, b 2001:db8::1)".
func peerList(peers []ironlbv1.BGPPeer, in map[string]bool) string {
	var parts []string
	for _, name := range sortedKeys(in) {
		addr := ""
		for i := range peers {
			if peers[i].Name == name {
				addr = " " + peers[i].Spec.PeerAddress
			}
		}
		parts = append(parts, name+addr)
	}
	return fmt.Sprintf("%s (%s)", plural(len(in), "peer"), names(parts))
}

// names joins a sorted list, naming at most listed items.
func names(list []string) string {
	if len(list) > listed {
		return fmt.Sprintf("%s and %d more", strings.Join(list[:listed], ", "), len(list)-listed)
	}
	return strings.Join(list, ", ")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// minus is the keys of a that are not in b.
func minus[V any](a map[string]bool, b map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		if _, ok := b[k]; !ok {
			out[k] = true
		}
	}
	return out
}

// untrustedMessage names the nodes that should advertise but are not counted, by reason:
// "; node c is not Ready; speakers on nodes a, b are not ready" ("" if none).
func (r routes) untrustedMessage() string {
	var msg string
	for _, why := range []string{nodeNotReady, speakerNotReady} {
		var list []string
		for _, n := range sortedKeys(r.should) {
			if r.distrusted[n] == why {
				list = append(list, n)
			}
		}
		switch {
		case len(list) == 0:
		case why == nodeNotReady && len(list) == 1:
			msg += "; node " + list[0] + " is not Ready"
		case why == nodeNotReady:
			msg += "; nodes " + names(list) + " are not Ready"
		case len(list) == 1:
			msg += "; speaker on node " + list[0] + " is not ready"
		default:
			msg += "; speakers on nodes " + names(list) + " are not ready"
		}
	}
	return msg
}
