package ndpframe

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
)

// Solicit asks the segment of the named interface who has target: it sends one
// Neighbor Solicitation to target's solicited-node group and returns the link-layer
// address of every Neighbor Advertisement for target that arrives within wait, in
// order of arrival, each once. Several addresses mean several hosts claim target.
//
// It takes an advertisement from any source address, as the Linux kernel does: RFC 4861
// has an advertisement come from an address of the sending interface, which for a
// Service address a node answers for but does not hold is its link-local address, and
// ndisc6, for one, drops an advertisement of a global address from a link-local source.
// The solicitation's source is the interface's first global IPv6 address, else its
// link-local one. It uses the calling thread's network namespace (see netnstest.In and
// the lab's InNetns) and needs CAP_NET_RAW.
func Solicit(iface string, target netip.Addr, wait time.Duration) ([]net.HardwareAddr, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	src, err := sourceOf(ifi)
	if err != nil {
		return nil, err
	}
	conn, err := packet.Listen(ifi, packet.Raw, 0x86dd, nil)
	if err != nil {
		return nil, fmt.Errorf("open packet socket on %s: %w", iface, err)
	}
	defer func() { _ = conn.Close() }()
	group, err := ndp.SolicitedNodeMulticast(target)
	if err != nil {
		return nil, err
	}
	ns := &ndp.NeighborSolicitation{TargetAddress: target, Options: []ndp.Option{
		&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: ifi.HardwareAddr},
	}}
	frame, err := Build(ifi.HardwareAddr, MulticastMAC(group), src, group, ns)
	if err != nil {
		return nil, err
	}
	if _, err := conn.WriteTo(frame, &packet.Addr{HardwareAddr: MulticastMAC(group)}); err != nil {
		return nil, fmt.Errorf("send solicitation on %s: %w", iface, err)
	}
	return advertisers(conn, target, ifi.HardwareAddr, time.Now().Add(wait))
}

// advertisers reads until deadline and collects who advertised target.
func advertisers(conn *packet.Conn, target netip.Addr, self net.HardwareAddr, deadline time.Time) ([]net.HardwareAddr, error) {
	var macs []net.HardwareAddr
	buf := make([]byte, 9216)
	for {
		if err := conn.SetReadDeadline(deadline); err != nil {
			return nil, err
		}
		n, _, err := conn.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return macs, nil
		}
		if err != nil {
			return nil, err
		}
		f, ok := Parse(buf[:n])
		na, isNA := f.Msg.(*ndp.NeighborAdvertisement)
		if !ok || !isNA || na.TargetAddress != target || slices.Equal(f.EthSrc, self) {
			continue
		}
		mac := LinkLayerOption(na.Options, ndp.Target)
		if mac == nil {
			mac = f.EthSrc
		}
		if !slices.ContainsFunc(macs, func(m net.HardwareAddr) bool { return slices.Equal(m, mac) }) {
			macs = append(macs, slices.Clone(mac))
		}
	}
}

// sourceOf picks the solicitation's source address.
func sourceOf(ifi *net.Interface) (netip.Addr, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, err
	}
	var linkLocal netip.Addr
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() {
			continue
		}
		if !p.Addr().IsLinkLocalUnicast() {
			return p.Addr(), nil
		}
		if !linkLocal.IsValid() {
			linkLocal = p.Addr()
		}
	}
	if !linkLocal.IsValid() {
		return netip.Addr{}, fmt.Errorf("%s has no IPv6 address to solicit from", ifi.Name)
	}
	return linkLocal, nil
}
