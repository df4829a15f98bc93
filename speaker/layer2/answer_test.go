package layer2

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

var (
	svcV4      = netip.MustParseAddr("198.18.50.10")
	svcV6      = netip.MustParseAddr("2001:db8:50::10")
	otherSvcV4 = netip.MustParseAddr("198.18.50.11")
	otherSvcV6 = netip.MustParseAddr("2001:db8:50::11")
)

// quiet turns off everything that sends without being asked, so a test sees
// only answers.
var quiet = Options{GratuitousCount: -1, RefreshInterval: -1}

func TestAnswersOwnedIPsOnly(t *testing.T) {
	t.Parallel()
	s := newSegment(t, false, false)
	o := quiet
	o.Metrics = NewMetrics(nil)
	a := s.announcer(s.node, o)
	if err := a.SetOwned(map[netip.Addr][]string{svcV4: {"n0"}, svcV6: {"n0"}}); err != nil {
		t.Fatal(err)
	}

	if got := s.arping(svcV4.String()); got != nodeMAC {
		t.Errorf("arping %s = %q, want %s", svcV4, got, nodeMAC)
	}
	if got := s.solicit(svcV6.String()); got != nodeMAC {
		t.Errorf("solicit %s = %q, want %s", svcV6, got, nodeMAC)
	}
	if got := s.arping(otherSvcV4.String()); got != "" {
		t.Errorf("arping %s (not owned) answered by %s", otherSvcV4, got)
	}
	if got := s.solicit(otherSvcV6.String()); got != "" {
		t.Errorf("solicit %s (not owned) answered by %s", otherSvcV6, got)
	}

	// The client's own kernel resolves the IPs to the node when it sends.
	for _, ip := range []string{svcV4.String(), svcV6.String()} {
		s.poke(ip)
		if !waitFor(2*time.Second, func() bool { return strings.Contains(s.neigh(ip), "lladdr "+nodeMAC) }) {
			t.Errorf("client neighbour entry for %s = %q, want lladdr %s", ip, s.neigh(ip), nodeMAC)
		}
	}

	// The IPs are answered for, never configured.
	addrs := s.run("ip", "-n", s.node, "addr")
	for _, ip := range []string{svcV4.String(), svcV6.String()} {
		if strings.Contains(addrs, ip) {
			t.Errorf("%s was added to an interface:\n%s", ip, addrs)
		}
	}

	for _, f := range []string{"ipv4", "ipv6"} {
		if n := testutil.ToFloat64(o.Metrics.requests.WithLabelValues(f)); n < 2 {
			t.Errorf("%s requests received = %v, want >= 2", f, n)
		}
		if n := testutil.ToFloat64(o.Metrics.replies.WithLabelValues(f)); n < 2 {
			t.Errorf("%s replies sent = %v, want >= 2", f, n)
		}
	}
	if n := testutil.ToFloat64(o.Metrics.owned); n != 2 {
		t.Errorf("owned IPs gauge = %v, want 2", n)
	}
}

func TestStopsAnsweringWhenIPIsDropped(t *testing.T) {
	t.Parallel()
	s := newSegment(t, false, false)
	a := s.announcer(s.node, quiet)
	both := map[netip.Addr][]string{svcV4: {"n0"}, svcV6: {"n0"}}
	if err := a.SetOwned(both); err != nil {
		t.Fatal(err)
	}
	if s.arping(svcV4.String()) != nodeMAC || s.solicit(svcV6.String()) != nodeMAC {
		t.Fatal("not answering before the drop")
	}

	if err := a.SetOwned(nil); err != nil {
		t.Fatal(err)
	}
	if len(a.listeners) != 0 {
		t.Errorf("interfaces still open with no IP owned: %v", a.listeners)
	}
	if got := s.arping(svcV4.String()); got != "" {
		t.Errorf("arping %s answered by %s right after the IP was dropped", svcV4, got)
	}
	if got := s.solicit(svcV6.String()); got != "" {
		t.Errorf("solicit %s answered by %s right after the IP was dropped", svcV6, got)
	}

	// Taking it back works (the interface was closed and is opened again).
	if err := a.SetOwned(both); err != nil {
		t.Fatal(err)
	}
	if s.arping(svcV4.String()) != nodeMAC || s.solicit(svcV6.String()) != nodeMAC {
		t.Error("not answering after taking the IPs back")
	}
}

// A client re-checking a cache entry (NUD: STALE -> DELAY -> PROBE) sends
// its solicitation unicast to the MAC it has. For IPv6 the kernel of the
// node would drop that packet (the IP is not local), so the Announcer must
// catch it on its packet socket, or the client marks the entry FAILED.
func TestAnswersUnicastProbes(t *testing.T) {
	t.Parallel()
	s := newSegment(t, false, false)
	s.run("ip", "netns", "exec", s.client, "sysctl", "-qw",
		"net.ipv4.neigh.c0.delay_first_probe_time=1", "net.ipv6.neigh.c0.delay_first_probe_time=1")
	o := quiet
	o.Metrics = NewMetrics(nil)
	a := s.announcer(s.node, o)
	if err := a.SetOwned(map[netip.Addr][]string{svcV4: {"n0"}, svcV6: {"n0"}}); err != nil {
		t.Fatal(err)
	}
	for _, ip := range []string{svcV4.String(), svcV6.String()} {
		s.run("ip", "-n", s.client, "neigh", "replace", ip, "lladdr", nodeMAC, "dev", "c0", "nud", "stale")
		s.poke(ip)
	}
	for _, ip := range []string{svcV4.String(), svcV6.String()} {
		if !waitFor(3*time.Second, func() bool { return strings.HasSuffix(s.neigh(ip), "REACHABLE") }) {
			t.Errorf("after a unicast probe the client's entry is %q, want REACHABLE", s.neigh(ip))
		}
	}
	for _, f := range []string{"ipv4", "ipv6"} {
		if n := testutil.ToFloat64(o.Metrics.requests.WithLabelValues(f)); n < 1 {
			t.Errorf("%s: no unicast probe was received", f)
		}
	}
}

// A host that tries to configure an owned IP itself is told it is taken:
// the kernel's IPv6 Duplicate Address Detection (NS from ::) gets an NA on
// all-nodes and marks its address dadfailed, and an RFC 5227 ARP probe
// (sender 0.0.0.0) gets a reply.
func TestDefendsOwnedIPs(t *testing.T) {
	t.Parallel()
	s := newSegment(t, false, false)
	a := s.announcer(s.node, quiet)
	if err := a.SetOwned(map[netip.Addr][]string{svcV4: {"n0"}, svcV6: {"n0"}}); err != nil {
		t.Fatal(err)
	}
	out, err := s.try("ip", "netns", "exec", s.client, "arping", "-0", "-r", "-C", "1", "-c", "1", "-w", "1", "-i", "c0", svcV4.String())
	if err != nil || strings.TrimSpace(out) != nodeMAC {
		t.Errorf("ARP probe for %s: %q, %v; want an answer from %s", svcV4, out, err, nodeMAC)
	}

	s.run("ip", "netns", "exec", s.client, "sysctl", "-qw", "net.ipv6.conf.c0.accept_dad=1")
	s.run("ip", "-n", s.client, "addr", "add", svcV6.String()+"/64", "dev", "c0")
	dadFailed := func() bool {
		return strings.Contains(s.run("ip", "-n", s.client, "addr", "show", "dev", "c0"), "dadfailed")
	}
	if !waitFor(3*time.Second, dadFailed) {
		t.Errorf("client's DAD for %s did not fail:\n%s", svcV6, s.run("ip", "-n", s.client, "addr", "show", "dev", "c0"))
	}
}
