package lab

import (
	"fmt"
	"net/netip"
)

// The address plan. Everything is fixed so logs, docs and tests read the same in every run;
// that is also why only one lab runs on a machine at a time.
//
//	198.18.0.0/24     2001:db8::/64      the bridge (L2 segment): host .1, nodes .11-.74, L2 client .100, router .254
//	198.18.1.0/24     2001:db8:1::/64    behind the router: router .1, BGP client .100
//	198.18.16.0/20    2001:db8:10::/48   pod networks: node i <= 15 owns 198.18.(16+i).0/24 and 2001:db8:10:i::/64
//	198.18.32.0/19    2001:db8:20::/112  Service ClusterIPs
//	198.18.100.0/22   2001:db8:100::/48  free for IPAddressPools of tests and the demo
//	198.19.0.0/16     2001:db8:ff00::/40 free for large pools (benchmarks)
//
// Both pool ranges are on-link for the L2 client (it resolves their addresses with ARP and
// NDP on the bridge); the BGP client reaches them only through routes the router learns.
//
// IPv6 host parts mirror the IPv4 ones as text (node 1 is 198.18.0.11 and 2001:db8::11) so a
// reader can match them at a glance.
//
// The scale plan: nodes 16 to 64 are on the bridge like the others but have no pod
// network, so they host no pods and cannot run a kubelet (process mode only). They run a
// speaker and kube-proxy, which is what memberlist, the router's BGP sessions and layer-2
// failover at 50 nodes need, without 50 pod networks the ranges above have no room for.
const (
	// PodNodes is the number of nodes the pod networks have room for (node-1 to node-15).
	PodNodes = 15
	// MaxNodes is the largest lab: the scale plan's nodes have no pod network.
	MaxNodes = 64

	// ClusterCIDRv4 and ClusterCIDRv6 cover every pod network (kube-proxy's clusterCIDR).
	ClusterCIDRv4 = "198.18.16.0/20"
	ClusterCIDRv6 = "2001:db8:10::/48"
	// ServiceCIDRv4 and ServiceCIDRv6 are the API server's --service-cluster-ip-range.
	ServiceCIDRv4 = "198.18.32.0/19"
	ServiceCIDRv6 = "2001:db8:20::/112"
	// PoolCIDRv4 and PoolCIDRv6 are free for the IPAddressPools of tests and the demo.
	PoolCIDRv4 = "198.18.100.0/22"
	PoolCIDRv6 = "2001:db8:100::/48"
	// LargePoolCIDRv4 and LargePoolCIDRv6 are free for benchmark pools.
	LargePoolCIDRv4 = "198.19.0.0/16"
	LargePoolCIDRv6 = "2001:db8:ff00::/40"

	segmentV4     = "198.18.0.0/24"
	segmentV6     = "2001:db8::/64"
	behindV4      = "198.18.1.0/24"
	behindV6      = "2001:db8:1::/64"
	apiServerPort = 6443
	// kubeProxyHealthPort is kube-proxy's default healthz port; each node has its own.
	kubeProxyHealthPort = 10256
	// PodPort is the port every lab pod serves HTTP on.
	PodPort = 8080
)

// Fixed addresses of the lab's machines.
var (
	hostV4        = netip.MustParseAddr("198.18.0.1")
	l2ClientV4    = netip.MustParseAddr("198.18.0.100")
	l2ClientV6    = netip.MustParseAddr("2001:db8::100")
	routerV4      = netip.MustParseAddr("198.18.0.254")
	routerV6      = netip.MustParseAddr("2001:db8::254")
	routerBackV4  = netip.MustParseAddr("198.18.1.1")
	routerBackV6  = netip.MustParseAddr("2001:db8:1::1")
	bgpClientV4   = netip.MustParseAddr("198.18.1.100")
	bgpClientV6   = netip.MustParseAddr("2001:db8:1::100")
	podGatewayV6  = netip.MustParseAddr("fe80::1")
	apiServiceV4  = netip.MustParseAddr("198.18.32.1")
	apiServiceV6  = netip.MustParseAddr("2001:db8:20::1")
	labV4, labV6  = netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("2001:db8::/32")
	allowedRanges = []netip.Prefix{labV4, labV6}
)

// nodeAddrs returns the bridge addresses of node i (1-based).
func nodeAddrs(i int) (netip.Addr, netip.Addr) {
	return netip.MustParseAddr(fmt.Sprintf("198.18.0.%d", 10+i)), netip.MustParseAddr(fmt.Sprintf("2001:db8::%d", 10+i))
}

// podCIDRs returns the pod networks of node i (1-based), or none (invalid prefixes) for a
// node of the scale plan (i > PodNodes).
func podCIDRs(i int) (netip.Prefix, netip.Prefix) {
	if i > PodNodes {
		return netip.Prefix{}, netip.Prefix{}
	}
	return netip.MustParsePrefix(fmt.Sprintf("198.18.%d.0/24", 16+i)), netip.MustParsePrefix(fmt.Sprintf("2001:db8:10:%d::/64", i))
}

// podGatewayV4 is the address every pod of node i uses as its IPv4 next hop: the node puts it
// on each of its pod veths (IPv6 uses the link-local fe80::1 instead).
func podGatewayV4(i int) netip.Addr {
	return netip.MustParseAddr(fmt.Sprintf("198.18.%d.1", 16+i))
}

// podAddrs returns the addresses of the k-th pod (k >= 2) on node i.
func podAddrs(i, k int) (netip.Addr, netip.Addr) {
	return netip.MustParseAddr(fmt.Sprintf("198.18.%d.%d", 16+i, k)), netip.MustParseAddr(fmt.Sprintf("2001:db8:10:%d::%d", i, k))
}

// macFor gives a lab machine a stable, locally administered MAC derived from its IPv4 address
// (02:00:c6:12:xx:yy), so ARP and NDP observations read back to a machine at a glance.
func macFor(a netip.Addr) string {
	b := a.As4()
	return fmt.Sprintf("02:00:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
}

// checkLabAddr refuses any address outside the lab's ranges, so a typo in a test can never
// send traffic to a real network.
func checkLabAddr(a netip.Addr) error {
	a = a.Unmap()
	for _, p := range allowedRanges {
		if p.Contains(a) {
			return nil
		}
	}
	return fmt.Errorf("address %s is outside the lab's ranges (198.18.0.0/15, 2001:db8::/32)", a)
}
