package bgp

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	packet "github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

func TestToAPIPeer(t *testing.T) {
	a := netip.MustParseAddr
	// base is a plain eBGP IPv4 session; cases change what they test.
	base := func(edit func(*Peer)) Peer {
		p := Peer{
			Name: "router-1", Address: a("192.0.2.1"), Port: 179, MyASN: 64512, PeerASN: 64513,
			HoldTime: 90 * time.Second, ConnectTime: 10 * time.Second,
		}
		if edit != nil {
			edit(&p)
		}
		return p
	}
	ipv4 := api.Family_AFI_IP
	ipv6 := api.Family_AFI_IP6
	cases := []struct {
		name       string
		peer       Peer
		restarting bool
		check      func(t *testing.T, got *api.Peer)
	}{
		{
			name: "address, ASNs, port and name",
			peer: base(func(p *Peer) { p.Port = 1179; p.MyASN = 4200000001; p.PeerASN = 65000 }),
			check: func(t *testing.T, got *api.Peer) {
				c := got.GetConf()
				if c.GetNeighborAddress() != "192.0.2.1" || c.GetLocalAsn() != 4200000001 || c.GetPeerAsn() != 65000 {
					t.Errorf("conf = neighbor %q local AS %d peer AS %d, want 192.0.2.1, 4200000001, 65000",
						c.GetNeighborAddress(), c.GetLocalAsn(), c.GetPeerAsn())
				}
				if port := got.GetTransport().GetRemotePort(); port != 1179 {
					t.Errorf("remote port = %d, want 1179", port)
				}
				if d := c.GetDescription(); d != "router-1" {
					t.Errorf("description = %q, want the peer's name", d)
				}
			},
		},
		{
			name: "keepalive defaults to a third of the hold time",
			peer: base(nil),
			check: func(t *testing.T, got *api.Peer) {
				wantTimers(t, got, 90, 30)
			},
		},
		{
			name: "keepalive default rounds down to whole seconds",
			peer: base(func(p *Peer) { p.HoldTime = 10 * time.Second }),
			check: func(t *testing.T, got *api.Peer) {
				wantTimers(t, got, 10, 3)
			},
		},
		{
			name: "explicit keepalive is kept",
			peer: base(func(p *Peer) { p.HoldTime = 9 * time.Second; p.KeepaliveTime = 2 * time.Second }),
			check: func(t *testing.T, got *api.Peer) {
				wantTimers(t, got, 9, 2)
			},
		},
		{
			name: "connect retry in seconds",
			peer: base(func(p *Peer) { p.ConnectTime = 25 * time.Second }),
			check: func(t *testing.T, got *api.Peer) {
				if r := got.GetTimers().GetConfig().GetConnectRetry(); r != 25 {
					t.Errorf("connect retry = %d, want 25", r)
				}
			},
		},
		{
			name: "connect retry below a second becomes one second, not zero (GoBGP's default)",
			peer: base(func(p *Peer) { p.ConnectTime = 300 * time.Millisecond }),
			check: func(t *testing.T, got *api.Peer) {
				if r := got.GetTimers().GetConfig().GetConnectRetry(); r != 1 {
					t.Errorf("connect retry = %d, want 1", r)
				}
			},
		},
		{
			name: "updates are not delayed",
			peer: base(nil),
			check: func(t *testing.T, got *api.Peer) {
				if m := got.GetTimers().GetConfig().GetMinimumAdvertisementInterval(); m != 0 {
					t.Errorf("minimum advertisement interval = %d, want 0", m)
				}
			},
		},
		{
			name: "MD5 password",
			peer: base(func(p *Peer) { p.Password = "s3cret" }),
			check: func(t *testing.T, got *api.Peer) {
				if pw := got.GetConf().GetAuthPassword(); pw != "s3cret" {
					t.Errorf("auth password = %q, want s3cret", pw)
				}
			},
		},
		{
			name: "no password",
			peer: base(nil),
			check: func(t *testing.T, got *api.Peer) {
				if pw := got.GetConf().GetAuthPassword(); pw != "" {
					t.Errorf("auth password = %q, want none", pw)
				}
			},
		},
		{
			name: "source address",
			peer: base(func(p *Peer) { p.SourceAddress = a("192.0.2.50") }),
			check: func(t *testing.T, got *api.Peer) {
				if l := got.GetTransport().GetLocalAddress(); l != "192.0.2.50" {
					t.Errorf("local address = %q, want 192.0.2.50", l)
				}
			},
		},
		{
			name: "no source address lets the kernel pick",
			peer: base(nil),
			check: func(t *testing.T, got *api.Peer) {
				if l := got.GetTransport().GetLocalAddress(); l != "" {
					t.Errorf("local address = %q, want none", l)
				}
			},
		},
		{
			name: "eBGP multihop uses TTL 255",
			peer: base(func(p *Peer) { p.EBGPMultiHop = true }),
			check: func(t *testing.T, got *api.Peer) {
				m := got.GetEbgpMultihop()
				if !m.GetEnabled() || m.GetMultihopTtl() != 255 {
					t.Errorf("ebgp multihop = enabled %v TTL %d, want enabled with TTL 255", m.GetEnabled(), m.GetMultihopTtl())
				}
			},
		},
		{
			name: "no multihop",
			peer: base(nil),
			check: func(t *testing.T, got *api.Peer) {
				if got.GetEbgpMultihop().GetEnabled() {
					t.Errorf("ebgp multihop enabled without being asked for")
				}
			},
		},
		{
			name: "graceful restart: the peer and every family",
			peer: base(func(p *Peer) { p.GracefulRestart = 120 * time.Second; p.DualStack = true }),
			check: func(t *testing.T, got *api.Peer) {
				gr := got.GetGracefulRestart()
				if !gr.GetEnabled() || gr.GetRestartTime() != 120 {
					t.Errorf("graceful restart = enabled %v restart time %d, want enabled, 120", gr.GetEnabled(), gr.GetRestartTime())
				}
				if fams := families(got); len(fams) != 2 {
					t.Fatalf("families = %v, want IPv4 and IPv6", fams)
				}
				for _, af := range got.GetAfiSafis() {
					if !af.GetMpGracefulRestart().GetConfig().GetEnabled() {
						t.Errorf("family %v lacks graceful restart", af.GetConfig().GetFamily().GetAfi())
					}
				}
			},
		},
		{
			name:       "graceful restart after a restart: Restart State and Forwarding State, a short deferral",
			peer:       base(func(p *Peer) { p.GracefulRestart = 120 * time.Second }),
			restarting: true,
			check: func(t *testing.T, got *api.Peer) {
				gr := got.GetGracefulRestart()
				if !gr.GetLocalRestarting() || gr.GetDeferralTime() != restartDeferral {
					t.Errorf("graceful restart = restarting %v deferral %ds, want restarting, %ds", gr.GetLocalRestarting(), gr.GetDeferralTime(), restartDeferral)
				}
			},
		},
		{
			name: "graceful restart on a first session: no Restart State",
			peer: base(func(p *Peer) { p.GracefulRestart = 120 * time.Second }),
			check: func(t *testing.T, got *api.Peer) {
				if got.GetGracefulRestart().GetLocalRestarting() {
					t.Errorf("a first session announces a restart")
				}
			},
		},
		{
			name:       "restarting without graceful restart announces nothing",
			peer:       base(nil),
			restarting: true,
			check: func(t *testing.T, got *api.Peer) {
				if got.GetGracefulRestart().GetEnabled() || got.GetGracefulRestart().GetLocalRestarting() {
					t.Errorf("graceful restart capability without being asked for: %v", got.GetGracefulRestart())
				}
			},
		},
		{
			name: "no graceful restart",
			peer: base(nil),
			check: func(t *testing.T, got *api.Peer) {
				if got.GetGracefulRestart().GetEnabled() {
					t.Errorf("graceful restart enabled without being asked for")
				}
				for _, af := range got.GetAfiSafis() {
					if af.GetMpGracefulRestart().GetConfig().GetEnabled() {
						t.Errorf("family %v has graceful restart without being asked for", af.GetConfig().GetFamily().GetAfi())
					}
				}
			},
		},
		{
			name: "IPv4 peer carries IPv4 only",
			peer: base(nil),
			check: func(t *testing.T, got *api.Peer) {
				if fams := families(got); !slices.Equal(fams, []api.Family_Afi{ipv4}) {
					t.Errorf("families = %v, want [IPv4]", fams)
				}
			},
		},
		{
			name: "IPv6 peer carries IPv6 only",
			peer: base(func(p *Peer) { p.Address = a("2001:db8::1") }),
			check: func(t *testing.T, got *api.Peer) {
				if fams := families(got); !slices.Equal(fams, []api.Family_Afi{ipv6}) {
					t.Errorf("families = %v, want [IPv6]", fams)
				}
				if n := got.GetConf().GetNeighborAddress(); n != "2001:db8::1" {
					t.Errorf("neighbor address = %q, want 2001:db8::1", n)
				}
			},
		},
		{
			name: "dual-stack IPv4 peer carries both",
			peer: base(func(p *Peer) { p.DualStack = true }),
			check: func(t *testing.T, got *api.Peer) {
				if fams := families(got); !slices.Equal(fams, []api.Family_Afi{ipv4, ipv6}) {
					t.Errorf("families = %v, want [IPv4 IPv6]", fams)
				}
			},
		},
		{
			name: "dual-stack IPv6 peer carries both",
			peer: base(func(p *Peer) { p.Address = a("2001:db8::1"); p.DualStack = true }),
			check: func(t *testing.T, got *api.Peer) {
				if fams := families(got); !slices.Equal(fams, []api.Family_Afi{ipv4, ipv6}) {
					t.Errorf("families = %v, want [IPv4 IPv6]", fams)
				}
			},
		},
		{
			name: "BFD timers in microseconds",
			peer: base(func(p *Peer) {
				p.BFD = &BFD{ReceiveInterval: 300 * time.Millisecond, TransmitInterval: 150 * time.Millisecond, DetectMultiplier: 5}
			}),
			check: func(t *testing.T, got *api.Peer) {
				b := got.GetBfd()
				if !b.GetEnabled() || b.GetRequiredMinimumReceive() != 300000 || b.GetDesiredMinimumTxInterval() != 150000 || b.GetDetectionMultiplier() != 5 {
					t.Errorf("BFD = enabled %v rx %d tx %d multiplier %d, want enabled, 300000, 150000, 5",
						b.GetEnabled(), b.GetRequiredMinimumReceive(), b.GetDesiredMinimumTxInterval(), b.GetDetectionMultiplier())
				}
			},
		},
		{
			name: "no BFD",
			peer: base(nil),
			check: func(t *testing.T, got *api.Peer) {
				if got.GetBfd().GetEnabled() {
					t.Errorf("BFD enabled without a profile")
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := toAPIPeer(c.peer, c.restarting)
			for _, af := range got.GetAfiSafis() {
				cfg := af.GetConfig()
				if !cfg.GetEnabled() || cfg.GetFamily().GetSafi() != api.Family_SAFI_UNICAST {
					t.Errorf("family %v: enabled %v SAFI %v, want enabled unicast", cfg.GetFamily().GetAfi(), cfg.GetEnabled(), cfg.GetFamily().GetSafi())
				}
			}
			c.check(t, got)
		})
	}
}

func wantTimers(t *testing.T, got *api.Peer, hold, keepalive uint64) {
	t.Helper()
	c := got.GetTimers().GetConfig()
	if c.GetHoldTime() != hold || c.GetKeepaliveInterval() != keepalive {
		t.Errorf("timers = hold %d keepalive %d, want hold %d keepalive %d", c.GetHoldTime(), c.GetKeepaliveInterval(), hold, keepalive)
	}
	// Zero would mean GoBGP's 30 s wait after every reset, BFD-triggered ones included.
	if c.GetIdleHoldTimeAfterReset() == 0 || c.GetIdleHoldTimeAfterReset() > 5 {
		t.Errorf("idle hold after reset = %d s, want 1-5 s", c.GetIdleHoldTimeAfterReset())
	}
}

// families lists the AFIs of a peer's address families, in order.
func families(p *api.Peer) []api.Family_Afi {
	var out []api.Family_Afi
	for _, af := range p.GetAfiSafis() {
		out = append(out, af.GetConfig().GetFamily().GetAfi())
	}
	return out
}

func TestToPath(t *testing.T) {
	a := netip.MustParseAddr
	pfx := netip.MustParsePrefix
	u32 := func(v uint32) *uint32 { return &v }
	unspec4, unspec6 := netip.IPv4Unspecified(), netip.IPv6Unspecified()
	cases := []struct {
		name     string
		route    Route
		nh4, nh6 netip.Addr
		// Expected path.
		family      packet.Family
		prefix      netip.Prefix
		nextHop     netip.Addr // NEXT_HOP for IPv4, MP_REACH next hop for IPv6
		communities []uint32
		large       [][3]uint32
		localPref   *uint32
	}{
		{
			name:  "IPv4 /32 with the session's own next hop",
			route: Route{Prefix: pfx("198.18.0.5/32")}, nh4: unspec4, nh6: unspec6,
			family: packet.RF_IPv4_UC, prefix: pfx("198.18.0.5/32"), nextHop: unspec4,
		},
		{
			name:  "IPv4 over an IPv6 session: the node's IPv4 next hop",
			route: Route{Prefix: pfx("198.18.0.5/32")}, nh4: a("192.0.2.10"), nh6: unspec6,
			family: packet.RF_IPv4_UC, prefix: pfx("198.18.0.5/32"), nextHop: a("192.0.2.10"),
		},
		{
			name:  "IPv4 aggregate is sent masked",
			route: Route{Prefix: pfx("198.18.0.5/24")}, nh4: unspec4, nh6: unspec6,
			family: packet.RF_IPv4_UC, prefix: pfx("198.18.0.0/24"), nextHop: unspec4,
		},
		{
			name:  "IPv6 /128 in MP_REACH with the session's own next hop",
			route: Route{Prefix: pfx("2001:db8::5/128")}, nh4: unspec4, nh6: unspec6,
			family: packet.RF_IPv6_UC, prefix: pfx("2001:db8::5/128"), nextHop: unspec6,
		},
		{
			name:  "IPv6 over an IPv4 session: the node's IPv6 next hop",
			route: Route{Prefix: pfx("2001:db8::5/128")}, nh4: a("192.0.2.10"), nh6: a("2001:db8:1::10"),
			family: packet.RF_IPv6_UC, prefix: pfx("2001:db8::5/128"), nextHop: a("2001:db8:1::10"),
		},
		{
			name:  "IPv6 aggregate is sent masked",
			route: Route{Prefix: pfx("2001:db8::5/64")}, nh4: unspec4, nh6: unspec6,
			family: packet.RF_IPv6_UC, prefix: pfx("2001:db8::/64"), nextHop: unspec6,
		},
		{
			name: "communities, large communities and LOCAL_PREF",
			route: Route{Prefix: pfx("198.18.0.5/32"), Communities: []uint32{65000<<16 | 1, 0xFFFFFF01},
				LargeCommunities: [][3]uint32{{65000, 1, 2}, {4200000000, 3, 4}}, LocalPref: u32(200)},
			nh4: unspec4, nh6: unspec6,
			family: packet.RF_IPv4_UC, prefix: pfx("198.18.0.5/32"), nextHop: unspec4,
			communities: []uint32{65000<<16 | 1, 0xFFFFFF01}, large: [][3]uint32{{65000, 1, 2}, {4200000000, 3, 4}}, localPref: u32(200),
		},
		{
			name:  "LOCAL_PREF 0 is still sent",
			route: Route{Prefix: pfx("198.18.0.5/32"), LocalPref: u32(0)}, nh4: unspec4, nh6: unspec6,
			family: packet.RF_IPv4_UC, prefix: pfx("198.18.0.5/32"), nextHop: unspec4, localPref: u32(0),
		},
		{
			name: "IPv6 with attributes",
			route: Route{Prefix: pfx("2001:db8::5/128"), Communities: []uint32{7}, LargeCommunities: [][3]uint32{{1, 2, 3}},
				LocalPref: u32(50)},
			nh4: unspec4, nh6: unspec6,
			family: packet.RF_IPv6_UC, prefix: pfx("2001:db8::5/128"), nextHop: unspec6,
			communities: []uint32{7}, large: [][3]uint32{{1, 2, 3}}, localPref: u32(50),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := toPath(c.route, c.nh4, c.nh6)
			if p.Family != c.family {
				t.Errorf("family = %v, want %v", p.Family, c.family)
			}
			if n, ok := p.Nlri.(*packet.IPAddrPrefix); !ok || n.Prefix != c.prefix {
				t.Errorf("NLRI = %v, want %v", p.Nlri, c.prefix)
			}
			var (
				origin     *packet.PathAttributeOrigin
				nextHop    *packet.PathAttributeNextHop
				mpReach    *packet.PathAttributeMpReachNLRI
				comms      *packet.PathAttributeCommunities
				large      *packet.PathAttributeLargeCommunities
				localPref  *packet.PathAttributeLocalPref
				attrsCount = map[packet.BGPAttrType]int{}
			)
			for _, attr := range p.Attrs {
				attrsCount[attr.GetType()]++
				switch v := attr.(type) {
				case *packet.PathAttributeOrigin:
					origin = v
				case *packet.PathAttributeNextHop:
					nextHop = v
				case *packet.PathAttributeMpReachNLRI:
					mpReach = v
				case *packet.PathAttributeCommunities:
					comms = v
				case *packet.PathAttributeLargeCommunities:
					large = v
				case *packet.PathAttributeLocalPref:
					localPref = v
				}
			}
			for typ, n := range attrsCount {
				if n > 1 {
					t.Errorf("attribute %v appears %d times", typ, n)
				}
			}
			if origin == nil || origin.Value != packet.BGP_ORIGIN_ATTR_TYPE_IGP {
				t.Errorf("ORIGIN = %v, want IGP", origin)
			}
			if c.family == packet.RF_IPv4_UC {
				if nextHop == nil || nextHop.Value != c.nextHop {
					t.Errorf("NEXT_HOP = %v, want %v", nextHop, c.nextHop)
				}
				if mpReach != nil {
					t.Errorf("an IPv4 route carries MP_REACH_NLRI: %v", mpReach)
				}
			} else {
				if nextHop != nil {
					t.Errorf("an IPv6 route carries NEXT_HOP: %v", nextHop)
				}
				if mpReach == nil {
					t.Fatalf("no MP_REACH_NLRI")
				}
				if mpReach.Nexthop != c.nextHop {
					t.Errorf("MP_REACH next hop = %v, want %v", mpReach.Nexthop, c.nextHop)
				}
				if mpReach.AFI != packet.AFI_IP6 || mpReach.SAFI != packet.SAFI_UNICAST {
					t.Errorf("MP_REACH AFI/SAFI = %d/%d, want IPv6 unicast", mpReach.AFI, mpReach.SAFI)
				}
				if len(mpReach.Value) != 1 {
					t.Errorf("MP_REACH holds %d NLRI, want 1", len(mpReach.Value))
				} else if n, ok := mpReach.Value[0].NLRI.(*packet.IPAddrPrefix); !ok || n.Prefix != c.prefix {
					t.Errorf("MP_REACH NLRI = %v, want %v", mpReach.Value[0].NLRI, c.prefix)
				}
			}
			switch {
			case c.communities == nil && comms != nil:
				t.Errorf("COMMUNITIES = %v, want none", comms.Value)
			case c.communities != nil && (comms == nil || !slices.Equal(comms.Value, c.communities)):
				t.Errorf("COMMUNITIES = %v, want %v", comms, c.communities)
			}
			var gotLarge [][3]uint32
			if large != nil {
				for _, l := range large.Values {
					gotLarge = append(gotLarge, [3]uint32{l.ASN, l.LocalData1, l.LocalData2})
				}
			}
			if !slices.Equal(gotLarge, c.large) || (large != nil) != (c.large != nil) {
				t.Errorf("LARGE_COMMUNITY = %v, want %v", gotLarge, c.large)
			}
			switch {
			case c.localPref == nil && localPref != nil:
				t.Errorf("LOCAL_PREF = %d, want none", localPref.Value)
			case c.localPref != nil && (localPref == nil || localPref.Value != *c.localPref):
				t.Errorf("LOCAL_PREF = %v, want %d", localPref, *c.localPref)
			}
			// Every attribute must serialise: a nil or malformed one would fail at send time.
			for _, attr := range p.Attrs {
				if _, err := attr.Serialize(); err != nil {
					t.Errorf("attribute %v does not serialise: %v", attr.GetType(), err)
				}
			}
		})
	}
}

// TestToPathLinkBandwidth checks the link-bandwidth extended community on the wire, byte
// for byte: non-transitive two-octet-AS-specific type 0x40, subtype 0x04, the AS, then the
// bandwidth as an IEEE 754 float32 in bytes per second (RFC 10005), which is what FRR's
// weighted ECMP reads.
func TestToPathLinkBandwidth(t *testing.T) {
	pfx := netip.MustParsePrefix
	unspec4, unspec6 := netip.IPv4Unspecified(), netip.IPv6Unspecified()
	extended := func(r Route) []byte {
		t.Helper()
		var out []byte
		for _, attr := range toPath(r, unspec4, unspec6).Attrs {
			if attr.GetType() != packet.BGP_ATTR_TYPE_EXTENDED_COMMUNITIES {
				continue
			}
			if out != nil {
				t.Fatalf("two EXTENDED_COMMUNITIES attributes")
			}
			b, err := attr.Serialize()
			if err != nil {
				t.Fatalf("serialise: %v", err)
			}
			out = b
		}
		return out
	}
	if b := extended(Route{Prefix: pfx("198.18.0.5/32")}); b != nil {
		t.Errorf("a route without link bandwidth carries extended communities % x", b)
	}
	// 375000 bytes/s (3 endpoints of 1 Mbit/s) is 0x48b71b00 as a float32.
	got := extended(Route{Prefix: pfx("198.18.0.5/32"), LinkBandwidth: 375000, LinkBandwidthAS: 64512})
	// Flags 0xc0 (optional, transitive: the attribute is; the community in it is not),
	// type 16, length 8.
	want := []byte{0xc0, 16, 8, 0x40, 0x04, 0xfc, 0x00, 0x48, 0xb7, 0x1b, 0x00}
	if !slices.Equal(got, want) {
		t.Errorf("EXTENDED_COMMUNITIES = % x, want % x", got, want)
	}
	got = extended(Route{Prefix: pfx("2001:db8::5/128"), LinkBandwidth: 125000, LinkBandwidthAS: 23456})
	want = []byte{0xc0, 16, 8, 0x40, 0x04, 0x5b, 0xa0, 0x47, 0xf4, 0x24, 0x00}
	if !slices.Equal(got, want) {
		t.Errorf("IPv6 EXTENDED_COMMUNITIES = % x, want % x", got, want)
	}
}

// TestLinkBandwidthChangeIsResent: a new endpoint count changes only the link bandwidth,
// and that alone must send the path again.
func TestLinkBandwidthChangeIsResent(t *testing.T) {
	r := Route{Prefix: netip.MustParsePrefix("198.18.0.5/32"), LinkBandwidth: 125000, LinkBandwidthAS: 64512}
	more := r
	more.LinkBandwidth = 375000
	if sameAttributes(r, more) {
		t.Error("routes differing only in link bandwidth count as the same")
	}
	as := r
	as.LinkBandwidthAS = 64513
	if sameAttributes(r, as) {
		t.Error("routes differing only in the link bandwidth's AS count as the same")
	}
	if !sameAttributes(r, r) {
		t.Error("a route differs from itself")
	}
}
