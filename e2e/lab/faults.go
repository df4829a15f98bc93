package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/ironlb/ironlb/e2e/lab/host"
)

// LinkDown cuts a node's cable: its port on the bridge goes down, so the node loses carrier
// but keeps its addresses and routes, as when a switch port or NIC fails. (Taking the node's
// own interface down would instead remove its routes, which a real failure does not.)
func (l *Lab) LinkDown(ctx context.Context, node string) error {
	n := l.Node(node)
	if n == nil {
		return fmt.Errorf("link down: no node %q", node)
	}
	return host.IP(ctx, l.switchNS(), "link", "set", n.SwitchPort, "down")
}

// LinkUp reconnects a node cut by LinkDown and returns once the node reaches the host (the
// API server's address) again. While the cable was out the node's neighbour entry for the
// host failed, and until it resolves anew a connection fails at once with "no route to
// host": a speaker started right after LinkUp would die on its first API request.
func (l *Lab) LinkUp(ctx context.Context, node string) error {
	n := l.Node(node)
	if n == nil {
		return fmt.Errorf("link up: no node %q", node)
	}
	if err := host.IP(ctx, l.switchNS(), "link", "set", n.SwitchPort, "up"); err != nil {
		return err
	}
	d, err := host.NewNSDialer(n.Netns)
	if err != nil {
		return err
	}
	defer d.Close()
	addr := net.JoinHostPort(hostV4.String(), strconv.Itoa(apiServerPort))
	return host.Poll(ctx, 10*time.Second, 50*time.Millisecond, node+" to reach "+addr+" after link up", func(ctx context.Context) (bool, error) {
		ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = c.Close()
			return true, nil
		}
		// A refusal (the API server stopped by a test) still proves the path works.
		return errors.Is(err, syscall.ECONNREFUSED), err
	})
}

// memberlistTable is the nftables table that BlockMemberlist adds inside a node namespace;
// kube-proxy's own tables are left alone.
const memberlistTable = "ironlb_lab_block"

// BlockMemberlist drops every TCP and UDP packet to or from port (the speakers' memberlist
// port) in a node's namespace, in both directions, so the node is cut from gossip while its
// API server connection, BGP and ARP/NDP keep working.
func (l *Lab) BlockMemberlist(ctx context.Context, node string, port int) error {
	n := l.Node(node)
	if n == nil {
		return fmt.Errorf("block memberlist: no node %q", node)
	}
	if port <= 0 || port > 65535 {
		return fmt.Errorf("block memberlist: bad port %d", port)
	}
	rules := fmt.Sprintf(`table inet %[1]s {
	chain input {
		type filter hook input priority -10; policy accept;
		tcp dport %[2]d drop
		udp dport %[2]d drop
		tcp sport %[2]d drop
		udp sport %[2]d drop
	}
	chain output {
		type filter hook output priority -10; policy accept;
		tcp dport %[2]d drop
		udp dport %[2]d drop
		tcp sport %[2]d drop
		udp sport %[2]d drop
	}
}
`, memberlistTable, port)
	file := filepath.Join(l.Dir, "nft-"+node+".conf")
	if err := os.WriteFile(file, []byte(rules), 0o644); err != nil {
		return err
	}
	// Replace any earlier block, so a second call with another port is not additive.
	_ = l.UnblockMemberlist(ctx, node)
	_, err := host.RunIn(ctx, n.Netns, "nft", "-f", file)
	return err
}

// UnblockMemberlist removes the rules of BlockMemberlist.
func (l *Lab) UnblockMemberlist(ctx context.Context, node string) error {
	n := l.Node(node)
	if n == nil {
		return fmt.Errorf("unblock memberlist: no node %q", node)
	}
	_, err := host.RunIn(ctx, n.Netns, "nft", "delete", "table", "inet", memberlistTable)
	return err
}
