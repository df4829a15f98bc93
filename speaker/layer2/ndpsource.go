package layer2

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// sourceRecheck is how long a looked-up source address is used before it is looked
// up again: a link-local address appears only after the link came up and passed DAD,
// and an interface can lose or change it.
const sourceRecheck = 10 * time.Second

// missingRecheck is sourceRecheck while the interface has no link-local address: one
// that just came up gets it within a second or two (after DAD).
const missingRecheck = time.Second

// naSource picks the IPv6 source address of the Neighbor Advertisements sent on one
// interface. RFC 4861 (7.2.4) asks for an address of the sending interface, so it is
// the interface's link-local address; an interface with none (IPv6 addresses turned
// off, addrgenmode none) sends from the advertised address itself, as the Linux kernel
// does for an address it owns, which clients accept too. The lookup reads the kernel's
// address list, so it is cached rather than done per packet: a takeover sends
// thousands.
type naSource struct {
	iface string
	ns    *netnsHandle // the lookup reads the Announcer's namespace

	mu      sync.Mutex // advertisements are sent from several goroutines
	addr    netip.Addr // the link-local address; invalid when the interface has none
	checked time.Time
}

// forTarget returns the source address for an advertisement of target.
func (s *naSource) forTarget(target netip.Addr) netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	recheck := sourceRecheck
	if !s.addr.IsValid() {
		recheck = missingRecheck
	}
	if now := time.Now(); now.Sub(s.checked) >= recheck {
		var addr netip.Addr
		_ = s.ns.run(func() error { addr = linkLocalOf(s.iface); return nil })
		s.addr, s.checked = addr, now
	}
	if s.addr.IsValid() {
		return s.addr
	}
	return target
}

// linkLocalOf returns the first usable link-local address of the interface, or the
// invalid Addr.
func linkLocalOf(name string) netip.Addr {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Addr{}
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is6() && p.Addr().IsLinkLocalUnicast() {
			return p.Addr().WithZone("")
		}
	}
	return netip.Addr{}
}
