package layer2

import (
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// VLAN trunks. Before a packet socket bound to an interface sees a frame that arrived
// tagged, the kernel has stripped the tag (into metadata): so a listener on the parent of
// a trunk gets the requests of every VLAN on it looking untagged, and answering them
// would send an untagged reply onto the native VLAN, where the asker is not. A frame
// tagged with a VLAN the node has no interface for is handed over as PACKET_OTHERHOST;
// one for a VLAN it has an interface for is handed over with that interface as its
// device. Neither is answered on the parent: the VLAN's own interface answers it, when
// it is selected, or nobody does.
//
// This test's kernel may lack 802.1Q interfaces (CONFIG_VLAN_8021Q), so the client sends
// the tagged requests as raw frames, and the node has no interface for their VLAN.

func TestTaggedRequestsAreNotAnsweredUntagged(t *testing.T) {
	t.Parallel()
	s := newSegment(t, false, false)
	o := quiet
	o.Metrics = NewMetrics(nil)
	a := s.announcer(s.node, o)
	if err := a.SetOwned(map[netip.Addr][]string{svcV4: {"n0"}, svcV6: {"n0"}}); err != nil {
		t.Fatal(err)
	}
	c := s.rawClient(t)
	for _, ip := range []netip.Addr{svcV4, svcV6} {
		replies := o.Metrics.replies.WithLabelValues(familyOf(ip).String())
		// Untagged, the request is the native VLAN's and is answered (this also shows
		// the raw frames are good requests).
		if !waitFor(3*time.Second, func() bool { return c.ask(t, c.request(t, ip, 0), ip) != nil }) {
			t.Fatalf("the untagged request for %s was not answered", ip)
		}
		time.Sleep(200 * time.Millisecond) // the node counts its reply just after sending it
		for _, vlan := range []uint16{100, 200} {
			before := testutil.ToFloat64(replies)
			if c.ask(t, c.request(t, ip, vlan), ip) != nil {
				t.Errorf("a request for %s tagged with VLAN %d was answered on the untagged parent", ip, vlan)
			}
			if sent := testutil.ToFloat64(replies) - before; sent != 0 {
				t.Errorf("a request for %s tagged with VLAN %d: the node sent %v replies, want none", ip, vlan, sent)
			}
		}
	}
}
