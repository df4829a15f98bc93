package plan

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/bgpattr"
	"github.com/ironlb/ironlb/speaker/bgp"
)

// BGPPlan is what this node does in BGP.
type BGPPlan struct {
	// Config is the whole wanted state of the node's BGP server.
	Config bgp.Config
	// Peers are the BGPPeers that select this node, by name: the session of each, or
	// the configuration problem that keeps it closed.
	Peers []Peer
	// Recheck is when the plan changes with no API event (a graceful shutdown runs out),
	// or zero.
	Recheck time.Time
}

// BGP plans this node's sessions and routes.
func BGP(s Snapshot) BGPPlan {
	in := peerInputs{namespace: s.Namespace, profiles: map[string]*ironlbv1.BFDProfile{}, secrets: map[types.NamespacedName]*corev1.Secret{}}
	for i := range s.Nodes {
		if s.Nodes[i].Name == s.Node {
			in.node = &s.Nodes[i]
		}
	}
	for i := range s.BFDProfiles {
		in.profiles[s.BFDProfiles[i].Name] = &s.BFDProfiles[i]
	}
	for i := range s.Secrets {
		in.secrets[types.NamespacedName{Namespace: s.Secrets[i].Namespace, Name: s.Secrets[i].Name}] = &s.Secrets[i]
	}
	resolved := resolvePeers(s.BGPPeers, in)
	var sessions []bgp.Peer
	for _, r := range resolved {
		if r.session != nil {
			sessions = append(sessions, *r.session)
		}
	}
	v4, v6 := nodeAddresses(in.node)
	return BGPPlan{
		Config: bgp.Config{RouterID: routerID(resolved, v4, s.Node), NodeIPv4: v4, NodeIPv6: v6,
			Peers: sessions, Routes: toRoutes(Prefixes(s), linkBandwidthAS(sessions))},
		Peers:   resolved,
		Recheck: GracefulShutdownEnds(s),
	}
}

// Peer is a BGPPeer selected for this node: the session to open, or why none is.
type Peer = resolvedPeer

// Object is the BGPPeer.
func (r resolvedPeer) Object() *ironlbv1.BGPPeer { return r.obj }

// Session is the session to open; nil when Problem says why none is.
func (r resolvedPeer) Session() *bgp.Peer { return r.session }

// Problem is a configuration problem the user must fix ("" when none) and Reason the
// Ready condition's reason for it.
func (r resolvedPeer) Problem() (reason, problem string) { return r.reason, r.problem }

// Notes are settings accepted but ignored, worth telling.
func (r resolvedPeer) Notes() []string { return r.notes }

// peerInputs is what turning BGPPeers into sessions needs besides the peers themselves.
type peerInputs struct {
	node      *corev1.Node
	profiles  map[string]*ironlbv1.BFDProfile
	secrets   map[types.NamespacedName]*corev1.Secret
	namespace string // where the speaker may read Secrets
}

// resolvedPeer is a BGPPeer selected for this node: the session to open, or why none is.
type resolvedPeer struct {
	obj     *ironlbv1.BGPPeer
	session *bgp.Peer // nil: not opened, see problem
	problem string    // a configuration problem the user must fix ("" when none)
	reason  string    // the Ready condition's reason for problem
	notes   []string  // settings accepted but ignored, worth telling
}

// resolvePeers selects the peers whose nodeSelectors match this node and resolves each.
// Two peers with the same address cannot both have a session (a router is one neighbor
// per address): the first by name wins and the other reports the conflict.
func resolvePeers(peers []ironlbv1.BGPPeer, in peerInputs) []resolvedPeer {
	sorted := slices.Clone(peers)
	slices.SortFunc(sorted, func(a, b ironlbv1.BGPPeer) int { return strings.Compare(a.Name, b.Name) })
	var out []resolvedPeer
	byAddr := map[netip.Addr]string{}
	for i := range sorted {
		p := &sorted[i]
		if in.node == nil || !ironlbv1.MatchesAnySelector(p.Spec.NodeSelectors, in.node.Labels) {
			continue
		}
		r := resolvePeer(p, in)
		// The first peer by name owns its address even while its own configuration has a
		// problem, so fixing that problem never moves the session from one peer to another.
		if addr, err := netip.ParseAddr(p.Spec.PeerAddress); err == nil {
			addr = addr.Unmap()
			if other, ok := byAddr[addr]; ok {
				r.session = nil
				r.reason = ironlbv1.ReasonAddressConflict
				r.problem = fmt.Sprintf("spec.peerAddress %s is also the address of BGPPeer %s; a node has one session per router address, so this one is not opened", p.Spec.PeerAddress, other)
			} else {
				byAddr[addr] = p.Name
			}
		}
		out = append(out, r)
	}
	return out
}

// resolvePeer reads the password and BFD profile of one peer.
func resolvePeer(p *ironlbv1.BGPPeer, in peerInputs) resolvedPeer {
	r := resolvedPeer{obj: p}
	s := p.Spec
	addr, err := netip.ParseAddr(s.PeerAddress)
	if err != nil {
		r.reason, r.problem = ironlbv1.ReasonInvalidPeerAddress, fmt.Sprintf("spec.peerAddress %q is not an IP address", s.PeerAddress)
		return r
	}
	session := bgp.Peer{
		Name: p.Name, Address: addr.Unmap(), Port: uint16(s.PeerPort),
		MyASN: uint32(s.MyASN), PeerASN: uint32(s.PeerASN),
		HoldTime: durationOr(s.HoldTime, 90*time.Second), ConnectTime: durationOr(s.ConnectTime, 10*time.Second),
		Password: s.Password, EBGPMultiHop: s.EBGPMultiHop, DualStack: s.DualStackAddressFamily,
	}
	if session.Port == 0 {
		session.Port = 179
	}
	session.KeepaliveTime = durationOr(s.KeepaliveTime, 0)
	if s.SourceAddress != "" {
		session.SourceAddress, _ = netip.ParseAddr(s.SourceAddress)
	}
	if gr := s.GracefulRestart; gr != nil && gr.Enabled {
		session.GracefulRestart = durationOr(gr.RestartTime, 120*time.Second)
	}
	if ref := s.PasswordSecret; ref != nil {
		password, reason, problem := readPassword(ref, in)
		if problem != "" {
			r.reason, r.problem = reason, problem
			return r
		}
		session.Password = password
	}
	if s.BFDProfile != "" {
		prof := in.profiles[s.BFDProfile]
		if prof == nil {
			r.reason = ironlbv1.ReasonBFDProfileNotFound
			r.problem = fmt.Sprintf("spec.bfdProfile: BFDProfile %q does not exist; the session waits for it rather than run without the failure detection asked for", s.BFDProfile)
			return r
		}
		session.BFD, r.notes = bfdFrom(prof)
	}
	r.session = &session
	return r
}

// durationOr is d, or def when unset (the API server defaults it, Go clients may not).
func durationOr(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}

// readPassword returns the TCP MD5 password from the peer's Secret, or why it cannot.
func readPassword(ref *ironlbv1.SecretKeyReference, in peerInputs) (password, reason, problem string) {
	key := ref.Key
	if key == "" {
		key = ironlbv1.DefaultPasswordSecretKey
	}
	name := ref.Namespace + "/" + ref.Name
	if in.namespace == "" {
		return "", ironlbv1.ReasonSecretNotReadable, fmt.Sprintf("spec.passwordSecret: Secret %s cannot be read: the speaker runs without --namespace (set POD_NAMESPACE), so it reads no Secrets", name)
	}
	if ref.Namespace != in.namespace {
		return "", ironlbv1.ReasonSecretNotReadable, fmt.Sprintf("spec.passwordSecret: Secret %s is outside namespace %q, the only one the speaker may read Secrets in; create it there", name, in.namespace)
	}
	secret := in.secrets[types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}]
	if secret == nil {
		return "", ironlbv1.ReasonSecretNotFound, fmt.Sprintf("spec.passwordSecret: Secret %s does not exist; the session stays closed until it does", name)
	}
	value, ok := secret.Data[key]
	if !ok || len(value) == 0 {
		return "", ironlbv1.ReasonSecretKeyMissing, fmt.Sprintf("spec.passwordSecret: Secret %s has no key %q (or it is empty)", name, key)
	}
	if len(value) > 80 {
		return "", ironlbv1.ReasonSecretInvalid, fmt.Sprintf("spec.passwordSecret: the password in Secret %s key %q is %d bytes; TCP MD5 allows at most 80", name, key, len(value))
	}
	return string(value), "", ""
}

// bfdFrom converts a BFDProfile, with notes for the settings the embedded BFD (single-hop,
// asynchronous mode) does not implement.
func bfdFrom(p *ironlbv1.BFDProfile) (*bgp.BFD, []string) {
	ms := func(v *int32, def int32) time.Duration {
		if v == nil {
			return time.Duration(def) * time.Millisecond
		}
		return time.Duration(*v) * time.Millisecond
	}
	b := &bgp.BFD{
		ReceiveInterval:  ms(p.Spec.ReceiveInterval, 300),
		TransmitInterval: ms(p.Spec.TransmitInterval, 300),
		DetectMultiplier: 3,
	}
	if p.Spec.DetectMultiplier != nil {
		b.DetectMultiplier = uint32(*p.Spec.DetectMultiplier)
	}
	var notes []string
	if p.Spec.EchoMode {
		notes = append(notes, fmt.Sprintf("BFDProfile %s: echoMode is not supported by the embedded BFD and is ignored", p.Name))
	}
	if p.Spec.PassiveMode {
		notes = append(notes, fmt.Sprintf("BFDProfile %s: passiveMode is not supported by the embedded BFD (it always sends) and is ignored", p.Name))
	}
	return b, notes
}

// routerID picks the node's BGP identifier: the routerID of the first selected peer (by
// name) that sets one, else the node's IPv4 address, else one derived from its name.
func routerID(peers []resolvedPeer, nodeIPv4 netip.Addr, nodeName string) netip.Addr {
	configured := ""
	for _, p := range peers {
		if p.session != nil && p.obj.Spec.RouterID != "" {
			configured = p.obj.Spec.RouterID
			break
		}
	}
	return bgp.RouterID(configured, nodeIPv4, nodeName)
}

// nodeAddresses returns the node's first IPv4 and IPv6 InternalIP.
func nodeAddresses(n *corev1.Node) (v4, v6 netip.Addr) {
	if n == nil {
		return
	}
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		ip, err := netip.ParseAddr(a.Address)
		switch {
		case err != nil:
		case ip.Is4() && !v4.IsValid():
			v4 = ip
		case ip.Is6() && !v6.IsValid():
			v6 = ip
		}
	}
	return
}

// asTrans stands for a four-octet AS in a two-octet field (RFC 6793).
const asTrans = 23456

// linkBandwidthAS is the global administrator of the link-bandwidth community: the node's
// AS, the lowest when its sessions have several (routers read only the bandwidth; one
// route goes to every session, so one AS has to be picked), AS_TRANS when it needs four
// octets.
func linkBandwidthAS(sessions []bgp.Peer) uint16 {
	var asn uint32
	for i, p := range sessions {
		if i == 0 || p.MyASN < asn {
			asn = p.MyASN
		}
	}
	if asn > 65535 {
		return asTrans
	}
	return uint16(asn)
}

// toRoutes converts the eligibility decision into routes, parsing communities and turning
// endpoint counts into link bandwidth.
func toRoutes(prefixes []Prefix, as uint16) []bgp.Route {
	out := make([]bgp.Route, 0, len(prefixes))
	for _, p := range prefixes {
		r := bgp.Route{Prefix: p.Prefix, Peers: p.Peers}
		if p.Endpoints > 0 {
			r.LinkBandwidth = float32(p.Endpoints * ironlbv1.LinkBandwidthPerEndpoint)
			r.LinkBandwidthAS = as
		}
		for _, c := range p.Communities {
			std, large, err := bgpattr.ParseCommunity(string(c))
			switch {
			case err != nil: // refused by the CRD's validation; nothing to send
			case std != nil:
				r.Communities = append(r.Communities, *std)
			default:
				r.LargeCommunities = append(r.LargeCommunities, *large)
			}
		}
		if p.LocalPref != nil {
			v := uint32(*p.LocalPref)
			r.LocalPref = &v
		}
		out = append(out, r)
	}
	return out
}
