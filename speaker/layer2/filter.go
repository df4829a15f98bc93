package layer2

import (
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The kernel runs these classic BPF programs on every frame of the interface
// so that user space only wakes up for frames it may answer. Both drop the
// copies of frames this host sends (PACKET_OUTGOING), which a packet socket
// would otherwise see too.

// ndpMatch passes IPv6 frames that carry, without extension headers, an
// ICMPv6 Neighbor Solicitation or Advertisement. RFC 4861 messages are sent
// without extension headers in practice.
var ndpMatch = []bpf.Instruction{
	bpf.LoadAbsolute{Off: 12, Size: 2}, // EtherType
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.ETH_P_IPV6, SkipTrue: 6},
	bpf.LoadAbsolute{Off: ethHeaderLen + 6, Size: 1}, // IPv6 next header
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.IPPROTO_ICMPV6, SkipTrue: 4},
	bpf.LoadAbsolute{Off: ethHeaderLen + ipv6HeaderLen, Size: 1}, // ICMPv6 type
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: icmpNeighborSolicitation, SkipTrue: 1},
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: icmpNeighborAdvertisement, SkipTrue: 1},
	bpf.RetConstant{Val: 0xffff},
	bpf.RetConstant{Val: 0},
}

var (
	// arpFilter needs no match: the socket's protocol is already ARP.
	arpFilter = mustAssemble(withoutOutgoing([]bpf.Instruction{bpf.RetConstant{Val: 0xffff}}))
	ndpFilter = mustAssemble(withoutOutgoing(ndpMatch))
)

// withoutOutgoing prefixes prog with a check that drops what this host sends.
func withoutOutgoing(prog []bpf.Instruction) []bpf.Instruction {
	return append([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 1},
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
