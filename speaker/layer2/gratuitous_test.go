package layer2

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// On takeover the client's existing entries (here STALE, pointing at the old
// node's MAC) must move to the new node within a second without the client
// asking. Clients without an entry do not get one by default (arp_accept=0,
// accept_untracked_na=0); with those sysctls set they do.
func TestTakeoverUpdatesClientCaches(t *testing.T) {
	t.Parallel()
	s := newSegment(t, false, false)
	ips := []string{svcV4.String(), svcV6.String()}
	for _, ip := range ips {
		s.run("ip", "-n", s.client, "neigh", "replace", ip, "lladdr", otherMAC, "dev", "c0", "nud", "stale")
	}
	o := Options{Metrics: NewMetrics(nil), GratuitousInterval: 200 * time.Millisecond, RefreshInterval: -1}
	a := s.announcer(s.node, o)

	start := time.Now()
	owned := map[netip.Addr][]string{svcV4: {"n0"}, svcV6: {"n0"}, otherSvcV4: {"n0"}, otherSvcV6: {"n0"}}
	if err := a.SetOwned(owned); err != nil {
		t.Fatal(err)
	}
	for _, ip := range ips {
		if !waitFor(time.Second, func() bool { return strings.Contains(s.neigh(ip), "lladdr "+nodeMAC) }) {
			t.Errorf("client entry for %s after takeover = %q, want lladdr %s", ip, s.neigh(ip), nodeMAC)
		}
	}
	t.Logf("client caches moved after %v", time.Since(start).Round(time.Millisecond))

	// Let the burst finish: 3 packets per IP and family, 200ms apart.
	time.Sleep(500 * time.Millisecond)
	for _, f := range []string{"ipv4", "ipv6"} {
		if n := testutil.ToFloat64(o.Metrics.requests.WithLabelValues(f)); n != 0 {
			t.Errorf("%s: the client asked %v times; the update must come unasked", f, n)
		}
		if n := testutil.ToFloat64(o.Metrics.gratuitous.WithLabelValues(f)); n != 6 {
			t.Errorf("%s gratuitous packets sent = %v, want 6 (2 IPs x 3)", f, n)
		}
	}
	for _, ip := range []string{otherSvcV4.String(), otherSvcV6.String()} {
		if e := s.neigh(ip); e != "" {
			t.Errorf("client created an entry from a gratuitous packet by default: %q", e)
		}
	}

	// With arp_accept the client learns new IPv4 addresses too; for IPv6,
	// accept_untracked_na only works on a router (forwarding on), like the
	// lab's router namespace.
	s.run("ip", "netns", "exec", s.client, "sysctl", "-qw", "net.ipv4.conf.c0.arp_accept=1",
		"net.ipv6.conf.c0.forwarding=1", "net.ipv6.conf.c0.accept_untracked_na=1")
	third4, third6 := netip.MustParseAddr("198.18.50.12"), netip.MustParseAddr("2001:db8:50::12")
	owned[third4], owned[third6] = []string{"n0"}, []string{"n0"}
	if err := a.SetOwned(owned); err != nil {
		t.Fatal(err)
	}
	for _, ip := range []string{third4.String(), third6.String()} {
		if !waitFor(time.Second, func() bool { return strings.Contains(s.neigh(ip), "lladdr "+nodeMAC) }) {
			t.Errorf("with arp_accept/accept_untracked_na the client has %q for %s", s.neigh(ip), ip)
		}
	}
}

// The refresh re-announces owned IPs, so a cache that was pointed elsewhere
// after the takeover burst comes back.
func TestRefreshReannounces(t *testing.T) {
	t.Parallel()
	s := newSegment(t, false, false)
	a := s.announcer(s.node, Options{GratuitousCount: 1, RefreshInterval: 300 * time.Millisecond})
	if err := a.SetOwned(map[netip.Addr][]string{svcV4: {"n0"}, svcV6: {"n0"}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	for _, ip := range []string{svcV4.String(), svcV6.String()} {
		s.run("ip", "-n", s.client, "neigh", "replace", ip, "lladdr", otherMAC, "dev", "c0", "nud", "stale")
	}
	for _, ip := range []string{svcV4.String(), svcV6.String()} {
		if !waitFor(time.Second, func() bool { return strings.Contains(s.neigh(ip), "lladdr "+nodeMAC) }) {
			t.Errorf("refresh did not restore %s: %q", ip, s.neigh(ip))
		}
	}
}

// A client that asked while nobody owned the IP holds a FAILED entry. The
// gratuitous ARP repairs it; Linux ignores an unsolicited NA for a FAILED
// entry, so the IPv6 client recovers only when it asks again (and we answer).
func TestTakeoverAndFailedEntries(t *testing.T) {
	t.Parallel()
	s := newSegment(t, false, false)
	s.run("ip", "netns", "exec", s.client, "sysctl", "-qw",
		"net.ipv4.neigh.c0.retrans_time_ms=100", "net.ipv6.neigh.c0.retrans_time_ms=100")
	ips := []string{svcV4.String(), svcV6.String()}
	for _, ip := range ips {
		s.poke(ip)
	}
	for _, ip := range ips {
		if !waitFor(2*time.Second, func() bool { return strings.HasSuffix(s.neigh(ip), "FAILED") }) {
			t.Fatalf("client entry for %s = %q, want FAILED", ip, s.neigh(ip))
		}
	}
	a := s.announcer(s.node, Options{GratuitousInterval: 100 * time.Millisecond, RefreshInterval: -1})
	if err := a.SetOwned(map[netip.Addr][]string{svcV4: {"n0"}, svcV6: {"n0"}}); err != nil {
		t.Fatal(err)
	}
	if !waitFor(time.Second, func() bool { return strings.Contains(s.neigh(ips[0]), "lladdr "+nodeMAC) }) {
		t.Errorf("gratuitous ARP did not repair the FAILED entry: %q", s.neigh(ips[0]))
	}
	time.Sleep(300 * time.Millisecond) // the whole NA burst
	if e := s.neigh(ips[1]); !strings.HasSuffix(e, "FAILED") {
		t.Logf("note: this kernel updated a FAILED IPv6 entry from an unsolicited NA: %q", e)
	}
	s.poke(ips[1])
	if !waitFor(time.Second, func() bool { return strings.Contains(s.neigh(ips[1]), "lladdr "+nodeMAC) }) {
		t.Errorf("IPv6 client did not recover by asking: %q", s.neigh(ips[1]))
	}
}

// TestGratuitousPacketsArePaced: a takeover of many addresses goes out no faster than
// GratuitousRate, every packet still sent; the unbounded announcer sends the same at once.
func TestGratuitousPacketsArePaced(t *testing.T) {
	t.Parallel()
	s := newSegment(t, false, false)
	owned := map[netip.Addr][]string{}
	for i := range 40 {
		owned[netip.AddrFrom4([4]byte{198, 18, 51, byte(i + 1)})] = []string{"n0"}
	}
	took := func(rate float64) (time.Duration, float64) {
		o := Options{Metrics: NewMetrics(nil), GratuitousCount: 1, RefreshInterval: -1, GratuitousRate: rate}
		a := s.announcer(s.node, o)
		defer a.Close()
		start := time.Now()
		if err := a.SetOwned(owned); err != nil {
			t.Fatal(err)
		}
		return time.Since(start), testutil.ToFloat64(o.Metrics.gratuitous.WithLabelValues("ipv4"))
	}
	// 100/s with a burst of 10: the other 30 packets need at least 0.3 s.
	paced, sentPaced := took(100)
	free, sentFree := took(-1)
	t.Logf("40 gratuitous ARPs: %s at 100/s, %s unbounded", paced.Round(time.Millisecond), free.Round(time.Millisecond))
	if sentPaced != 40 || sentFree != 40 {
		t.Fatalf("sent %v paced and %v unbounded, want 40 each", sentPaced, sentFree)
	}
	if paced < 280*time.Millisecond {
		t.Errorf("40 packets at 100/s (burst 10) went out in %s, want at least 0.3 s", paced)
	}
}
