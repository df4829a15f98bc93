package bgp

// Conversion from the package's Peer and Route to GoBGP's API types, and back for states:
// the wire-facing half, kept apart from the server's bookkeeping in server.go.

import (
	"net/netip"
	"reflect"
	"slices"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

func sameAttributes(a, b Route) bool {
	return slices.Equal(a.Communities, b.Communities) && slices.Equal(a.LargeCommunities, b.LargeCommunities) &&
		reflect.DeepEqual(a.LocalPref, b.LocalPref) &&
		a.LinkBandwidth == b.LinkBandwidth && a.LinkBandwidthAS == b.LinkBandwidthAS
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// toPath builds the GoBGP path for a route: origin IGP, the next hop, and its communities,
// LOCAL_PREF (GoBGP strips it towards eBGP peers) and link bandwidth.
func toPath(r Route, nh4, nh6 netip.Addr) *apiutil.Path {
	nlri, _ := bgp.NewIPAddrPrefix(r.Prefix.Masked())
	attrs := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP)}
	family := bgp.RF_IPv4_UC
	if r.Prefix.Addr().Is4() {
		nh, _ := bgp.NewPathAttributeNextHop(nh4)
		attrs = append(attrs, nh)
	} else {
		family = bgp.RF_IPv6_UC
		mp, _ := bgp.NewPathAttributeMpReachNLRI(bgp.RF_IPv6_UC, []bgp.PathNLRI{{NLRI: nlri}}, nh6)
		attrs = append(attrs, mp)
	}
	if len(r.Communities) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeCommunities(r.Communities))
	}
	if len(r.LargeCommunities) > 0 {
		var l []*bgp.LargeCommunity
		for _, c := range r.LargeCommunities {
			l = append(l, bgp.NewLargeCommunity(c[0], c[1], c[2]))
		}
		attrs = append(attrs, bgp.NewPathAttributeLargeCommunities(l))
	}
	if r.LocalPref != nil {
		attrs = append(attrs, bgp.NewPathAttributeLocalPref(*r.LocalPref))
	}
	if r.LinkBandwidth > 0 {
		attrs = append(attrs, bgp.NewPathAttributeExtendedCommunities([]bgp.ExtendedCommunityInterface{
			bgp.NewLinkBandwidthExtended(r.LinkBandwidthAS, r.LinkBandwidth),
		}))
	}
	return &apiutil.Path{Family: family, Nlri: nlri, Attrs: attrs}
}

// idleHoldAfterReset is how long, in seconds, a reset session waits before reconnecting.
const idleHoldAfterReset = 2

// restartDeferral is how long, in seconds, a restarting speaker may hold its routes back
// from an Established session while it waits for the end-of-RIB markers of all its
// peers (RFC 4724's selection deferral). We originate routes and use none we learn, so
// there is nothing to wait for: the router keeps our stale routes meanwhile, and one
// second bounds the delay a peer that is down would otherwise cause.
const restartDeferral = 1

// toAPIPeer converts a Peer to GoBGP's neighbor configuration. restarting sets the
// Restart State and Forwarding State bits of the graceful restart capability (RFC 4724),
// for a session opened by a speaker that has just (re)started, see Speaker.Apply.
func toAPIPeer(p Peer, restarting bool) *api.Peer {
	keepalive := p.KeepaliveTime
	if keepalive == 0 {
		keepalive = p.HoldTime / 3
	}
	out := &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: p.Address.String(),
			PeerAsn:         p.PeerASN,
			LocalAsn:        p.MyASN,
			AuthPassword:    p.Password,
			Description:     p.Name,
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			ConnectRetry:      uint64(max(p.ConnectTime/time.Second, 1)),
			HoldTime:          uint64(p.HoldTime / time.Second),
			KeepaliveInterval: uint64(keepalive / time.Second),
			// Updates go out as soon as they are ready: failover is the point.
			MinimumAdvertisementInterval: 0,
			// After a reset (BFD down included) try again soon, not after GoBGP's 30s. It
			// matters on first contact with FRR, whose BFD session is re-created once BGP
			// is up: the old session's AdminDown makes GoBGP reset the new BGP session.
			IdleHoldTimeAfterReset: idleHoldAfterReset,
		}},
		Transport: &api.Transport{RemotePort: uint32(p.Port)},
	}
	if p.SourceAddress.IsValid() {
		out.Transport.LocalAddress = p.SourceAddress.String()
	}
	if p.EBGPMultiHop {
		out.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: 255}
	}
	gr := p.GracefulRestart > 0
	if gr {
		out.GracefulRestart = &api.GracefulRestart{Enabled: true, RestartTime: uint32(p.GracefulRestart / time.Second),
			LocalRestarting: restarting, DeferralTime: restartDeferral}
	}
	v4, v6 := p.Families()
	for _, f := range []struct {
		on  bool
		afi api.Family_Afi
	}{{v4, api.Family_AFI_IP}, {v6, api.Family_AFI_IP6}} {
		if !f.on {
			continue
		}
		af := &api.AfiSafi{Config: &api.AfiSafiConfig{Family: &api.Family{Afi: f.afi, Safi: api.Family_SAFI_UNICAST}, Enabled: true}}
		if gr {
			af.MpGracefulRestart = &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}}
		}
		out.AfiSafis = append(out.AfiSafis, af)
	}
	if p.BFD != nil {
		out.Bfd = &api.BfdPeerConfig{
			Enabled:                  true,
			DesiredMinimumTxInterval: uint32(p.BFD.TransmitInterval / time.Microsecond),
			RequiredMinimumReceive:   uint32(p.BFD.ReceiveInterval / time.Microsecond),
			DetectionMultiplier:      p.BFD.DetectMultiplier,
		}
	}
	return out
}

func sessionName(st api.PeerState_SessionState) string {
	switch st {
	case api.PeerState_SESSION_STATE_IDLE:
		return "Idle"
	case api.PeerState_SESSION_STATE_CONNECT:
		return "Connect"
	case api.PeerState_SESSION_STATE_ACTIVE:
		return "Active"
	case api.PeerState_SESSION_STATE_OPENSENT:
		return "OpenSent"
	case api.PeerState_SESSION_STATE_OPENCONFIRM:
		return "OpenConfirm"
	case api.PeerState_SESSION_STATE_ESTABLISHED:
		return "Established"
	}
	return "Idle"
}

func bfdName(st api.BfdSessionState) string {
	switch st {
	case api.BfdSessionState_BFD_SESSION_STATE_UP:
		return "Up"
	case api.BfdSessionState_BFD_SESSION_STATE_INIT:
		return "Init"
	case api.BfdSessionState_BFD_SESSION_STATE_ADMIN_DOWN:
		return "AdminDown"
	}
	return "Down"
}
