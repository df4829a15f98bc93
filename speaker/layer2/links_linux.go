package layer2

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// listLinks dumps the links over rtnetlink. net.Interfaces would not do: it
// hides NOARP and SLAVE flags, the master and the link kind.
func listLinks() ([]linkInfo, error) {
	rib, err := syscall.NetlinkRIB(syscall.RTM_GETLINK, syscall.AF_UNSPEC)
	if err != nil {
		return nil, os.NewSyscallError("netlinkrib", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return nil, os.NewSyscallError("parsenetlinkmessage", err)
	}
	var links []linkInfo
	for i := range msgs {
		m := &msgs[i]
		if m.Header.Type != syscall.RTM_NEWLINK || len(m.Data) < syscall.SizeofIfInfomsg {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(m)
		if err != nil {
			return nil, fmt.Errorf("parse link attributes: %w", err)
		}
		l := linkInfo{
			index: int(int32(binary.NativeEndian.Uint32(m.Data[4:8]))),
			flags: binary.NativeEndian.Uint32(m.Data[8:12]),
		}
		for _, a := range attrs {
			switch a.Attr.Type {
			case syscall.IFLA_IFNAME:
				l.name = strings.TrimRight(string(a.Value), "\x00")
			case syscall.IFLA_ADDRESS:
				l.mac = a.Value
			case syscall.IFLA_MASTER:
				if len(a.Value) >= 4 {
					l.master = int(binary.NativeEndian.Uint32(a.Value))
				}
			case syscall.IFLA_LINKINFO:
				l.kind = linkKind(a.Value)
			}
		}
		links = append(links, l)
	}
	return links, nil
}

// linkKind finds IFLA_INFO_KIND in the nested IFLA_LINKINFO attributes.
func linkKind(b []byte) string {
	const iflaInfoKind = 1
	for len(b) >= 4 {
		n := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) &^ (1 << 15) // NLA_F_NESTED
		if n < 4 || n > len(b) {
			return ""
		}
		if typ == iflaInfoKind {
			return strings.TrimRight(string(b[4:n]), "\x00")
		}
		b = b[min((n+3)&^3, len(b)):]
	}
	return ""
}
