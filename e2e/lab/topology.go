package lab

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/ironlb/ironlb/e2e/lab/host"
)

// Node is a lab node: a network namespace on the bridge running kube-proxy (and later a
// speaker), with a Node object of the same name.
type Node struct {
	// Name is the Kubernetes node name ("node-1").
	Name string
	// Index is the node's 1-based number; it picks its addresses.
	Index int
	// Netns is the node's network namespace.
	Netns string
	// Link is the node's interface on the bridge (inside Netns).
	Link string
	// SwitchPort is the other end of Link, a port of the bridge (in the switch namespace).
	SwitchPort string
	// IPv4 and IPv6 are the node's addresses on the bridge (its InternalIPs).
	IPv4, IPv6 netip.Addr
	// MAC is Link's hardware address.
	MAC string
	// PodCIDRv4 and PodCIDRv6 are the node's pod networks.
	PodCIDRv4, PodCIDRv6 netip.Prefix
	// Labels are the Node object's labels.
	Labels map[string]string
}

// Client is a client namespace with one interface.
type Client struct {
	Netns      string
	Link       string
	IPv4, IPv6 netip.Addr
	MAC        string
}

// Router is the router namespace, on the bridge and in front of the BGP client's network.
type Router struct {
	Netns string
	// IPv4 and IPv6 are the router's addresses on the bridge, the nodes' BGP peer addresses.
	IPv4, IPv6 netip.Addr
	// BackIPv4 and BackIPv6 are its addresses on the BGP client's network.
	BackIPv4, BackIPv6 netip.Addr
	// ASN is the router's autonomous system number.
	ASN uint32
	// FRRName is the FRR pathspace (vtysh -N FRRName).
	FRRName string
}

// name returns a lab-wide name: PREFIX-suffix (at most 15 characters for links).
func (l *Lab) name(suffix string) string { return l.Prefix + "-" + suffix }

// switchNS is the namespace holding the bridge. Keeping the bridge out of the host keeps the
// host's own bridge netfilter hooks and firewall out of the lab's L2 segment.
func (l *Lab) switchNS() string { return l.name("sw") }
func (l *Lab) bridge() string   { return l.name("br") }

// hostLink is the host's interface on the bridge; the API server listens on its address.
func (l *Lab) hostLink() string { return l.name("host") }

// uplink is the name every namespace gives its interface towards the bridge (or router).
func (l *Lab) uplink() string { return l.name("eth0") }

// baseSysctls are set in every namespace before its interfaces appear: IPv6 addresses are
// usable at once (no duplicate address detection, which would hold them for a second or
// more) and no interface configures itself from router advertisements.
var baseSysctls = map[string]string{
	"net/ipv6/conf/all/accept_dad":     "0",
	"net/ipv6/conf/default/accept_dad": "0",
	"net/ipv6/conf/all/accept_ra":      "0",
	"net/ipv6/conf/default/accept_ra":  "0",
	"net/ipv4/conf/all/rp_filter":      "0",
	"net/ipv4/conf/default/rp_filter":  "0",
}

// forwardingSysctls turn a namespace into a router (nodes and the router).
var forwardingSysctls = map[string]string{
	"net/ipv4/ip_forward":              "1",
	"net/ipv6/conf/all/forwarding":     "1",
	"net/ipv6/conf/default/forwarding": "1",
}

// addNetns creates a namespace with its loopback up and the base sysctls.
func (l *Lab) addNetns(ctx context.Context, netns string, extra ...map[string]string) error {
	if err := host.IP(ctx, "", "netns", "add", netns); err != nil {
		return err
	}
	if err := host.IP(ctx, netns, "link", "set", "lo", "up"); err != nil {
		return err
	}
	if err := host.SetSysctls(netns, baseSysctls); err != nil {
		return err
	}
	for _, kv := range extra {
		if err := host.SetSysctls(netns, kv); err != nil {
			return err
		}
	}
	return nil
}

// plug connects netns to the bridge: a veth pair whose inside end is l.uplink() (with the
// given MAC and addresses) and whose switch end (PREFIX-s-SUFFIX) is a bridge port.
func (l *Lab) plug(ctx context.Context, netns, suffix, mac string, addrs ...netip.Prefix) (switchPort string, err error) {
	switchPort = l.name("s-" + suffix)
	if err := host.IPAll(ctx, l.switchNS(),
		[]string{"link", "add", switchPort, "type", "veth", "peer", "name", l.uplink(), "netns", netns},
		[]string{"link", "set", switchPort, "master", l.bridge()},
		[]string{"link", "set", switchPort, "up"},
	); err != nil {
		return "", err
	}
	return switchPort, l.configureLink(ctx, netns, l.uplink(), mac, addrs...)
}

// configureLink sets a link's MAC and addresses (IPv6 without DAD) and brings it up.
func (l *Lab) configureLink(ctx context.Context, netns, link, mac string, addrs ...netip.Prefix) error {
	cmds := [][]string{{"link", "set", link, "address", mac}}
	for _, a := range addrs {
		if err := checkLabAddr(a.Addr()); err != nil {
			return err
		}
		c := []string{"addr", "add", a.String(), "dev", link}
		if a.Addr().Is6() {
			c = append(c, "nodad")
		}
		cmds = append(cmds, c)
	}
	cmds = append(cmds, []string{"link", "set", link, "up"})
	return host.IPAll(ctx, netns, cmds...)
}

// buildTopology creates the switch, the host's link, the nodes, the clients and the router
// with the BGP client's network behind it.
func (l *Lab) buildTopology(ctx context.Context) error {
	for _, step := range []func(context.Context) error{l.buildSwitch, l.buildNodes, l.buildL2Client, l.buildRouter} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// buildSwitch creates the switch (a bridge in a namespace of its own) and plugs the host
// into it.
func (l *Lab) buildSwitch(ctx context.Context) error {
	sw := l.switchNS()
	if err := l.addNetns(ctx, sw, map[string]string{"net/ipv6/conf/default/disable_ipv6": "1"}); err != nil {
		return err
	}
	if err := host.IPAll(ctx, sw,
		[]string{"link", "add", l.bridge(), "type", "bridge", "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0"},
		[]string{"link", "set", l.bridge(), "up"},
	); err != nil {
		return err
	}

	// The host joins the segment so the node namespaces reach the API server on hostV4.
	hostPort := l.name("s-host")
	if err := host.IPAll(ctx, "",
		[]string{"link", "add", l.hostLink(), "type", "veth", "peer", "name", hostPort, "netns", sw},
	); err != nil {
		return err
	}
	if err := host.IPAll(ctx, sw, []string{"link", "set", hostPort, "master", l.bridge()}, []string{"link", "set", hostPort, "up"}); err != nil {
		return err
	}
	// The host gets IPv4 only: it needs nothing more, and its IPv6 setup stays untouched.
	if _, err := host.Run(ctx, "sysctl", "-q", "-w", "net.ipv6.conf."+l.hostLink()+".disable_ipv6=1"); err != nil {
		return err
	}
	if err := l.configureLink(ctx, "", l.hostLink(), macFor(hostV4), netip.PrefixFrom(hostV4, 24)); err != nil {
		return err
	}

	return nil
}

// buildNodes creates the node namespaces, plugs them into the switch and routes them.
func (l *Lab) buildNodes(ctx context.Context) error {
	for _, n := range l.Nodes {
		if err := l.addNetns(ctx, n.Netns, forwardingSysctls); err != nil {
			return err
		}
		port, err := l.plug(ctx, n.Netns, fmt.Sprintf("n%d", n.Index), n.MAC, netip.PrefixFrom(n.IPv4, 24), netip.PrefixFrom(n.IPv6, 64))
		if err != nil {
			return err
		}
		n.SwitchPort = port
	}
	for _, n := range l.Nodes {
		if err := l.nodeRoutes(ctx, n); err != nil {
			return err
		}
		// Pods that are containers reach the API server (on the host) through its
		// ClusterIP, which kube-proxy turns into the host's address without masquerading;
		// the host routes the answers back through their node. The routes go with the
		// host's link when the lab is removed.
		if l.opts.Cluster {
			if err := host.IPAll(ctx, "",
				[]string{"route", "add", n.PodCIDRv4.String(), "via", n.IPv4.String(), "dev", l.hostLink()},
			); err != nil {
				return err
			}
		}
	}

	return nil
}

// buildL2Client creates the client on the nodes' segment.
func (l *Lab) buildL2Client(ctx context.Context) error {
	c := l.L2Client
	if err := l.addNetns(ctx, c.Netns); err != nil {
		return err
	}
	if _, err := l.plug(ctx, c.Netns, "l2c", c.MAC, netip.PrefixFrom(c.IPv4, 24), netip.PrefixFrom(c.IPv6, 64)); err != nil {
		return err
	}
	// The pool ranges are on-link for the L2 client, so it asks the segment (ARP, NDP) who
	// has a LoadBalancer address, as a host in the nodes' subnet does.
	if err := host.IPAll(ctx, c.Netns,
		[]string{"route", "add", PoolCIDRv4, "dev", c.Link},
		[]string{"route", "add", LargePoolCIDRv4, "dev", c.Link},
		[]string{"-6", "route", "add", PoolCIDRv6, "dev", c.Link},
		[]string{"-6", "route", "add", LargePoolCIDRv6, "dev", c.Link},
	); err != nil {
		return err
	}

	return nil
}

// buildRouter creates the router on the segment and the BGP client behind it.
func (l *Lab) buildRouter(ctx context.Context) error {
	r := l.Router
	if err := l.addNetns(ctx, r.Netns, forwardingSysctls); err != nil {
		return err
	}
	if _, err := l.plug(ctx, r.Netns, "rtr", macFor(r.IPv4), netip.PrefixFrom(r.IPv4, 24), netip.PrefixFrom(r.IPv6, 64)); err != nil {
		return err
	}
	b := l.BGPClient
	if err := l.addNetns(ctx, b.Netns); err != nil {
		return err
	}
	back := l.name("eth1")
	if err := host.IP(ctx, r.Netns, "link", "add", back, "type", "veth", "peer", "name", b.Link, "netns", b.Netns); err != nil {
		return err
	}
	if err := l.configureLink(ctx, r.Netns, back, macFor(r.BackIPv4), netip.PrefixFrom(r.BackIPv4, 24), netip.PrefixFrom(r.BackIPv6, 64)); err != nil {
		return err
	}
	if err := l.configureLink(ctx, b.Netns, b.Link, b.MAC, netip.PrefixFrom(b.IPv4, 24), netip.PrefixFrom(b.IPv6, 64)); err != nil {
		return err
	}
	// The BGP client sends everything to the router; the router has no default route, so
	// nothing can leave the lab.
	return host.IPAll(ctx, b.Netns,
		[]string{"route", "add", "default", "via", r.BackIPv4.String()},
		[]string{"-6", "route", "add", "default", "via", r.BackIPv6.String()},
	)
}

// nodeRoutes gives a node routes to the other nodes' pod networks (so traffic kube-proxy
// sends to a pod elsewhere crosses the bridge, as with a flat pod network) and to the BGP
// client's network through the router (return traffic of the BGP path).
func (l *Lab) nodeRoutes(ctx context.Context, n *Node) error {
	var cmds [][]string
	for _, o := range l.Nodes {
		if o == n || !o.HasPodNetwork() {
			continue
		}
		cmds = append(cmds,
			[]string{"route", "add", o.PodCIDRv4.String(), "via", o.IPv4.String()},
			[]string{"-6", "route", "add", o.PodCIDRv6.String(), "via", o.IPv6.String()},
		)
	}
	if l.opts.Cluster {
		// hostNetwork pods (the speaker) reach the API server through its ClusterIP, like
		// every in-cluster client; the route only lets the connect start, kube-proxy's
		// OUTPUT rules then send it to the host.
		cmds = append(cmds,
			[]string{"route", "add", ServiceCIDRv4, "via", hostV4.String()},
			[]string{"-6", "route", "add", ServiceCIDRv6, "dev", l.uplink()},
		)
	}
	cmds = append(cmds,
		[]string{"route", "add", behindV4, "via", l.Router.IPv4.String()},
		[]string{"-6", "route", "add", behindV6, "via", l.Router.IPv6.String()},
	)
	return host.IPAll(ctx, n.Netns, cmds...)
}
