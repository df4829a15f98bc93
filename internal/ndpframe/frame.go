// Package ndpframe builds and parses NDP messages inside whole Ethernet frames, for
// packet sockets: the speaker answers Neighbor Solicitations with them, and the tests
// and the lab ask who has an address with Solicit.
package ndpframe

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/mdlayher/ndp"
)

// NDP travels over a packet socket as whole Ethernet frames, so this file builds and
// parses the Ethernet and IPv6 headers around the ICMPv6 messages that package ndp
// encodes.

const (
	EthHeaderLen  = 14
	IPv6HeaderLen = 40

	TypeNeighborSolicitation  = 135
	TypeNeighborAdvertisement = 136

	// HopLimit is required on every NDP message (RFC 4861): a receiver
	// drops others, as they may come from off-link.
	HopLimit = 255
)

var AllNodes = netip.MustParseAddr("ff02::1")

// Frame is what the responder needs from a received frame.
type Frame struct {
	EthSrc   net.HardwareAddr
	Src, Dst netip.Addr
	Msg      ndp.Message
}

// Parse decodes an Ethernet frame carrying an NDP message, and
// rejects what RFC 4861 says to drop (hop limit other than 255).
func Parse(b []byte) (Frame, bool) {
	if len(b) < EthHeaderLen+IPv6HeaderLen ||
		binary.BigEndian.Uint16(b[12:14]) != uint16(0x86dd) {
		return Frame{}, false
	}
	ip := b[EthHeaderLen:]
	plen := int(binary.BigEndian.Uint16(ip[4:6]))
	if ip[0]>>4 != 6 || ip[6] != 58 || ip[7] != HopLimit || IPv6HeaderLen+plen > len(ip) {
		return Frame{}, false
	}
	msg, err := ndp.ParseMessage(ip[IPv6HeaderLen : IPv6HeaderLen+plen])
	if err != nil {
		return Frame{}, false
	}
	return Frame{
		EthSrc: net.HardwareAddr(b[6:12]),
		Src:    netip.AddrFrom16([16]byte(ip[8:24])),
		Dst:    netip.AddrFrom16([16]byte(ip[24:40])),
		Msg:    msg,
	}, true
}

// Build encodes m in an IPv6 packet with hop limit 255 and a correct
// ICMPv6 checksum, inside an Ethernet frame.
func Build(srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, m ndp.Message) ([]byte, error) {
	body, err := ndp.MarshalMessageChecksum(m, src, dst)
	if err != nil {
		return nil, err
	}
	frame := make([]byte, EthHeaderLen+IPv6HeaderLen+len(body))
	copy(frame[0:6], dstMAC)
	copy(frame[6:12], srcMAC)
	binary.BigEndian.PutUint16(frame[12:14], 0x86dd)
	ip := frame[EthHeaderLen:]
	ip[0] = 6 << 4
	binary.BigEndian.PutUint16(ip[4:6], uint16(len(body)))
	ip[6] = 58 // ICMPv6
	ip[7] = HopLimit
	s, d := src.As16(), dst.As16()
	copy(ip[8:24], s[:])
	copy(ip[24:40], d[:])
	copy(ip[IPv6HeaderLen:], body)
	return frame, nil
}

// MulticastMAC is the Ethernet address IPv6 multicast group ip maps to.
func MulticastMAC(ip netip.Addr) net.HardwareAddr {
	a := ip.As16()
	return net.HardwareAddr{0x33, 0x33, a[12], a[13], a[14], a[15]}
}

// LinkLayerOption returns the address of the first link-layer address
// option of direction d.
func LinkLayerOption(opts []ndp.Option, d ndp.Direction) net.HardwareAddr {
	for _, o := range opts {
		if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == d {
			return lla.Addr
		}
	}
	return nil
}
