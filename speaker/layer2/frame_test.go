package layer2

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/bpf"

	"github.com/ironlb/ironlb/internal/ndpframe"
)

func TestNDPFilter(t *testing.T) {
	vm, err := bpf.NewVM(ndpMatch)
	if err != nil {
		t.Fatal(err)
	}
	mac := net.HardwareAddr{2, 0, 0, 0, 0x50, 1}
	build := func(m ndp.Message) []byte {
		b, err := ndpframe.Build(mac, mac, svcV6, ndpframe.AllNodes, m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ns := build(&ndp.NeighborSolicitation{TargetAddress: svcV6})
	na := build(&ndp.NeighborAdvertisement{TargetAddress: svcV6})
	rs := build(&ndp.RouterSolicitation{})
	withHopByHop := append([]byte(nil), ns...)
	withHopByHop[ndpframe.EthHeaderLen+6] = 0
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
		if err != nil && len(c.frame) >= ndpframe.EthHeaderLen+ndpframe.IPv6HeaderLen+1 {
			t.Errorf("%s: %v", name, err)
		}
		if (n > 0) != c.pass {
			t.Errorf("%s: filter returned %d, want pass=%v", name, n, c.pass)
		}
	}
}
