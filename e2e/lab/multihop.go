package lab

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ironlb/ironlb/e2e/lab/host"
)

// MultiHopASN is the AS of the multi-hop router (StartMultiHopRouter).
const MultiHopASN = 64514

// multiHopDaemons: no bfdd, since nothing tests BFD across the extra hop; zebra is there
// because bgpd validates next hops through it.
var multiHopDaemons = []string{"zebra", "bgpd"}

// StartMultiHopRouter starts a second BGP router and returns it: an FRR instance with its own
// pathspace (PREFIX-mh) inside the BGP client's namespace, so it answers on the BGP client's
// addresses (198.18.1.100, 2001:db8:1::100). That is one routed hop behind the lab router:
// packets from a node to it cross 198.18.0.254, where a TTL of 1 dies. Its neighbors, every
// node's IPv4 address with AS NodeASN, carry `ebgp-multihop`, so whether a session comes up
// depends on the speaker's own TTL, which is what a BGPPeer's ebgpMultiHop changes.
//
// It starts on demand because few tests need it and the default lab should stay quick to
// start; Stop removes it with the rest of the lab. A second call returns the running router.
func (l *Lab) StartMultiHopRouter(ctx context.Context) (*Router, error) {
	l.mu.Lock()
	r := l.MultiHop
	l.mu.Unlock()
	if r != nil {
		return r, nil
	}
	r = &Router{
		Netns: l.BGPClient.Netns, IPv4: l.BGPClient.IPv4, IPv6: l.BGPClient.IPv6,
		ASN: MultiHopASN, FRRName: l.name("mh"),
	}
	if err := l.startFRRInstance(ctx, r, l.multiHopConfig(r), multiHopDaemons); err != nil {
		return nil, fmt.Errorf("multi-hop router: %w", err)
	}
	err := host.Poll(ctx, 20*time.Second, 100*time.Millisecond, "the multi-hop router to list its BGP neighbors", func(ctx context.Context) (bool, error) {
		peers, err := r.BGPNeighbors(ctx)
		if err != nil {
			return false, err
		}
		if len(peers) < len(l.Nodes) {
			return false, fmt.Errorf("%d of %d neighbors configured", len(peers), len(l.Nodes))
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.MultiHop = r
	l.mu.Unlock()
	return r, nil
}

// multiHopConfig renders the multi-hop router's configuration. The nodes' next hops are
// reachable only through the BGP client's default route, which FRR does not use to resolve
// next hops unless told to (`nht resolve-via-default`); without it every path would be
// invalid.
func (l *Lab) multiHopConfig(r *Router) string {
	var b strings.Builder
	fmt.Fprintf(&b, "frr defaults traditional\nhostname %s\nlog file %s informational\n!\n", r.FRRName, l.frrLog(r))
	b.WriteString("ip nht resolve-via-default\nipv6 nht resolve-via-default\n!\n")
	fmt.Fprintf(&b, "router bgp %d\n bgp router-id %s\n", r.ASN, r.IPv4)
	b.WriteString(" no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n no bgp network import-check\n")
	b.WriteString(" bgp bestpath as-path multipath-relax\n")
	fmt.Fprintf(&b, " neighbor nodes peer-group\n neighbor nodes remote-as %d\n neighbor nodes ebgp-multihop 255\n neighbor nodes timers connect 5\n", l.opts.NodeASN)
	for _, n := range l.Nodes {
		fmt.Fprintf(&b, " neighbor %[1]s peer-group nodes\n neighbor %[1]s description %[2]s\n", n.IPv4, n.Name)
	}
	b.WriteString(" address-family ipv4 unicast\n  neighbor nodes activate\n  maximum-paths 16\n exit-address-family\nexit\n!\n")
	return b.String()
}
