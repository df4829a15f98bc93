package lab

import (
	"net/netip"
	"strings"
	"testing"
)

// These tests need neither root nor the lab: they check the address plan, names and the
// parsers of tool output, so `go test -short` covers them.

func TestAddressPlanStaysInLabRanges(t *testing.T) {
	seen := map[netip.Addr]string{}
	add := func(what string, a netip.Addr) {
		t.Helper()
		if err := checkLabAddr(a); err != nil {
			t.Errorf("%s: %v", what, err)
		}
		if other, ok := seen[a]; ok {
			t.Errorf("%s and %s share %s", what, other, a)
		}
		seen[a] = what
	}
	for _, a := range []netip.Addr{hostV4, l2ClientV4, l2ClientV6, routerV4, routerV6, routerBackV4, routerBackV6, bgpClientV4, bgpClientV6} {
		add("fixed "+a.String(), a)
	}
	cluster4, cluster6 := netip.MustParsePrefix(ClusterCIDRv4), netip.MustParsePrefix(ClusterCIDRv6)
	for i := 1; i <= MaxNodes; i++ {
		v4, v6 := nodeAddrs(i)
		add("node v4", v4)
		add("node v6", v6)
		p4, p6 := podCIDRs(i)
		if i > PodNodes {
			if p4.IsValid() || p6.IsValid() {
				t.Errorf("scale node %d has pod networks %s %s", i, p4, p6)
			}
			continue
		}
		if !cluster4.Contains(p4.Addr()) || !cluster6.Contains(p6.Addr()) {
			t.Errorf("node %d pod networks %s %s are outside the cluster CIDRs", i, p4, p6)
		}
		for _, k := range []int{2, 254} {
			a4, a6 := podAddrs(i, k)
			if !p4.Contains(a4) || !p6.Contains(a6) {
				t.Errorf("pod %d of node %d: %s %s outside %s %s", k, i, a4, a6, p4, p6)
			}
		}
	}
	// The ranges must not overlap: a pool address must never be a ClusterIP or a pod.
	ranges := []string{segmentV4, behindV4, ClusterCIDRv4, ServiceCIDRv4, PoolCIDRv4, LargePoolCIDRv4,
		segmentV6, behindV6, ClusterCIDRv6, ServiceCIDRv6, PoolCIDRv6, LargePoolCIDRv6}
	for i, a := range ranges {
		for _, b := range ranges[i+1:] {
			if netip.MustParsePrefix(a).Overlaps(netip.MustParsePrefix(b)) {
				t.Errorf("%s overlaps %s", a, b)
			}
		}
		if err := checkLabAddr(netip.MustParsePrefix(a).Addr()); err != nil {
			t.Error(err)
		}
	}
}

func TestCheckLabAddrRefusesOtherNetworks(t *testing.T) {
	for _, a := range []string{"10.0.0.1", "192.0.2.1", "198.20.0.1", "2001:db9::1", "::1", "fd00::1"} {
		if checkLabAddr(netip.MustParseAddr(a)) == nil {
			t.Errorf("%s accepted", a)
		}
	}
	if err := checkLabURL("http://example.com/"); err == nil {
		t.Error("a URL with a name was accepted")
	}
	if err := checkLabURL("http://[2001:db8::11]:30000/"); err != nil {
		t.Error(err)
	}
}

func TestNamesFitLinuxInterfaceNames(t *testing.T) {
	l := &Lab{Prefix: newPrefix()}
	if !prefixPattern.MatchString(l.Prefix) {
		t.Fatalf("prefix %q does not match %s", l.Prefix, prefixPattern)
	}
	for _, name := range []string{l.bridge(), l.hostLink(), l.uplink(), l.name("s-host"), l.name("s-n15"), l.name("s-l2c"), l.name("p99999"), l.name("eth1")} {
		if len(name) > 15 {
			t.Errorf("%q is longer than 15 characters", name)
		}
		if !isLabName(name) {
			t.Errorf("%q is not recognised as a lab name", name)
		}
	}
	for _, name := range []string{"eth0", "ilb", "ilbabcd-x", "xilbabc-n1", "docker0"} {
		if isLabName(name) {
			t.Errorf("%q taken for a lab name", name)
		}
	}
}

func TestMACEncodesIPv4(t *testing.T) {
	if got := macFor(netip.MustParseAddr("198.18.0.11")); got != "02:00:c6:12:00:0b" {
		t.Errorf("macFor = %s", got)
	}
}

func TestAnsweringMACs(t *testing.T) {
	arping := `ARPING 198.18.100.1
60 bytes from 02:00:c6:12:00:0b (198.18.100.1): index=0 time=1.2 msec
60 bytes from 02:00:c6:12:00:0c (198.18.100.1): index=1 time=1.3 msec
60 bytes from 02:00:c6:12:00:0b (198.18.100.1): index=2 time=1.4 msec

--- 198.18.100.1 statistics ---
1 packets transmitted, 3 packets received,   0% unanswered (2 extra)`
	got := answeringMACs(arping, "02:00:c6:12:00:64")
	if strings.Join(got, ",") != "02:00:c6:12:00:0b,02:00:c6:12:00:0c" {
		t.Errorf("arping: %v", got)
	}
	if got := answeringMACs("Timeout\n1 packets transmitted, 0 packets received", ""); len(got) != 0 {
		t.Errorf("no answer: %v", got)
	}
}

func TestFRRConfig(t *testing.T) {
	l := &Lab{Prefix: "ilbabc", Dir: "/run/ironlb-lab/ilbabc", opts: Options{Nodes: 2, NodeASN: 64513}}
	l.Router = &Router{Netns: "ilbabc-rtr", IPv4: routerV4, ASN: 64512, FRRName: "ilbabc"}
	l.Nodes = l.newNodes()
	cfg := l.frrConfig()
	for _, want := range []string{
		"router bgp 64512", "neighbor nodes4 remote-as 64513", "neighbor nodes4 bfd", "neighbor nodes6 bfd",
		"neighbor 198.18.0.11 peer-group nodes4", "neighbor 2001:db8::12 peer-group nodes6",
		"maximum-paths 16", "neighbor nodes6 activate",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	l.opts.NodeASN = 64512
	if cfg := l.frrConfig(); !strings.Contains(cfg, "maximum-paths ibgp 16") {
		t.Errorf("iBGP config lacks maximum-paths ibgp:\n%s", cfg)
	}
}

func TestUsageTellsHowToUseTheLab(t *testing.T) {
	st := &State{Prefix: "ilbabc", Dir: "/run/ironlb-lab/ilbabc", Kubeconfig: "/run/ironlb-lab/ilbabc/admin.kubeconfig",
		APIServer: "https://198.18.0.1:6443", L2Client: "ilbabc-l2c", Router: "ilbabc-rtr", BGPClient: "ilbabc-bgpc",
		Nodes: []NodeState{{Name: "node-1", Netns: "ilbabc-n1", IPv4: "198.18.0.11", IPv6: "2001:db8::11"}}}
	u := usage(st)
	for _, want := range []string{"export KUBECONFIG=/run/ironlb-lab/ilbabc/admin.kubeconfig", "ip netns exec ilbabc-l2c curl", "make demo-down", "ilbabc-n1"} {
		if !strings.Contains(u, want) {
			t.Errorf("usage lacks %q:\n%s", want, u)
		}
	}
}

func TestNodeByAddrKnowsLinkLocal(t *testing.T) {
	l := &Lab{Prefix: "ilbabc", opts: Options{Nodes: 3}}
	l.Nodes = l.newNodes()
	n2 := l.Nodes[1]
	// The kernel derives a link's IPv6 link-local address from its MAC (EUI-64), and FRR
	// shows that address as the next hop of IPv6 routes when a node sends one.
	if got := linkLocalFor(n2.MAC); got != netip.MustParseAddr("fe80::c6ff:fe12:c") {
		t.Errorf("linkLocalFor(%s) = %s", n2.MAC, got)
	}
	if got := linkLocalFor(macFor(bgpClientV4)); got != netip.MustParseAddr("fe80::c6ff:fe12:164") {
		t.Errorf("linkLocalFor(BGP client) = %s, FRR showed fe80::c6ff:fe12:164", got)
	}
	for _, a := range []netip.Addr{n2.IPv4, n2.IPv6, linkLocalFor(n2.MAC)} {
		if got := l.NodeByAddr(a); got != n2 {
			t.Errorf("NodeByAddr(%s) = %v, want node-2", a, got)
		}
	}
	if got := l.NodeByAddr(netip.MustParseAddr("198.18.0.254")); got != nil {
		t.Errorf("NodeByAddr(router) = %s", got.Name)
	}
}
