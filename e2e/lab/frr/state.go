// Package frr reads what FRR's vtysh prints as JSON about routes, BGP paths, BGP neighbors
// and BFD peers into the types the lab's tests check.
package frr

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

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
	// Weight is the next hop's weight in weighted ECMP (0: FRR shows none, plain ECMP).
	Weight int
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
		Weight        int    `json:"weight"`
	} `json:"nexthops"`
}

func ParseRoutes(out string) ([]NextHop, error) {
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
				h := NextHop{Interface: nh.InterfaceName, Active: nh.Active, Installed: nh.FIB, Protocol: r.Protocol, Weight: nh.Weight}
				if a, err := netip.ParseAddr(nh.IP); err == nil {
					h.Via = a
				}
				hops = append(hops, h)
			}
		}
	}
	return hops, nil
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
	// ExtendedCommunities is FRR's rendering of the extended communities ("" for none),
	// such as "LB:64513:125000 (1.000 Mbps)" for a link bandwidth.
	ExtendedCommunities string
	// LinkBandwidth is the link-bandwidth extended community's value in bytes per second
	// and LinkBandwidthAS its AS, read from ExtendedCommunities; 0 without one.
	LinkBandwidth   uint64
	LinkBandwidthAS uint32
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
		ExtendedCommunity *struct {
			String string `json:"string"`
		} `json:"extendedCommunity"`
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

func ParseBGPPaths(out string) ([]BGPPath, error) {
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
		if j.ExtendedCommunity != nil {
			path.ExtendedCommunities = j.ExtendedCommunity.String
			path.LinkBandwidthAS, path.LinkBandwidth = linkBandwidth(j.ExtendedCommunity.String)
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

// linkBandwidthRE is how FRR prints a link-bandwidth extended community: LB:AS:BYTES/S,
// then the rate in bits per second in parentheses.
var linkBandwidthRE = regexp.MustCompile(`(?:^|\s)LB:(\d+):(\d+)`)

// linkBandwidth reads the link-bandwidth community out of FRR's extended communities.
func linkBandwidth(s string) (as uint32, bytesPerSecond uint64) {
	m := linkBandwidthRE.FindStringSubmatch(s)
	if m == nil {
		return 0, 0
	}
	a, _ := strconv.ParseUint(m[1], 10, 32)
	bw, _ := strconv.ParseUint(m[2], 10, 64)
	return uint32(a), bw
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
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
	// RestartBit is the Restart State bit of the node's last OPEN (RFC 4724): it said it
	// had restarted. Forwarding lists the address families ("ipv4Unicast", ...) whose
	// Forwarding State bit was set (it kept forwarding them), sorted.
	RestartBit bool
	Forwarding []string
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
	// GracefulRestartInfo holds "rBit" and, per address family, an object with "fBit".
	GracefulRestartInfo map[string]json.RawMessage `json:"gracefulRestartInfo"`
}

// restartBits reads the Restart State bit and the families with the Forwarding State bit.
func (j neighborJSON) restartBits() (bool, []string) {
	var r bool
	var forwarding []string
	for key, raw := range j.GracefulRestartInfo {
		if key == "rBit" {
			_ = json.Unmarshal(raw, &r)
			continue
		}
		var af struct {
			FBit *bool `json:"fBit"`
		}
		if json.Unmarshal(raw, &af) == nil && af.FBit != nil && *af.FBit {
			forwarding = append(forwarding, key)
		}
	}
	sort.Strings(forwarding)
	return r, forwarding
}

func ParseNeighbors(out string) ([]BGPNeighbor, error) {
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
		n.RestartBit, n.Forwarding = j.restartBits()
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

func ParseBFDPeers(out string) ([]BFDPeer, error) {
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
