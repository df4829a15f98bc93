package layer2

import (
	"slices"
	"testing"
)

func TestSuitableInNamespace(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	ns := l.ns("links")
	ip := func(args ...string) { l.run(append([]string{"ip", "-n", ns}, args...)...) }
	ip("link", "add", "uplink0", "type", "veth", "peer", "name", "veth-u") // kept; the peer is a pod-style name
	ip("link", "add", "br0", "type", "bridge")                             // kept: a bridge is where the node's L2 lives
	ip("link", "add", "port0", "type", "veth", "peer", "name", "veth-p")   // a bridge port: skipped
	ip("link", "set", "port0", "master", "br0")
	ip("link", "add", "cni0", "type", "bridge")                           // pod bridge: skipped by name
	ip("link", "add", "noarp0", "type", "veth", "peer", "name", "veth-n") // NOARP: skipped
	ip("link", "set", "noarp0", "arp", "off")
	ip("link", "add", "down0", "type", "veth", "peer", "name", "veth-d") // down: skipped
	for _, dev := range []string{"uplink0", "veth-u", "br0", "port0", "veth-p", "cni0", "noarp0", "veth-n", "veth-d"} {
		ip("link", "set", dev, "up")
	}

	var got []string
	var err error
	l.in(ns, func() { got, err = Suitable() })
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"br0", "uplink0"}; !slices.Equal(got, want) {
		t.Errorf("Suitable() = %v, want %v", got, want)
	}
}

func TestSuitableLinksRules(t *testing.T) {
	mac := []byte{2, 0, 0, 0, 0, 1}
	ok := uint32(iffUp | iffBroadcast)
	links := []linkInfo{
		{index: 1, name: "lo", flags: iffUp | iffLoopback, mac: make([]byte, 6)},
		{index: 2, name: "eth0", flags: ok, mac: mac},
		{index: 3, name: "eth1", flags: ok | iffSlave, mac: mac, master: 4},
		{index: 4, name: "bond0", flags: ok, mac: mac, kind: "bond"},
		{index: 5, name: "eth2", flags: ok, mac: mac, master: 6},
		{index: 6, name: "vrf-blue", flags: iffUp | iffNoARP, mac: mac, kind: "vrf"},
		{index: 7, name: "ib0", flags: ok, mac: make([]byte, 20)},
		{index: 8, name: "wg0", flags: iffUp | iffNoARP},
		{index: 9, name: "eth3", flags: ok, mac: make([]byte, 6)},
		{index: 10, name: "eth4", flags: iffBroadcast, mac: mac},
		{index: 11, name: "flannel.1", flags: ok, mac: mac, kind: "vxlan"},
		{index: 12, name: "kube-ipvs0", flags: ok, mac: mac, kind: "dummy"},
		{index: 13, name: "cali12345", flags: ok, mac: mac, kind: "veth"},
		{index: 14, name: "team0p", flags: ok, mac: mac, master: 15},
		{index: 15, name: "team0", flags: ok, mac: mac, kind: "team"},
	}
	// eth2 is in a VRF, which does not stop it from answering.
	want := []string{"bond0", "eth0", "eth2", "team0"}
	if got := suitableLinks(links); !slices.Equal(got, want) {
		t.Errorf("suitableLinks = %v, want %v", got, want)
	}
}

func TestLinkKind(t *testing.T) {
	// IFLA_LINKINFO holding IFLA_INFO_KIND "veth" (padded) and IFLA_INFO_DATA.
	b := []byte{
		9, 0, 1, 0, 'v', 'e', 't', 'h', 0, 0, 0, 0,
		8, 0, 2, 0x80, 1, 2, 3, 4, // type 2 with the nested flag 0x8000
	}
	if got := linkKind(b); got != "veth" {
		t.Errorf("linkKind = %q, want veth", got)
	}
	if got := linkKind([]byte{200, 0, 1, 0}); got != "" {
		t.Errorf("linkKind of a truncated attribute = %q", got)
	}
}
