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
	"golang.org/x/sys/unix"

	"github.com/ironlb/ironlb/internal/ndpframe"
)

// rawClient sends raw frames from the client's c0 and sees every frame arriving there,
// for what the kernel's tools cannot send or do not show.
type rawClient struct {
	conn *packet.Conn
	mac  net.HardwareAddr
}

func (s *segment) rawClient(t *testing.T) *rawClient {
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
	return &rawClient{conn: c, mac: mac}
}

// request builds the client's request for ip (ARP request or Neighbor Solicitation to the
// solicited-node group), tagged with vlan unless it is 0.
func (c *rawClient) request(t *testing.T, ip netip.Addr, vlan uint16) []byte {
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
		dst := ndpframe.MulticastMAC(group)
		ns := &ndp.NeighborSolicitation{TargetAddress: ip, Options: []ndp.Option{
			&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: c.mac},
		}}
		frame, err = ndpframe.Build(c.mac, dst, netip.MustParseAddr("2001:db8:50::2"), group, ns)
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

// ask sends frame and returns the first answer for ip that reaches c0 within a second
// (see isAnswerFor), or nil.
func (c *rawClient) ask(t *testing.T, frame []byte, ip netip.Addr) []byte {
	t.Helper()
	if _, err := c.conn.WriteTo(frame, &packet.Addr{HardwareAddr: net.HardwareAddr(frame[0:6])}); err != nil {
		t.Fatal(err)
	}
	return c.answer(t, ip, time.Second)
}

// answer returns the first answer for ip that reaches c0 within d, or nil.
func (c *rawClient) answer(t *testing.T, ip netip.Addr, d time.Duration) []byte {
	t.Helper()
	deadline := time.Now().Add(d)
	buf := make([]byte, 1514)
	for {
		_ = c.conn.SetReadDeadline(deadline)
		n, _, err := c.conn.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		if isAnswerFor(buf[:n], ip, c.mac) {
			return append([]byte(nil), buf[:n]...)
		}
	}
}

// isAnswerFor reports whether b, from someone else, answers for ip: an ARP reply with ip
// as its sender, or a Neighbor Advertisement (solicited or not) for ip.
func isAnswerFor(b []byte, ip netip.Addr, self net.HardwareAddr) bool {
	var f ethernet.Frame
	if f.UnmarshalBinary(b) != nil || bytes.Equal(f.Source, self) {
		return false
	}
	if f.EtherType == ethernet.EtherTypeARP {
		var p arp.Packet
		return p.UnmarshalBinary(f.Payload) == nil && p.Operation == arp.OperationReply && p.SenderIP == ip
	}
	nf, ok := ndpframe.Parse(b)
	if !ok {
		return false
	}
	na, ok := nf.Msg.(*ndp.NeighborAdvertisement)
	return ok && na.TargetAddress == ip
}

// ipv6Source is the IPv6 source address of an NDP frame (the invalid Addr if it is none).
func ipv6Source(frame []byte) netip.Addr {
	f, _ := ndpframe.Parse(frame)
	return f.Src
}
