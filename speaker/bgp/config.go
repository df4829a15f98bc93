// Package bgp runs the speaker's embedded BGP server (GoBGP, as a library): one server per
// node, one session per configured peer, and the Service prefixes this node advertises.
// Callers describe the whole wanted state with Apply; the package works out what changed,
// so an edit to one peer never restarts the sessions of the others.
package bgp

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
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
	// Peers names the peers the route goes to; nil means every peer.
	Peers []string
}

// wellKnownCommunities are the named communities of RFC 1997, 7999, 8326, 7611 and the
// long-lived graceful restart draft, by the names the API accepts.
var wellKnownCommunities = map[string]uint32{
	"no-export":           0xFFFFFF01,
	"no-advertise":        0xFFFFFF02,
	"no-export-subconfed": 0xFFFFFF03,
	"no-peer":             0xFFFFFF04,
	"blackhole":           0xFFFF029A,
	"graceful-shutdown":   0xFFFF0000,
	"accept-own":          0xFFFF0001,
	"llgr-stale":          0xFFFF0006,
	"no-llgr":             0xFFFF0007,
}

// ParseCommunity reads a community as the API writes it: AA:NN, large:A:B:C or a
// well-known name. Exactly one of the results is set when err is nil.
func ParseCommunity(s string) (standard *uint32, large *[3]uint32, err error) {
	if v, ok := wellKnownCommunities[s]; ok {
		return &v, nil, nil
	}
	if rest, ok := strings.CutPrefix(s, "large:"); ok {
		parts := strings.Split(rest, ":")
		if len(parts) != 3 {
			return nil, nil, fmt.Errorf("community %q: a large community is large:A:B:C", s)
		}
		var l [3]uint32
		for i, p := range parts {
			n, err := strconv.ParseUint(p, 10, 32)
			if err != nil {
				return nil, nil, fmt.Errorf("community %q: %q is not a number from 0 to 4294967295", s, p)
			}
			l[i] = uint32(n)
		}
		return nil, &l, nil
	}
	hi, lo, ok := strings.Cut(s, ":")
	if !ok {
		return nil, nil, fmt.Errorf("community %q: use AA:NN, large:A:B:C or a well-known name", s)
	}
	a, err1 := strconv.ParseUint(hi, 10, 16)
	b, err2 := strconv.ParseUint(lo, 10, 16)
	if err1 != nil || err2 != nil {
		return nil, nil, fmt.Errorf("community %q: both halves of AA:NN are numbers from 0 to 65535", s)
	}
	v := uint32(a)<<16 | uint32(b)
	return &v, nil, nil
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
