package layer2

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/mdlayher/ndp"
)

// NDP travels over a packet socket as whole Ethernet frames (see ndp.go for
// why), so this file builds and parses the Ethernet and IPv6 headers around
// the ICMPv6 messages that package ndp encodes.

const (
	ethHeaderLen  = 14
	ipv6HeaderLen = 40

	icmpNeighborSolicitation  = 135
	icmpNeighborAdvertisement = 136

	// ndpHopLimit is required on every NDP message (RFC 4861): a receiver
	// drops others, as they may come from off-link.
	ndpHopLimit = 255
)

var allNodes = netip.MustParseAddr("ff02::1")

// ndpFrame is what the responder needs from a received frame.
type ndpFrame struct {
	ethSrc   net.HardwareAddr
	src, dst netip.Addr
	msg      ndp.Message
}

// parseNDPFrame decodes an Ethernet frame carrying an NDP message, and
// rejects what RFC 4861 says to drop (hop limit other than 255).
func parseNDPFrame(b []byte) (ndpFrame, bool) {
	if len(b) < ethHeaderLen+ipv6HeaderLen ||
		binary.BigEndian.Uint16(b[12:14]) != uint16(0x86dd) {
		return ndpFrame{}, false
	}
	ip := b[ethHeaderLen:]
	plen := int(binary.BigEndian.Uint16(ip[4:6]))
	if ip[0]>>4 != 6 || ip[6] != 58 || ip[7] != ndpHopLimit || ipv6HeaderLen+plen > len(ip) {
		return ndpFrame{}, false
	}
	msg, err := ndp.ParseMessage(ip[ipv6HeaderLen : ipv6HeaderLen+plen])
	if err != nil {
		return ndpFrame{}, false
	}
	return ndpFrame{
		ethSrc: net.HardwareAddr(b[6:12]),
		src:    netip.AddrFrom16([16]byte(ip[8:24])),
		dst:    netip.AddrFrom16([16]byte(ip[24:40])),
		msg:    msg,
	}, true
}

// buildNDPFrame encodes m in an IPv6 packet with hop limit 255 and a correct
// ICMPv6 checksum, inside an Ethernet frame.
func buildNDPFrame(srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, m ndp.Message) ([]byte, error) {
	body, err := ndp.MarshalMessageChecksum(m, src, dst)
	if err != nil {
		return nil, err
	}
	frame := make([]byte, ethHeaderLen+ipv6HeaderLen+len(body))
	copy(frame[0:6], dstMAC)
	copy(frame[6:12], srcMAC)
	binary.BigEndian.PutUint16(frame[12:14], 0x86dd)
	ip := frame[ethHeaderLen:]
	ip[0] = 6 << 4
	binary.BigEndian.PutUint16(ip[4:6], uint16(len(body)))
	ip[6] = 58 // ICMPv6
	ip[7] = ndpHopLimit
	s, d := src.As16(), dst.As16()
	copy(ip[8:24], s[:])
	copy(ip[24:40], d[:])
	copy(ip[ipv6HeaderLen:], body)
	return frame, nil
}

// multicastMAC is the Ethernet address IPv6 multicast group ip maps to.
func multicastMAC(ip netip.Addr) net.HardwareAddr {
	a := ip.As16()
	return net.HardwareAddr{0x33, 0x33, a[12], a[13], a[14], a[15]}
}

// linkLayerOption returns the address of the first link-layer address
// option of direction d.
func linkLayerOption(opts []ndp.Option, d ndp.Direction) net.HardwareAddr {
	for _, o := range opts {
		if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == d {
			return lla.Addr
		}
	}
	return nil
}
