package layer2

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"
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

// taggedClient sends raw frames from the client's c0 and sees every frame arriving there.
type taggedClient struct {
	conn *packet.Conn
	mac  net.HardwareAddr
}

func (s *segment) taggedClient(t *testing.T) *taggedClient {
	t.Helper()
	var c *packet.Conn
	s.in(s.client, func() {
		ifi, err := net.InterfaceByName("c0")
		if err != nil {
			t.Fatal(err)
		}
		if c, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { _ = c.Close() })
	mac, _ := net.ParseMAC(clientMAC)
	return &taggedClient{conn: c, mac: mac}
}

// request builds the client's request for ip (ARP request or Neighbor Solicitation to the
// solicited-node group), tagged with vlan unless it is 0.
func (c *taggedClient) request(t *testing.T, ip netip.Addr, vlan uint16) []byte {
	t.Helper()
	var frame []byte
	var err error
	if ip.Is4() {
		var p *arp.Packet
		p, err = arp.NewPacket(arp.OperationRequest, c.mac, netip.MustParseAddr("198.18.50.2"), ethernet.Broadcast, ip)
		if err == nil {
			var payload []byte
			if payload, err = p.MarshalBinary(); err == nil {
				f := ethernet.Frame{Destination: ethernet.Broadcast, Source: c.mac, EtherType: ethernet.EtherTypeARP, Payload: payload}
				frame, err = f.MarshalBinary()
			}
		}
	} else {
		group, _ := ndp.SolicitedNodeMulticast(ip)
		g := group.As16()
		dst := net.HardwareAddr{0x33, 0x33, 0xff, g[13], g[14], g[15]}
		ns := &ndp.NeighborSolicitation{TargetAddress: ip, Options: []ndp.Option{
			&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: c.mac},
		}}
		frame, err = buildNDPFrame(c.mac, dst, netip.MustParseAddr("2001:db8:50::2"), group, ns)
	}
	if err != nil {
		t.Fatal(err)
	}
	if vlan == 0 {
		return frame
	}
	tagged := make([]byte, 0, len(frame)+4)
	tagged = append(tagged, frame[:12]...)
	tagged = binary.BigEndian.AppendUint16(tagged, 0x8100)
	tagged = binary.BigEndian.AppendUint16(tagged, vlan)
	return append(tagged, frame[12:]...)
}

// answered sends frame and reports whether an answer for ip reached c0 within a second:
// an ARP reply with ip as its sender, or a Neighbor Advertisement for ip.
func (c *taggedClient) answered(t *testing.T, frame []byte, ip netip.Addr) bool {
	t.Helper()
	if _, err := c.conn.WriteTo(frame, &packet.Addr{HardwareAddr: net.HardwareAddr(frame[0:6])}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	buf := make([]byte, 1514)
	for {
		_ = c.conn.SetReadDeadline(deadline)
		n, _, err := c.conn.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		if isAnswerFor(buf[:n], ip, c.mac) {
			return true
		}
	}
}

func isAnswerFor(b []byte, ip netip.Addr, self net.HardwareAddr) bool {
	var f ethernet.Frame
	if f.UnmarshalBinary(b) != nil || bytes.Equal(f.Source, self) {
		return false
	}
	if f.EtherType == ethernet.EtherTypeARP {
		var p arp.Packet
		return p.UnmarshalBinary(f.Payload) == nil && p.Operation == arp.OperationReply && p.SenderIP == ip
	}
	nf, ok := parseNDPFrame(b)
	if !ok {
		return false
	}
	na, ok := nf.msg.(*ndp.NeighborAdvertisement)
	return ok && na.TargetAddress == ip
}

func TestTaggedRequestsAreNotAnsweredUntagged(t *testing.T) {
	t.Parallel()
	s := newSegment(t, false, false)
	o := quiet
	o.Metrics = NewMetrics(nil)
	a := s.announcer(s.node, o)
	if err := a.SetOwned(map[netip.Addr][]string{svcV4: {"n0"}, svcV6: {"n0"}}); err != nil {
		t.Fatal(err)
	}
	c := s.taggedClient(t)
	for _, ip := range []netip.Addr{svcV4, svcV6} {
		replies := o.Metrics.replies.WithLabelValues(familyOf(ip).String())
		// Untagged, the request is the native VLAN's and is answered (this also shows
		// the raw frames are good requests).
		if !waitFor(3*time.Second, func() bool { return c.answered(t, c.request(t, ip, 0), ip) }) {
			t.Fatalf("the untagged request for %s was not answered", ip)
		}
		for _, vlan := range []uint16{100, 200} {
			before := testutil.ToFloat64(replies)
			if c.answered(t, c.request(t, ip, vlan), ip) {
				t.Errorf("a request for %s tagged with VLAN %d was answered on the untagged parent", ip, vlan)
			}
			if sent := testutil.ToFloat64(replies) - before; sent != 0 {
				t.Errorf("a request for %s tagged with VLAN %d: the node sent %v replies, want none", ip, vlan, sent)
			}
		}
	}
}
