package layer2

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/bpf"
)

func TestNDPFrameRoundTrip(t *testing.T) {
	src, dst := svcV6, netip.MustParseAddr("2001:db8:50::2")
	mac := net.HardwareAddr{2, 0, 0, 0, 0x50, 1}
	na := &ndp.NeighborAdvertisement{
		Solicited: true, Override: true, TargetAddress: svcV6,
		Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: mac}},
	}
	frame, err := buildNDPFrame(mac, net.HardwareAddr{2, 0, 0, 0, 0x50, 2}, src, dst, na)
	if err != nil {
		t.Fatal(err)
	}
	if frame[ethHeaderLen+7] != 255 {
		t.Errorf("hop limit = %d, want 255", frame[ethHeaderLen+7])
	}
	if sum := icmpv6Sum(frame); sum != 0xffff {
		t.Errorf("ICMPv6 checksum does not verify: folded sum %#x", sum)
	}
	f, ok := parseNDPFrame(frame)
	if !ok {
		t.Fatal("parseNDPFrame rejected our own frame")
	}
	got, isNA := f.msg.(*ndp.NeighborAdvertisement)
	if !isNA || f.src != src || f.dst != dst || got.TargetAddress != svcV6 || !got.Override || !got.Solicited ||
		linkLayerOption(got.Options, ndp.Target).String() != mac.String() || f.ethSrc.String() != mac.String() {
		t.Errorf("round trip: %+v %+v", f, got)
	}

	frame[ethHeaderLen+7] = 254
	if _, ok := parseNDPFrame(frame); ok {
		t.Error("accepted an NDP message with hop limit 254 (may come from off-link)")
	}
}

// icmpv6Sum folds the one's-complement sum over the pseudo-header and the
// ICMPv6 message; 0xffff means the checksum is right.
func icmpv6Sum(frame []byte) uint16 {
	ip := frame[ethHeaderLen:]
	body := ip[ipv6HeaderLen:]
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

func TestNDPFilter(t *testing.T) {
	vm, err := bpf.NewVM(ndpMatch)
	if err != nil {
		t.Fatal(err)
	}
	mac := net.HardwareAddr{2, 0, 0, 0, 0x50, 1}
	build := func(m ndp.Message) []byte {
		b, err := buildNDPFrame(mac, mac, svcV6, allNodes, m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ns := build(&ndp.NeighborSolicitation{TargetAddress: svcV6})
	na := build(&ndp.NeighborAdvertisement{TargetAddress: svcV6})
	rs := build(&ndp.RouterSolicitation{})
	withHopByHop := append([]byte(nil), ns...)
	withHopByHop[ethHeaderLen+6] = 0
	arp := append([]byte(nil), ns...)
	binary.BigEndian.PutUint16(arp[12:], 0x0806)

	for name, c := range map[string]struct {
		frame []byte
		pass  bool
	}{
		"NS": {ns, true}, "NA": {na, true}, "RS": {rs, false},
		"hop-by-hop": {withHopByHop, false}, "ARP": {arp, false}, "runt": {ns[:20], false},
	} {
		n, err := vm.Run(c.frame)
		if err != nil && len(c.frame) >= ethHeaderLen+ipv6HeaderLen+1 {
			t.Errorf("%s: %v", name, err)
		}
		if (n > 0) != c.pass {
			t.Errorf("%s: filter returned %d, want pass=%v", name, n, c.pass)
		}
	}
}
