// Package bgp runs the speaker's embedded BGP server (GoBGP, as a library): one server per
// node, one session per configured peer, and the Service prefixes this node advertises.
// Callers describe the whole wanted state with Apply; the package works out what changed,
// so an edit to one peer never restarts the sessions of the others.
package bgp

import (
	"crypto/sha256"
	"net/netip"
	"time"
)

// Peer is one session, resolved from a BGPPeer: the password is read from its Secret and
// the BFD profile looked up, so nothing here refers to another object.
type Peer struct {
	// Name is the BGPPeer's name; metrics, status and advertisements refer to peers by it.
	Name          string
	Address       netip.Addr
	Port          uint16
	MyASN         uint32
	PeerASN       uint32
	SourceAddress netip.Addr // invalid: the kernel picks
	HoldTime      time.Duration
	KeepaliveTime time.Duration // 0: a third of HoldTime
	ConnectTime   time.Duration
	Password      string
	EBGPMultiHop  bool
	// GracefulRestart, when RestartTime > 0, keeps the router's copy of our routes while
	// the speaker restarts (RFC 4724).
	GracefulRestart time.Duration
	// DualStack carries both address families over this session (MP-BGP).
	DualStack bool
	BFD       *BFD // nil: no BFD
}

// BFD is a peer's failure-detection timing.
type BFD struct {
	ReceiveInterval  time.Duration
	TransmitInterval time.Duration
	DetectMultiplier uint32
}

// Families reports which address families the session carries.
func (p Peer) Families() (v4, v6 bool) {
	if p.DualStack {
		return true, true
	}
	return p.Address.Is4(), p.Address.Is6()
}

// IBGP reports whether the session is internal (same AS), where LOCAL_PREF is sent.
func (p Peer) IBGP() bool { return p.MyASN == p.PeerASN }

// Route is one prefix this node advertises, with its attributes.
type Route struct {
	Prefix      netip.Prefix
	Communities []uint32
	// LargeCommunities are [global admin, local data 1, local data 2] triples.
	LargeCommunities [][3]uint32
	// LocalPref is sent to iBGP peers only; nil sends none.
	LocalPref *uint32
	// LinkBandwidth, in bytes per second, is sent as the non-transitive link-bandwidth
	// extended community (RFC 10005) with LinkBandwidthAS as its global administrator;
	// routers that honour it weight their ECMP next hops by it. 0 sends none.
	LinkBandwidth   float32
	LinkBandwidthAS uint16
	// Peers names the peers the route goes to; nil means every peer.
	Peers []string
}

// RouterID picks the BGP identifier of a node: the configured one, else the node's IPv4
// address, else (IPv6-only nodes) four bytes derived from the node name, so it is stable
// across restarts and differs between nodes.
func RouterID(configured string, nodeIPv4 netip.Addr, nodeName string) netip.Addr {
	// A BGP identifier must be non-zero (RFC 6286): routers refuse an OPEN carrying 0.0.0.0.
	if a, err := netip.ParseAddr(configured); err == nil && a.Is4() && !a.IsUnspecified() {
		return a
	}
	if nodeIPv4.Is4() && !nodeIPv4.IsUnspecified() {
		return nodeIPv4
	}
	sum := sha256.Sum256([]byte(nodeName))
	id := netip.AddrFrom4([4]byte{sum[0], sum[1], sum[2], sum[3]})
	if id.IsUnspecified() {
		id = netip.AddrFrom4([4]byte{0, 0, 0, 1})
	}
	return id
}
