package layer2

import (
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/ironlb/ironlb/internal/ndpframe"
)

// The kernel runs these classic BPF programs on every frame of the interface
// so that user space only wakes up for frames it may answer. Both start with
// forThisInterface.

// ndpMatch passes IPv6 frames that carry, without extension headers, an
// ICMPv6 Neighbor Solicitation or Advertisement. RFC 4861 messages are sent
// without extension headers in practice.
var ndpMatch = []bpf.Instruction{
	bpf.LoadAbsolute{Off: 12, Size: 2}, // EtherType
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.ETH_P_IPV6, SkipTrue: 6},
	bpf.LoadAbsolute{Off: ndpframe.EthHeaderLen + 6, Size: 1}, // IPv6 next header
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.IPPROTO_ICMPV6, SkipTrue: 4},
	bpf.LoadAbsolute{Off: ndpframe.EthHeaderLen + ndpframe.IPv6HeaderLen, Size: 1}, // ICMPv6 type
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: ndpframe.TypeNeighborSolicitation, SkipTrue: 1},
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: ndpframe.TypeNeighborAdvertisement, SkipTrue: 1},
	bpf.RetConstant{Val: 0xffff},
	bpf.RetConstant{Val: 0},
}

// arpFilter is the ARP socket's program for the interface with index ifindex. It
// needs no match of its own: the socket's protocol is already ARP.
func arpFilter(ifindex int) []bpf.RawInstruction {
	return mustAssemble(forThisInterface(ifindex, []bpf.Instruction{bpf.RetConstant{Val: 0xffff}}))
}

// ndpFilter is the NDP packet socket's program for the interface with index ifindex.
func ndpFilter(ifindex int) []bpf.RawInstruction {
	return mustAssemble(forThisInterface(ifindex, ndpMatch))
}

// forThisInterface prefixes prog with checks that drop the frames a packet socket
// bound to the interface with index ifindex sees but must not answer:
//   - the copies of frames this host sends (PACKET_OUTGOING);
//   - frames that arrived tagged with a VLAN this host has no interface for: the
//     kernel strips the tag and hands them to the parent's sockets as
//     PACKET_OTHERHOST (a frame for another host is not ours to answer either);
//   - frames that arrived tagged for one of this host's VLAN interfaces: the kernel
//     hands them, untagged, to the parent's protocol sockets as well as the VLAN's,
//     with the VLAN interface as their device. The VLAN interface answers them when
//     it is selected; an answer from the parent would go out untagged, onto the
//     native VLAN, where the asker is not.
func forThisInterface(ifindex int, prog []bpf.Instruction) []bpf.Instruction {
	return append([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 1},
		bpf.RetConstant{Val: 0},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.PACKET_OTHERHOST, SkipTrue: 1},
		bpf.RetConstant{Val: 0},
		bpf.LoadExtension{Num: bpf.ExtInterfaceIndex},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(ifindex), SkipTrue: 1},
		bpf.RetConstant{Val: 0},
	}, prog...)
}

func mustAssemble(prog []bpf.Instruction) []bpf.RawInstruction {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		panic(err)
	}
	return raw
}
