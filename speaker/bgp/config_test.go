package bgp

import (
	"net/netip"
	"strconv"
	"testing"
)

func TestRouterID(t *testing.T) {
	a := netip.MustParseAddr
	cases := []struct {
		name       string
		configured string
		nodeIPv4   netip.Addr
		nodeName   string
		want       netip.Addr // invalid: a derived value (checked below)
	}{
		{name: "configured IPv4 wins over the node address", configured: "10.9.9.9", nodeIPv4: a("192.0.2.10"), nodeName: "n1", want: a("10.9.9.9")},
		{name: "configured IPv4 wins on an IPv6-only node", configured: "10.9.9.9", nodeName: "n1", want: a("10.9.9.9")},
		{name: "nothing configured: the node's IPv4", nodeIPv4: a("192.0.2.10"), nodeName: "n1", want: a("192.0.2.10")},
		{name: "configured IPv6 falls back to the node's IPv4", configured: "2001:db8::1", nodeIPv4: a("192.0.2.10"), nodeName: "n1", want: a("192.0.2.10")},
		{name: "configured IPv4-mapped IPv6 falls back", configured: "::ffff:10.9.9.9", nodeIPv4: a("192.0.2.10"), nodeName: "n1", want: a("192.0.2.10")},
		{name: "configured garbage falls back", configured: "router-1", nodeIPv4: a("192.0.2.10"), nodeName: "n1", want: a("192.0.2.10")},
		{name: "configured with spaces falls back", configured: " 10.9.9.9", nodeIPv4: a("192.0.2.10"), nodeName: "n1", want: a("192.0.2.10")},
		// RFC 6286: the BGP Identifier is a non-zero value; a router refuses an OPEN with 0.
		{name: "configured 0.0.0.0 falls back", configured: "0.0.0.0", nodeIPv4: a("192.0.2.10"), nodeName: "n1", want: a("192.0.2.10")},
		{name: "node IPv4 0.0.0.0 is not used", nodeIPv4: a("0.0.0.0"), nodeName: "n1"},
		{name: "an IPv6 node address is not used", nodeIPv4: a("2001:db8::10"), nodeName: "n1"},
		{name: "IPv6-only node", nodeName: "n1"},
		{name: "IPv6-only node, invalid configured", configured: "2001:db8::1", nodeName: "n1"},
		{name: "IPv6-only node, empty name", nodeName: ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := RouterID(c.configured, c.nodeIPv4, c.nodeName)
			if c.want.IsValid() {
				if got != c.want {
					t.Errorf("RouterID(%q, %v, %q) = %v, want %v", c.configured, c.nodeIPv4, c.nodeName, got, c.want)
				}
				return
			}
			if !got.Is4() || got.IsUnspecified() {
				t.Errorf("RouterID(%q, %v, %q) = %v, want a non-zero IPv4 address", c.configured, c.nodeIPv4, c.nodeName, got)
			}
			if again := RouterID(c.configured, c.nodeIPv4, c.nodeName); again != got {
				t.Errorf("RouterID is not stable: %v then %v", got, again)
			}
		})
	}
}

// On IPv6-only nodes, the derived identifiers of different nodes differ (two routers with
// one identifier refuse each other's sessions) and each stays the same across restarts.
func TestRouterIDDerivedDiffersBetweenNodes(t *testing.T) {
	cases := []struct{ name, a, b string }{
		{"two worker names", "worker-1", "worker-2"},
		{"names differing in case", "node", "Node"},
		{"a name and its prefix", "node-1", "node-10"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ida := RouterID("", netip.Addr{}, c.a)
			idb := RouterID("", netip.Addr{}, c.b)
			if ida == idb {
				t.Errorf("nodes %q and %q both get router ID %v", c.a, c.b, ida)
			}
			for _, id := range []netip.Addr{ida, idb} {
				if !id.Is4() || id.IsUnspecified() {
					t.Errorf("derived router ID %v is not a non-zero IPv4 address", id)
				}
			}
		})
	}
	seen := map[netip.Addr]string{}
	for i := range 200 {
		name := "node-" + strconv.Itoa(i)
		id := RouterID("", netip.Addr{}, name)
		if other, ok := seen[id]; ok {
			t.Errorf("nodes %q and %q share router ID %v", other, name, id)
		}
		seen[id] = name
	}
}

func TestPeerFamilies(t *testing.T) {
	a := netip.MustParseAddr
	cases := []struct {
		name           string
		peer           Peer
		wantV4, wantV6 bool
	}{
		{"IPv4 peer", Peer{Address: a("192.0.2.1")}, true, false},
		{"IPv6 peer", Peer{Address: a("2001:db8::1")}, false, true},
		{"IPv4 peer, dual-stack", Peer{Address: a("192.0.2.1"), DualStack: true}, true, true},
		{"IPv6 peer, dual-stack", Peer{Address: a("2001:db8::1"), DualStack: true}, true, true},
		{"IPv6 link-local peer", Peer{Address: a("fe80::1%eth0")}, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v4, v6 := c.peer.Families()
			if v4 != c.wantV4 || v6 != c.wantV6 {
				t.Errorf("Families() = (v4 %v, v6 %v), want (v4 %v, v6 %v)", v4, v6, c.wantV4, c.wantV6)
			}
		})
	}
}

func TestPeerIBGP(t *testing.T) {
	cases := []struct {
		name        string
		mine, their uint32
		want        bool
	}{
		{"same AS", 64512, 64512, true},
		{"different AS", 64512, 64513, false},
		{"same 4-byte AS", 4200000000, 4200000000, true},
		{"4-byte ASes differing only above 16 bits", 4200000000, 4200000000 - 65536, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := (Peer{MyASN: c.mine, PeerASN: c.their}).IBGP(); got != c.want {
				t.Errorf("IBGP() with myASN %d, peerASN %d = %v, want %v", c.mine, c.their, got, c.want)
			}
		})
	}
}
