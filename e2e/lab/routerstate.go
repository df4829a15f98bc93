package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/ironlb/ironlb/e2e/lab/host"
)

// This file reads and changes a running FRR router (the lab router or the multi-hop one)
// through vtysh. Readers parse FRR's JSON output, so tests compare values, not text.

// Vtysh runs one vtysh command against the router's FRR and returns its output.
func (r *Router) Vtysh(ctx context.Context, command string) (string, error) {
	return host.Run(ctx, "vtysh", "-N", r.FRRName, "-c", command)
}

// Configure changes the router's running configuration: lines are entered in order after
// `configure terminal`, as a person would type them, for example
//
//	r.Configure(ctx, "router bgp 64512", "neighbor 198.18.0.11 password s3cret")
//
// Tests use it for what only some of them want (TCP MD5 passwords, an extra address
// family), so the lab's start-up configuration stays the same for everyone. vtysh stops at
// the first line FRR refuses; so does Configure, with FRR's message in the error.
func (r *Router) Configure(ctx context.Context, lines ...string) error {
	args := []string{"-N", r.FRRName, "-c", "configure terminal"}
	for _, line := range lines {
		args = append(args, "-c", line)
	}
	out, err := host.Run(ctx, "vtysh", args...)
	if err != nil {
		return fmt.Errorf("configure FRR %s: %w", r.FRRName, err)
	}
	// Some refusals ("% Unknown command", "% Invalid input") do not set vtysh's exit code.
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "%") {
			return fmt.Errorf("configure FRR %s: %s (lines %q)", r.FRRName, out, lines)
		}
	}
	return nil
}

// Vtysh runs one vtysh command against the lab router's FRR and returns its output.
func (l *Lab) Vtysh(ctx context.Context, command string) (string, error) {
	return l.Router.Vtysh(ctx, command)
}

// RouterConfigure changes the lab router's running configuration (see Router.Configure).
func (l *Lab) RouterConfigure(ctx context.Context, lines ...string) error {
	return l.Router.Configure(ctx, lines...)
}

// NextHop is one next hop of a route on the router.
type NextHop struct {
	// Via is the next hop's address (a node's address for BGP routes).
	Via netip.Addr
	// Interface is the outgoing interface.
	Interface string
	// Active reports whether FRR uses the next hop; Installed whether it is in the kernel.
	Active, Installed bool
	// Protocol is the route's source ("bgp", "connected", ...).
	Protocol string
}

// routeJSON is the part of `show ip route PREFIX json` the lab reads.
type routeJSON struct {
	Protocol  string `json:"protocol"`
	Selected  bool   `json:"selected"`
	Installed bool   `json:"installed"`
	Nexthops  []struct {
		IP            string `json:"ip"`
		InterfaceName string `json:"interfaceName"`
		Active        bool   `json:"active"`
		FIB           bool   `json:"fib"`
	} `json:"nexthops"`
}

// Routes returns the next hops of the router's selected route for prefix (a /32 or /128
// for a single address), as FRR's zebra sees them. No route is no next hops, not an error.
// Several next hops mean ECMP through several nodes.
func (r *Router) Routes(ctx context.Context, prefix netip.Prefix) ([]NextHop, error) {
	family := "ip"
	if prefix.Addr().Is6() {
		family = "ipv6"
	}
	out, err := r.Vtysh(ctx, fmt.Sprintf("show %s route %s json", family, prefix.Masked()))
	if err != nil {
		return nil, err
	}
	return parseRoutes(out)
}

func parseRoutes(out string) ([]NextHop, error) {
	var routes map[string][]routeJSON
	if err := json.Unmarshal([]byte(out), &routes); err != nil {
		return nil, fmt.Errorf("parse route JSON %q: %w", out, err)
	}
	var hops []NextHop
	for _, rs := range routes {
		for _, r := range rs {
			if !r.Selected {
				continue
			}
			for _, nh := range r.Nexthops {
				h := NextHop{Interface: nh.InterfaceName, Active: nh.Active, Installed: nh.FIB, Protocol: r.Protocol}
				if a, err := netip.ParseAddr(nh.IP); err == nil {
					h.Via = a
				}
				hops = append(hops, h)
			}
		}
	}
	return hops, nil
}

// RouterRoutes returns the lab router's next hops for prefix (see Router.Routes).
func (l *Lab) RouterRoutes(ctx context.Context, prefix netip.Prefix) ([]NextHop, error) {
	return l.Router.Routes(ctx, prefix)
}

// BGPPath is one path of a prefix in the router's BGP table: what one node advertised on
// one session, with the attributes FRR received.
type BGPPath struct {
	// Peer is the address of the session the path came from: a node's address on that
	// session (an IPv6 prefix learned over an IPv4 session has an IPv4 Peer).
	Peer netip.Addr
	// NextHop is the path's (global) next hop; NextHops lists every next hop address FRR
	// shows, with an IPv6 link-local one after the global one when it was sent.
	NextHop  netip.Addr
	NextHops []netip.Addr
	// ASPath is the AS path, nearest AS first.
	ASPath []uint32
	// Communities ("64512:100") and LargeCommunities ("64512:1:2") as FRR prints them,
	// sorted; well-known communities appear by FRR's names ("noExport").
	Communities, LargeCommunities []string
	// LocalPref is the LOCAL_PREF attribute; nil when FRR shows none.
	LocalPref *uint32
	// Valid: usable; Best: the best path; Multipath: installed with the best one (ECMP);
	// Stale: kept by graceful restart while the node's session is down.
	Valid, Best, Multipath, Stale bool
}

// bgpPrefixJSON is the part of `show bgp ipv4|ipv6 unicast PREFIX json` the lab reads.
type bgpPrefixJSON struct {
	Prefix string `json:"prefix"`
	Paths  []struct {
		ASPath struct {
			Segments []struct {
				List []uint32 `json:"list"`
			} `json:"segments"`
		} `json:"aspath"`
		Community *struct {
			List []string `json:"list"`
		} `json:"community"`
		LargeCommunity *struct {
			List []string `json:"list"`
		} `json:"largeCommunity"`
		LocalPref *uint32 `json:"locPrf"`
		Valid     bool    `json:"valid"`
		Multipath bool    `json:"multipath"`
		Stale     bool    `json:"stale"`
		BestPath  *struct {
			Overall bool `json:"overall"`
		} `json:"bestpath"`
		Nexthops []struct {
			IP string `json:"ip"`
		} `json:"nexthops"`
		Peer struct {
			PeerID string `json:"peerId"`
		} `json:"peer"`
	} `json:"paths"`
}

// BGPPaths returns every path the router's BGP table has for exactly prefix, from `show bgp
// ipv4|ipv6 unicast PREFIX json`. A prefix not in the table has no paths, not an error.
func (r *Router) BGPPaths(ctx context.Context, prefix netip.Prefix) ([]BGPPath, error) {
	family := "ipv4"
	if prefix.Addr().Is6() {
		family = "ipv6"
	}
	out, err := r.Vtysh(ctx, fmt.Sprintf("show bgp %s unicast %s json", family, prefix.Masked()))
	if err != nil {
		return nil, err
	}
	return parseBGPPaths(out)
}

func parseBGPPaths(out string) ([]BGPPath, error) {
	if strings.Contains(out, "not in table") {
		return nil, nil
	}
	var p bgpPrefixJSON
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		return nil, fmt.Errorf("parse BGP prefix JSON %q: %w", out, err)
	}
	var paths []BGPPath
	for _, j := range p.Paths {
		path := BGPPath{
			LocalPref: j.LocalPref, Valid: j.Valid, Multipath: j.Multipath, Stale: j.Stale,
			Best: j.BestPath != nil && j.BestPath.Overall,
		}
		path.Peer, _ = netip.ParseAddr(j.Peer.PeerID)
		for _, s := range j.ASPath.Segments {
			path.ASPath = append(path.ASPath, s.List...)
		}
		if j.Community != nil {
			path.Communities = sorted(j.Community.List)
		}
		if j.LargeCommunity != nil {
			path.LargeCommunities = sorted(j.LargeCommunity.List)
		}
		for _, nh := range j.Nexthops {
			if a, err := netip.ParseAddr(nh.IP); err == nil {
				path.NextHops = append(path.NextHops, a)
			}
		}
		if len(path.NextHops) > 0 {
			path.NextHop = path.NextHops[0]
		}
		paths = append(paths, path)
	}
	return paths, nil
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// RouterBGPPaths returns the lab router's BGP paths for prefix (see Router.BGPPaths).
func (l *Lab) RouterBGPPaths(ctx context.Context, prefix netip.Prefix) ([]BGPPath, error) {
	return l.Router.BGPPaths(ctx, prefix)
}

// BGPNeighbor is the state of one of the router's BGP sessions, from `show bgp neighbors
// json`.
type BGPNeighbor struct {
	Address netip.Addr
	// Description is the configured description (the node's name).
	Description string
	// State is the BGP FSM state ("Idle", "Active", "Established", ...).
	State string
	// PrefixesReceived counts the prefixes the node advertises, over every address family.
	PrefixesReceived int
	// EstablishedAt is when the session last became Established (zero if it never was).
	// FRR derives it from the session's uptime in whole seconds, so two reads of one
	// session may differ by a second: to tell a flap, compare the counters below.
	EstablishedAt time.Time
	// ConnectionsEstablished and ConnectionsDropped count the session's ups and downs;
	// they change only when the session goes down or comes up.
	ConnectionsEstablished, ConnectionsDropped int
	// HoldTime is the negotiated hold time of an established session.
	HoldTime time.Duration
	// AddressFamilies are the address families negotiated on the session ("ipv4Unicast",
	// "ipv6Unicast"), sorted.
	AddressFamilies []string
	// GracefulRestart reports whether the node announced the graceful restart capability.
	GracefulRestart bool
	// LastReset is FRR's reason for the last reset of the session, if any.
	LastReset string
}

// neighborJSON is the part of one entry of `show bgp neighbors json` the lab reads.
type neighborJSON struct {
	Desc                   string `json:"nbrDesc"`
	State                  string `json:"bgpState"`
	UpEstablishedEpoch     int64  `json:"bgpTimerUpEstablishedEpoch"`
	ConnectionsEstablished int    `json:"connectionsEstablished"`
	ConnectionsDropped     int    `json:"connectionsDropped"`
	HoldTimeMsecs          int64  `json:"bgpTimerHoldTimeMsecs"`
	LastReset              string `json:"lastResetDueTo"`
	Capabilities           struct {
		Multiprotocol map[string]struct {
			AdvertisedAndReceived bool `json:"advertisedAndReceived"`
		} `json:"multiprotocolExtensions"`
		GracefulRestart string `json:"gracefulRestart"`
	} `json:"neighborCapabilities"`
	AddressFamilyInfo map[string]struct {
		AcceptedPrefixCounter int `json:"acceptedPrefixCounter"`
	} `json:"addressFamilyInfo"`
}

// BGPNeighbors returns the router's BGP sessions, one per configured neighbor.
func (r *Router) BGPNeighbors(ctx context.Context) ([]BGPNeighbor, error) {
	out, err := r.Vtysh(ctx, "show bgp neighbors json")
	if err != nil {
		return nil, err
	}
	return parseNeighbors(out)
}

func parseNeighbors(out string) ([]BGPNeighbor, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		return nil, fmt.Errorf("parse bgp neighbors %q: %w", out, err)
	}
	var peers []BGPNeighbor
	for addr, raw := range all {
		a, err := netip.ParseAddr(addr)
		if err != nil {
			continue // a peer group or another non-address key
		}
		var j neighborJSON
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, fmt.Errorf("parse bgp neighbor %s: %w", addr, err)
		}
		n := BGPNeighbor{
			Address: a, Description: j.Desc, State: j.State,
			ConnectionsEstablished: j.ConnectionsEstablished, ConnectionsDropped: j.ConnectionsDropped,
			HoldTime:        time.Duration(j.HoldTimeMsecs) * time.Millisecond,
			GracefulRestart: strings.Contains(strings.ToLower(j.Capabilities.GracefulRestart), "received"),
			LastReset:       j.LastReset,
		}
		if j.UpEstablishedEpoch > 0 {
			n.EstablishedAt = time.Unix(j.UpEstablishedEpoch, 0)
		}
		for af, mode := range j.Capabilities.Multiprotocol {
			if mode.AdvertisedAndReceived {
				n.AddressFamilies = append(n.AddressFamilies, af)
			}
		}
		sort.Strings(n.AddressFamilies)
		for _, info := range j.AddressFamilyInfo {
			n.PrefixesReceived += info.AcceptedPrefixCounter
		}
		peers = append(peers, n)
	}
	sort.Slice(peers, func(i, k int) bool { return peers[i].Address.Less(peers[k].Address) })
	return peers, nil
}

// BGPNeighbors returns the lab router's BGP sessions (see Router.BGPNeighbors).
func (l *Lab) BGPNeighbors(ctx context.Context) ([]BGPNeighbor, error) {
	return l.Router.BGPNeighbors(ctx)
}

// BFDPeer is one BFD session of the router.
type BFDPeer struct {
	Address netip.Addr
	// Status is "up", "down", "init" or "shutdown".
	Status string
	// RemoteReceiveInterval and RemoteTransmitInterval are the intervals the node asks for
	// (its BFDProfile), RemoteDetectMultiplier its multiplier; zero until it has spoken.
	RemoteReceiveInterval, RemoteTransmitInterval time.Duration
	RemoteDetectMultiplier                        int
}

// BFDPeers returns the router's BFD sessions from `show bfd peers json`.
func (r *Router) BFDPeers(ctx context.Context) ([]BFDPeer, error) {
	out, err := r.Vtysh(ctx, "show bfd peers json")
	if err != nil {
		return nil, err
	}
	return parseBFDPeers(out)
}

func parseBFDPeers(out string) ([]BFDPeer, error) {
	var raw []struct {
		Peer       string `json:"peer"`
		Status     string `json:"status"`
		RemoteID   int64  `json:"remote-id"`
		RemoteRx   int64  `json:"remote-receive-interval"`
		RemoteTx   int64  `json:"remote-transmit-interval"`
		RemoteMult int    `json:"remote-detect-multiplier"`
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		return nil, fmt.Errorf("parse bfd peers %q: %w", out, err)
	}
	var peers []BFDPeer
	for _, p := range raw {
		a, err := netip.ParseAddr(p.Peer)
		if err != nil {
			continue
		}
		bp := BFDPeer{Address: a, Status: p.Status}
		// Before the first packet from the node FRR shows RFC 5880's defaults (1 s);
		// a remote discriminator says the values are really the node's.
		if p.RemoteID != 0 {
			bp.RemoteReceiveInterval = time.Duration(p.RemoteRx) * time.Millisecond
			bp.RemoteTransmitInterval = time.Duration(p.RemoteTx) * time.Millisecond
			bp.RemoteDetectMultiplier = p.RemoteMult
		}
		peers = append(peers, bp)
	}
	sort.Slice(peers, func(i, k int) bool { return peers[i].Address.Less(peers[k].Address) })
	return peers, nil
}

// RouterBFDPeers returns the lab router's BFD sessions.
func (l *Lab) RouterBFDPeers(ctx context.Context) ([]BFDPeer, error) {
	return l.Router.BFDPeers(ctx)
}

// KernelRoutes returns the next hops the router's kernel has for prefix (what packets
// really follow), from `ip -j route`.
func (r *Router) KernelRoutes(ctx context.Context, prefix netip.Prefix) ([]netip.Addr, error) {
	family := "-4"
	if prefix.Addr().Is6() {
		family = "-6"
	}
	out, err := host.Run(ctx, "ip", "-n", r.Netns, "-j", family, "route", "show", "exact", prefix.Masked().String())
	if err != nil {
		return nil, err
	}
	var routes []struct {
		Gateway  string `json:"gateway"`
		Nexthops []struct {
			Gateway string `json:"gateway"`
		} `json:"nexthops"`
	}
	if out == "" {
		return nil, nil
	}
	if err := json.Unmarshal([]byte(out), &routes); err != nil {
		return nil, fmt.Errorf("parse %q: %w", out, err)
	}
	var hops []netip.Addr
	for _, r := range routes {
		if a, err := netip.ParseAddr(r.Gateway); err == nil {
			hops = append(hops, a)
		}
		for _, nh := range r.Nexthops {
			if a, err := netip.ParseAddr(nh.Gateway); err == nil {
				hops = append(hops, a)
			}
		}
	}
	return hops, nil
}

// RouterKernelRoutes returns the next hops the lab router's kernel has for prefix.
func (l *Lab) RouterKernelRoutes(ctx context.Context, prefix netip.Prefix) ([]netip.Addr, error) {
	return l.Router.KernelRoutes(ctx, prefix)
}
