package layer2

import (
	"net"
	"net/netip"
)

// foreignReply reports another MAC claiming an IP we own on iface. Both
// nodes of a split brain see each other's gratuitous packets (and the
// periodic refresh makes sure they keep doing so), so both report it.
func (a *Announcer) foreignReply(ip netip.Addr, iface string, mac net.HardwareAddr) {
	a.metrics.foreignReply(familyOf(ip))
	a.log.Debug("layer2: another MAC claims an owned IP", "ip", ip, "interface", iface, "mac", mac)
	if a.opts.OnForeignReply != nil {
		a.opts.OnForeignReply(ip, iface, append(net.HardwareAddr(nil), mac...))
	}
}
