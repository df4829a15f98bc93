package layer2

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
)

// writeTimeout bounds every send: sends happen while the owned state is
// read-locked, and a stuck socket must not stall SetOwned.
const writeTimeout = 200 * time.Millisecond

// arpEndpoint answers ARP on one interface through a packet socket.
//
// It uses package arp for the packet format but not arp.Dial: Dial refuses
// an interface without an IPv4 address of its own, and answering for a
// Service IP needs none.
type arpEndpoint struct {
	a     *Announcer
	iface string
	mac   net.HardwareAddr
	conn  *packet.Conn
}

func openARP(a *Announcer, name string) (*arpEndpoint, error) {
	ifi, err := ethernetInterface(name)
	if err != nil {
		return nil, err
	}
	conn, err := packet.Listen(ifi, packet.Raw, int(ethernet.EtherTypeARP), &packet.Config{Filter: arpFilter(ifi.Index)})
	if err != nil {
		return nil, fmt.Errorf("open ARP socket: %w", err)
	}
	return &arpEndpoint{a: a, iface: name, mac: ifi.HardwareAddr, conn: conn}, nil
}

// ethernetInterface looks up an interface we can build Ethernet frames for.
func ethernetInterface(name string) (*net.Interface, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, err
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, errors.New("not an Ethernet interface (no 6-byte MAC address)")
	}
	return ifi, nil
}

func (e *arpEndpoint) serve() error {
	return serveFrames(e.a, e.iface, e.conn, 1514, e.handle)
}

// handle answers requests for owned IPs and reports foreign claims on them.
// Malformed frames are ignored: anyone on the segment can send them.
func (e *arpEndpoint) handle(frame []byte) {
	var f ethernet.Frame
	// A tagged frame belongs to a VLAN interface, which answers it itself. The kernel
	// usually strips the tag before a packet socket sees the frame: the socket's filter
	// (forThisInterface) drops those; this catches a tag left in the frame.
	if f.UnmarshalBinary(frame) != nil || f.EtherType != ethernet.EtherTypeARP || f.VLAN != nil || f.ServiceVLAN != nil {
		return
	}
	if bytes.Equal(f.Source, e.mac) {
		return // our own frame (or the node's kernel)
	}
	var p arp.Packet
	if p.UnmarshalBinary(f.Payload) != nil ||
		p.HardwareType != 1 || p.ProtocolType != uint16(ethernet.EtherTypeIPv4) ||
		p.HardwareAddrLength != 6 || p.IPLength != 4 {
		return
	}

	// Any ARP packet whose sender IP is ours, from another MAC, means that
	// someone else answers for (or announces) that IP.
	if !bytes.Equal(p.SenderHardwareAddr, e.mac) && e.a.isOwned(p.SenderIP, e.iface) {
		e.a.foreignReply(p.SenderIP, e.iface, p.SenderHardwareAddr)
	}

	// A gratuitous request (sender IP = target IP) announces, it does not ask.
	if p.Operation != arp.OperationRequest || p.SenderIP == p.TargetIP {
		return
	}
	owned, err := e.a.sendIfOwned(p.TargetIP, e.iface, func() error {
		e.a.metrics.request(v4)
		reply, err := arp.NewPacket(arp.OperationReply, e.mac, p.TargetIP, p.SenderHardwareAddr, p.SenderIP)
		if err != nil {
			return err
		}
		return e.write(reply, p.SenderHardwareAddr)
	})
	switch {
	case err != nil:
		e.a.log.Warn("layer2: ARP reply failed", "ip", p.TargetIP, "interface", e.iface, "error", err)
	case owned:
		e.a.metrics.reply(v4)
	}
}

// announce broadcasts an ARP announcement (RFC 5227): a request with
// sender IP = target IP and a zero target MAC. Linux treats it as gratuitous
// and overrides an existing entry regardless of locktime.
func (e *arpEndpoint) announce(ip netip.Addr) error {
	p, err := arp.NewPacket(arp.OperationRequest, e.mac, ip, make(net.HardwareAddr, 6), ip)
	if err != nil {
		return err
	}
	return e.write(p, ethernet.Broadcast)
}

func (e *arpEndpoint) write(p *arp.Packet, dst net.HardwareAddr) error {
	pb, err := p.MarshalBinary()
	if err != nil {
		return err
	}
	f := ethernet.Frame{Destination: dst, Source: e.mac, EtherType: ethernet.EtherTypeARP, Payload: pb}
	fb, err := f.MarshalBinary()
	if err != nil {
		return err
	}
	if err := e.conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	_, err = e.conn.WriteTo(fb, &packet.Addr{HardwareAddr: dst})
	return err
}

func (e *arpEndpoint) syncGroups([]netip.Addr) error { return nil }

func (e *arpEndpoint) close() error { return e.conn.Close() }
