package frr

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

// The samples below are FRR 8.4's own output in the lab (trimmed to the fields the lab
// reads), so a parser change that no longer fits FRR fails here, without root.

func TestParseBGPPaths(t *testing.T) {
	// An iBGP path kept by graceful restart, with communities and LOCAL_PREF.
	stale := `{"prefix":"198.18.103.5/32","paths":[{"aspath":{"string":"Local","segments":[],"length":0},"stale":true,
"origin":"IGP","metric":0,"locPrf":300,"valid":true,"bestpath":{"overall":true,"selectionReason":"First path received"},
"community":{"string":"64512:200 64512:100","list":["64512:200","64512:100"]},
"largeCommunity":{"string":"64512:1:2","list":["64512:1:2"]},
"nexthops":[{"ip":"198.18.1.100","afi":"ipv4","metric":0,"accessible":true,"used":true}],
"peer":{"peerId":"198.18.1.100","routerId":"0.0.0.0","type":"internal"}}]}`
	paths, err := ParseBGPPaths(stale)
	if err != nil || len(paths) != 1 {
		t.Fatalf("parse: %v %+v", err, paths)
	}
	p := paths[0]
	if p.Peer != netip.MustParseAddr("198.18.1.100") || p.NextHop != p.Peer || !p.Valid || !p.Best || !p.Stale || p.Multipath {
		t.Errorf("path: %+v", p)
	}
	if p.LocalPref == nil || *p.LocalPref != 300 {
		t.Errorf("LocalPref = %v, want 300", p.LocalPref)
	}
	if !slices.Equal(p.Communities, []string{"64512:100", "64512:200"}) || !slices.Equal(p.LargeCommunities, []string{"64512:1:2"}) {
		t.Errorf("communities %v, large %v", p.Communities, p.LargeCommunities)
	}
	if len(p.ASPath) != 0 {
		t.Errorf("ASPath = %v, want empty (iBGP)", p.ASPath)
	}

	// An eBGP IPv6 path with a global and a link-local next hop, and no LOCAL_PREF.
	v6 := `{"prefix":"2001:db8:100:3::5/128","paths":[{"aspath":{"string":"64514","segments":[{"type":"as-sequence","list":[64514]}],"length":1},
"origin":"IGP","valid":true,"multipath":true,"bestpath":{"overall":true},
"nexthops":[{"ip":"2001:db8:1::100","afi":"ipv6","scope":"global"},{"ip":"fe80::c6ff:fe12:164","afi":"ipv6","scope":"link-local"}],
"peer":{"peerId":"198.18.1.100","type":"external"}}]}`
	paths, err = ParseBGPPaths(v6)
	if err != nil || len(paths) != 1 {
		t.Fatalf("parse: %v %+v", err, paths)
	}
	p = paths[0]
	if p.LocalPref != nil || !p.Multipath || !slices.Equal(p.ASPath, []uint32{64514}) || p.NextHop != netip.MustParseAddr("2001:db8:1::100") || len(p.NextHops) != 2 {
		t.Errorf("path: %+v", p)
	}

	for _, none := range []string{"{}", "{\n}", "% Network not in table"} {
		if paths, err := ParseBGPPaths(none); err != nil || len(paths) != 0 {
			t.Errorf("ParseBGPPaths(%q) = %v, %v; want no paths", none, paths, err)
		}
	}
}

func TestParseNeighbors(t *testing.T) {
	out := `{"198.18.1.100": {"bgpState": "Established", "bgpTimerUpEstablishedEpoch": 1795261394, "bgpTimerHoldTimeMsecs": 180000,
"connectionsEstablished": 1, "connectionsDropped": 0, "lastResetDueTo": "No AFI/SAFI activated for peer",
"neighborCapabilities": {"multiprotocolExtensions": {"ipv4Unicast": {"advertisedAndReceived": true}, "ipv6Unicast": {"advertisedAndReceived": true}}, "gracefulRestart": "advertisedAndReceived"},
"addressFamilyInfo": {"ipv4Unicast": {"acceptedPrefixCounter": 2}, "ipv6Unicast": {"acceptedPrefixCounter": 1}},
"gracefulRestartInfo": {"localGrMode": "Helper*", "remoteGrMode": "Restart", "rBit": true, "nBit": false, "timers": {"configuredRestartTimer": 120},
"ipv4Unicast": {"fBit": false, "endOfRibStatus": {"endOfRibRecv": true}}, "ipv6Unicast": {"fBit": true, "endOfRibStatus": {"endOfRibRecv": true}}}},
"198.18.0.11": {"nbrDesc": "node-1", "bgpState": "Active", "bgpTimerHoldTimeMsecs": 180000, "connectionsEstablished": 0,
"connectionsDropped": 0, "lastResetDueTo": "Waiting for peer OPEN"}}`
	peers, err := ParseNeighbors(out)
	if err != nil || len(peers) != 2 {
		t.Fatalf("parse: %v %+v", err, peers)
	}
	node, far := peers[0], peers[1]
	if node.Address != netip.MustParseAddr("198.18.0.11") || node.Description != "node-1" || node.State != "Active" || !node.EstablishedAt.IsZero() || node.GracefulRestart ||
		node.RestartBit || node.Forwarding != nil {
		t.Errorf("node-1: %+v", node)
	}
	if far.State != "Established" || far.PrefixesReceived != 3 || far.HoldTime != 3*time.Minute || !far.GracefulRestart ||
		far.EstablishedAt.Unix() != 1795261394 || far.ConnectionsEstablished != 1 ||
		!slices.Equal(far.AddressFamilies, []string{"ipv4Unicast", "ipv6Unicast"}) ||
		!far.RestartBit || !slices.Equal(far.Forwarding, []string{"ipv6Unicast"}) {
		t.Errorf("far router: %+v", far)
	}
}

func TestParseBFDPeers(t *testing.T) {
	out := `[{"multihop": false, "peer": "198.18.0.11", "id": 1896663117, "remote-id": 0, "status": "down",
"remote-receive-interval": 1000, "remote-transmit-interval": 1000, "remote-detect-multiplier": 3},
{"multihop": false, "peer": "2001:db8::12", "id": 465191581, "remote-id": 7, "status": "up",
"remote-receive-interval": 100, "remote-transmit-interval": 150, "remote-detect-multiplier": 4}]`
	peers, err := ParseBFDPeers(out)
	if err != nil || len(peers) != 2 {
		t.Fatalf("parse: %v %+v", err, peers)
	}
	if p := peers[0]; p.Status != "down" || p.RemoteReceiveInterval != 0 {
		t.Errorf("silent peer: %+v (its intervals are FRR's defaults, not the node's)", p)
	}
	if p := peers[1]; p.Status != "up" || p.RemoteReceiveInterval != 100*time.Millisecond || p.RemoteTransmitInterval != 150*time.Millisecond || p.RemoteDetectMultiplier != 4 {
		t.Errorf("live peer: %+v", p)
	}
}

func TestParseRoutes(t *testing.T) {
	out := `{"2001:db8:100:3::5/128": [{"prefix": "2001:db8:100:3::5/128", "protocol": "bgp", "selected": true, "installed": true,
"nexthops": [{"flags": 3, "fib": true, "ip": "fe80::c6ff:fe12:164", "afi": "ipv6", "interfaceName": "ilbqjz-eth1", "active": true}]}]}`
	hops, err := ParseRoutes(out)
	if err != nil || len(hops) != 1 || hops[0].Via != netip.MustParseAddr("fe80::c6ff:fe12:164") || !hops[0].Installed || hops[0].Protocol != "bgp" {
		t.Errorf("ParseRoutes = %+v, %v", hops, err)
	}
}

// FRR 8.4's rendering of a path's link-bandwidth community and of a weighted ECMP route,
// as seen in the lab (TestBGPEndpointWeightedECMP).
func TestParseLinkBandwidthAndWeights(t *testing.T) {
	path := `{"prefix":"198.18.117.0/32","paths":[{"aspath":{"string":"64513","segments":[{"type":"as-sequence","list":[64513]}],"length":1},
"origin":"IGP","valid":true,"multipath":true,"extendedCommunity":{"string":"LB:64513:375000 (3.000 Mbps)"},
"nexthops":[{"ip":"198.18.0.12","afi":"ipv4","used":true}],"peer":{"peerId":"198.18.0.12","type":"external"}},
{"aspath":{"string":"64513","segments":[{"type":"as-sequence","list":[64513]}],"length":1},"origin":"IGP","valid":true,
"extendedCommunity":{"string":"RT:64513:1 LB:65000:125000 (1.000 Mbps)"},
"nexthops":[{"ip":"198.18.0.11","afi":"ipv4"}],"peer":{"peerId":"198.18.0.11","type":"external"}},
{"aspath":{"string":"64513","segments":[{"type":"as-sequence","list":[64513]}],"length":1},"origin":"IGP","valid":true,
"nexthops":[{"ip":"198.18.0.13","afi":"ipv4"}],"peer":{"peerId":"198.18.0.13","type":"external"}}]}`
	paths, err := ParseBGPPaths(path)
	if err != nil || len(paths) != 3 {
		t.Fatalf("parse: %v %+v", err, paths)
	}
	for i, want := range []struct {
		as uint32
		bw uint64
	}{{64513, 375000}, {65000, 125000}, {0, 0}} {
		if p := paths[i]; p.LinkBandwidthAS != want.as || p.LinkBandwidth != want.bw {
			t.Errorf("path %d (%q): link bandwidth %d:%d, want %d:%d", i, p.ExtendedCommunities, p.LinkBandwidthAS, p.LinkBandwidth, want.as, want.bw)
		}
	}

	route := `{"198.18.117.0/32":[{"prefix":"198.18.117.0/32","protocol":"bgp","selected":true,"installed":true,
"nexthops":[{"flags":3,"fib":true,"ip":"198.18.0.11","afi":"ipv4","interfaceName":"ilbqbd-eth0","active":true,"weight":25},
{"flags":3,"fib":true,"ip":"198.18.0.12","afi":"ipv4","interfaceName":"ilbqbd-eth0","active":true,"weight":75}]}]}`
	hops, err := ParseRoutes(route)
	if err != nil || len(hops) != 2 || hops[0].Weight != 25 || hops[1].Weight != 75 {
		t.Errorf("ParseRoutes = %+v, %v; want weights 25 and 75", hops, err)
	}
}
