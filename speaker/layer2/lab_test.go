package layer2

import (
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ironlb/ironlb/internal/ndpframe"
	"github.com/ironlb/ironlb/internal/netnstest"
	"github.com/ironlb/ironlb/internal/testenv"
)

// The tests run the Announcer against the real kernel: each test builds its
// own network namespaces ("node", "client", ...) joined by veth pairs, runs
// the Announcer in a node namespace and asks from a client namespace with
// the kernel's tools (arping, ip neigh) and Neighbor Solicitations of their own
// (ndpframe.Solicit). They need root.

// labPrefix starts every namespace name (see netnstest).
const labPrefix = "ironlb-l2t-"

// Fixed per-segment addresses (each test has its own segment).
const (
	nodeMAC   = "02:00:00:00:50:01"
	clientMAC = "02:00:00:00:50:02"
	otherMAC  = "02:00:00:00:50:99" // a MAC nobody has
	clientV4  = "198.18.50.2/24"
	nodeV4    = "198.18.50.1/24"
	clientV6  = "2001:db8:50::2/64"
	nodeV6    = "2001:db8:50::1/64"
)

type lab struct {
	*netnstest.Lab
	t *testing.T
}

// newLab skips under -short and otherwise insists on what the tests need.
func newLab(t *testing.T) *lab {
	t.Helper()
	if testing.Short() {
		t.Skip("needs root and network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Fatal("these tests need root (network namespaces, packet sockets); use -short to skip them")
	}
	return &lab{Lab: netnstest.New(t, labPrefix), t: t}
}

func (l *lab) ns(role string) string              { l.t.Helper(); return l.Namespace(role) }
func (l *lab) run(args ...string) string          { l.t.Helper(); return l.Run(args...) }
func (l *lab) try(args ...string) (string, error) { return l.Try(args...) }
func (l *lab) in(ns string, fn func())            { l.t.Helper(); l.In(ns, fn) }

// segment is a node and a client namespace joined by a veth pair n0 <-> c0.
type segment struct {
	*lab
	node, client string
}

// newSegment builds node and client. The node gets addresses like a real
// node would, unless bare is set (then it has no IPv4 address, and no IPv6
// link-local either when noLinkLocal is set too).
func newSegment(t *testing.T, bare, noLinkLocal bool) *segment {
	l := newLab(t)
	s := &segment{lab: l, node: l.ns("node"), client: l.ns("client")}
	s.run("ip", "-n", s.node, "link", "add", "n0", "address", nodeMAC, "type", "veth",
		"peer", "name", "c0", "address", clientMAC, "netns", s.client)
	if noLinkLocal {
		s.run("ip", "-n", s.node, "link", "set", "n0", "addrgenmode", "none")
	}
	if !bare {
		s.run("ip", "-n", s.node, "addr", "add", nodeV4, "dev", "n0")
		s.run("ip", "-n", s.node, "addr", "add", nodeV6, "dev", "n0", "nodad")
	}
	s.run("ip", "-n", s.client, "addr", "add", clientV4, "dev", "c0")
	s.run("ip", "-n", s.client, "addr", "add", clientV6, "dev", "c0", "nodad")
	s.run("ip", "-n", s.node, "link", "set", "n0", "up")
	s.run("ip", "-n", s.client, "link", "set", "c0", "up")
	s.waitIPv6Ready(s.client, "c0")
	if !noLinkLocal {
		s.waitIPv6Ready(s.node, "n0")
	}
	return s
}

// waitIPv6Ready waits until the kernel has set IPv6 up on a link that just
// came up (carrier, link-local route, multicast route); before that, sending
// NDP fails with "network unreachable".
func (l *lab) waitIPv6Ready(ns, dev string) {
	l.t.Helper()
	ready := func() bool {
		out, _ := l.try("ip", "-n", ns, "-6", "route", "show", "table", "all", "dev", dev)
		return strings.Contains(out, "ff00::/8") && strings.Contains(out, "fe80::/64")
	}
	if !waitFor(5*time.Second, ready) {
		l.t.Fatalf("IPv6 on %s in %s did not come up", dev, ns)
	}
}

// announcer starts an Announcer inside ns and closes it before the
// namespaces go.
func (l *lab) announcer(ns string, o Options) *Announcer {
	l.t.Helper()
	var a *Announcer
	l.in(ns, func() { a = New(o) })
	l.t.Cleanup(func() { a.Close() })
	return a
}

// arping asks for ip from the client and returns the MAC that answered, or
// "" if none did within a second.
func (s *segment) arping(ip string) string {
	out, err := s.try("ip", "netns", "exec", s.client, "arping", "-r", "-C", "1", "-c", "1", "-w", "1", "-i", "c0", ip)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// solicit asks for ip from the client's c0 with one Neighbor Solicitation and returns
// the MAC that answered, or "" if none did within half a second.
func (s *segment) solicit(ip string) string { return s.solicitOn("c0", ip) }

// solicitOn is solicit from the client's dev. It is not ndisc6, which drops an
// advertisement of a global address from a link-local source, the source RFC 4861 has
// the speaker use.
func (s *segment) solicitOn(dev, ip string) string {
	s.t.Helper()
	var macs []net.HardwareAddr
	var err error
	s.in(s.client, func() { macs, err = ndpframe.Solicit(dev, netip.MustParseAddr(ip), 500*time.Millisecond) })
	if err != nil {
		s.t.Fatalf("solicit %s on %s: %v", ip, dev, err)
	}
	if len(macs) == 0 {
		return ""
	}
	return macs[0].String()
}

// neigh returns the client's neighbour entry for ip ("" if none), e.g.
// "198.18.50.10 dev c0 lladdr 02:00:00:00:50:01 STALE".
func (s *segment) neigh(ip string) string {
	return strings.TrimSpace(s.run("ip", "-n", s.client, "neigh", "show", ip, "dev", "c0"))
}

// waitFor polls cond every 20ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	return testenv.Poll(d, 20*time.Millisecond, cond)
}

// poke sends one UDP datagram from the client to ip, which makes the
// client's kernel resolve (or re-check) ip like any application would.
func (s *segment) poke(ip string) {
	s.t.Helper()
	s.in(s.client, func() {
		c, err := net.Dial("udp", net.JoinHostPort(ip, "9"))
		if err != nil {
			s.t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("x")); err != nil {
			s.t.Fatal(err)
		}
	})
}

// testLogger sends the Announcer's log to the test's log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
