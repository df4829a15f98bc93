package layer2

import (
	"errors"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The node's interface needs no address of its own: ARP needs no IPv4
// address (arp.Dial would refuse such an interface) and NDP needs no IPv6
// address, not even a link-local one (answers come from the Service IP).
func TestAnswersOnInterfaceWithoutAddresses(t *testing.T) {
	t.Parallel()
	s := newSegment(t, true, true)
	if out := s.run("ip", "-n", s.node, "addr", "show", "dev", "n0"); strings.Contains(out, "inet") {
		t.Fatalf("node interface has addresses:\n%s", out)
	}
	a := s.announcer(s.node, quiet)
	if err := a.SetOwned(map[netip.Addr][]string{svcV4: {"n0"}, svcV6: {"n0"}}); err != nil {
		t.Fatal(err)
	}
	if got := s.arping(svcV4.String()); got != nodeMAC {
		t.Errorf("arping = %q, want %s", got, nodeMAC)
	}
	if got := s.solicit(svcV6.String()); got != nodeMAC {
		t.Errorf("solicit = %q, want %s", got, nodeMAC)
	}
}

// An interface that does not exist yet makes SetOwned report it, leaves the
// other interfaces working, and is retried until it appears (a VLAN or bond
// created after the speaker started).
func TestOpensInterfaceThatAppearsLater(t *testing.T) {
	t.Parallel()
	s := newSegment(t, false, false)
	a := s.announcer(s.node, quiet)
	err := a.SetOwned(map[netip.Addr][]string{svcV4: {"n0"}, svcV6: {"n0", "late0"}, otherSvcV4: {"late0"}})
	if err == nil || !strings.Contains(err.Error(), "ARP on late0") || !strings.Contains(err.Error(), "NDP on late0") {
		t.Fatalf("SetOwned error = %v, want one about ARP and NDP on late0", err)
	}
	t.Logf("SetOwned: %v", err)
	if s.arping(svcV4.String()) != nodeMAC || s.solicit(svcV6.String()) != nodeMAC {
		t.Error("n0 broken by the missing late0")
	}

	const lateMAC = "02:00:00:00:50:03"
	s.run("ip", "-n", s.node, "link", "add", "late0", "address", lateMAC, "type", "veth",
		"peer", "name", "c1", "netns", s.client)
	s.run("ip", "-n", s.node, "link", "set", "late0", "up")
	s.run("ip", "-n", s.client, "addr", "add", "198.18.51.2/24", "dev", "c1") // arping's source
	s.run("ip", "-n", s.client, "link", "set", "c1", "up")
	s.waitIPv6Ready(s.client, "c1")
	ask := func(tool, ip string) string {
		if tool == "ndp" {
			return s.solicitOn("c1", ip)
		}
		out, _ := s.try("ip", "netns", "exec", s.client, "arping", "-r", "-C", "1", "-c", "1", "-w", "1", "-i", "c1", ip)
		return strings.ToLower(strings.TrimSpace(out))
	}
	if !waitFor(6*time.Second, func() bool { return ask("arping", otherSvcV4.String()) == lateMAC }) {
		t.Error("ARP on late0 did not start after it appeared")
	}
	if !waitFor(6*time.Second, func() bool { return ask("ndp", svcV6.String()) == lateMAC }) {
		t.Error("NDP on late0 did not start after it appeared")
	}
}

// A link flap makes the sockets report ENETDOWN; answering resumes when the
// link is back, multicast memberships included.
func TestRecoversFromLinkFlap(t *testing.T) {
	t.Parallel()
	s := newSegment(t, false, false)
	o := quiet
	o.Logger = testLogger(t)
	a := s.announcer(s.node, o)
	if err := a.SetOwned(map[netip.Addr][]string{svcV4: {"n0"}, svcV6: {"n0"}}); err != nil {
		t.Fatal(err)
	}
	s.run("ip", "-n", s.node, "link", "set", "n0", "down")
	time.Sleep(300 * time.Millisecond)
	s.run("ip", "-n", s.node, "link", "set", "n0", "up")
	s.waitIPv6Ready(s.client, "c0")
	s.waitIPv6Ready(s.node, "n0")
	if !waitFor(4*time.Second, func() bool { return s.arping(svcV4.String()) == nodeMAC }) {
		t.Error("ARP did not recover after the link flap")
	}
	if !waitFor(4*time.Second, func() bool { return s.solicit(svcV6.String()) == nodeMAC }) {
		t.Error("NDP did not recover after the link flap")
	}
	if m := s.run("ip", "-n", s.node, "maddr", "show", "dev", "n0"); !strings.Contains(m, "33:33:ff:00:00:10") {
		t.Errorf("solicited-node group of %s lost after the link flap:\n%s", svcV6, m)
	}
}

// Close stops answering and every goroutine of the package exits. Not
// parallel: it counts goroutines.
func TestCloseStopsEverything(t *testing.T) {
	s := newSegment(t, false, false)
	var a *Announcer
	s.in(s.node, func() { a = New(Options{RefreshInterval: 100 * time.Millisecond}) })
	if err := a.SetOwned(map[netip.Addr][]string{svcV4: {"n0"}, svcV6: {"n0"}, otherSvcV4: {"missing0"}}); err == nil {
		t.Error("SetOwned with a missing interface returned no error")
	}
	if s.arping(svcV4.String()) != nodeMAC {
		t.Fatal("not answering before Close")
	}
	if n := packageGoroutines(); n == 0 {
		t.Fatal("no goroutines of the package found; the check below would prove nothing")
	}

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if n := packageGoroutines(); n != 0 {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines left after Close:\n%s", n, buf[:runtime.Stack(buf, true)])
	}
	if got := s.arping(svcV4.String()); got != "" {
		t.Errorf("still answering after Close: %s", got)
	}
	if err := a.SetOwned(map[netip.Addr][]string{svcV4: {"n0"}}); !errors.Is(err, ErrClosed) {
		t.Errorf("SetOwned after Close = %v, want ErrClosed", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// packageGoroutines counts goroutines running the Announcer's code.
func packageGoroutines() int {
	buf := make([]byte, 1<<20)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		for _, fn := range []string{"layer2.(*listener)", "layer2.(*Announcer)", "layer2.(*arpEndpoint)", "layer2.(*ndpEndpoint)"} {
			if strings.Contains(g, fn) {
				n++
				break
			}
		}
	}
	return n
}
