package ndpframe

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/mdlayher/ndp"
)

func TestNDPFrameRoundTrip(t *testing.T) {
	target := netip.MustParseAddr("2001:db8:50::10")
	src, dst := target, netip.MustParseAddr("2001:db8:50::2")
	mac := net.HardwareAddr{2, 0, 0, 0, 0x50, 1}
	na := &ndp.NeighborAdvertisement{
		Solicited: true, Override: true, TargetAddress: target,
		Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: mac}},
	}
	frame, err := Build(mac, net.HardwareAddr{2, 0, 0, 0, 0x50, 2}, src, dst, na)
	if err != nil {
		t.Fatal(err)
	}
	if frame[EthHeaderLen+7] != 255 {
		t.Errorf("hop limit = %d, want 255", frame[EthHeaderLen+7])
	}
	if sum := icmpv6Sum(frame); sum != 0xffff {
		t.Errorf("ICMPv6 checksum does not verify: folded sum %#x", sum)
	}
	f, ok := Parse(frame)
	if !ok {
		t.Fatal("Parse rejected our own frame")
	}
	got, isNA := f.Msg.(*ndp.NeighborAdvertisement)
	if !isNA || f.Src != src || f.Dst != dst || got.TargetAddress != target || !got.Override || !got.Solicited ||
		LinkLayerOption(got.Options, ndp.Target).String() != mac.String() || f.EthSrc.String() != mac.String() {
		t.Errorf("round trip: %+v %+v", f, got)
	}

	frame[EthHeaderLen+7] = 254
	if _, ok := Parse(frame); ok {
		t.Error("accepted an NDP message with hop limit 254 (may come from off-link)")
	}
}

// icmpv6Sum folds the one's-complement sum over the pseudo-header and the
// ICMPv6 message; 0xffff means the checksum is right.
func icmpv6Sum(frame []byte) uint16 {
	ip := frame[EthHeaderLen:]
	body := ip[IPv6HeaderLen:]
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(ip[8:40])
	var l [8]byte
	binary.BigEndian.PutUint32(l[0:4], uint32(len(body)))
	l[7] = 58
	add(l[:])
	add(body)
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}
