package layer2

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Neighbor Advertisements, solicited or not, come from the sending interface's
// link-local address (RFC 4861 7.2.4), and from the advertised address only when the
// interface has no IPv6 address; the client's kernel learns the address either way
// (TestAnswersOwnedIPsOnly, TestTakeoverUpdatesClientCaches).
func TestAdvertisementsComeFromTheInterface(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		noLinkLocal bool
	}{{"link-local", false}, {"no IPv6 address", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSegment(t, tc.noLinkLocal, tc.noLinkLocal)
			want := svcV6
			if !tc.noLinkLocal {
				want = s.linkLocal(s.node, "n0")
			}
			c := s.rawClient(t)
			o := quiet
			o.GratuitousCount = 3 // one may go out before the fresh link passes frames
			a := s.announcer(s.node, o)
			if err := a.SetOwned(map[netip.Addr][]string{svcV6: {"n0"}}); err != nil {
				t.Fatal(err)
			}
			unsolicited := c.answer(t, svcV6, 3*time.Second)
			if unsolicited == nil {
				t.Fatal("no unsolicited Neighbor Advertisement on takeover")
			}
			if got := ipv6Source(unsolicited); got != want {
				t.Errorf("unsolicited advertisement from %s, want %s", got, want)
			}
			solicited := c.ask(t, c.request(t, svcV6, 0), svcV6)
			if solicited == nil {
				t.Fatal("the solicitation was not answered")
			}
			if got := ipv6Source(solicited); got != want {
				t.Errorf("solicited advertisement from %s, want %s", got, want)
			}
		})
	}
}

// linkLocal is the link-local address of dev in ns.
func (l *lab) linkLocal(ns, dev string) netip.Addr {
	l.t.Helper()
	for _, f := range strings.Fields(l.run("ip", "-n", ns, "-6", "-o", "addr", "show", "dev", dev, "scope", "link")) {
		if p, err := netip.ParsePrefix(f); err == nil {
			return p.Addr()
		}
	}
	l.t.Fatalf("%s in %s has no link-local address", dev, ns)
	return netip.Addr{}
}
