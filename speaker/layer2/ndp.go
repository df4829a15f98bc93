package layer2

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"golang.org/x/net/ipv6"

	"github.com/ironlb/ironlb/internal/ndpframe"
)

// ndpEndpoint answers NDP on one interface with two sockets:
//
//   - an ndp.Conn that holds the memberships of the solicited-node multicast
//     groups of the owned IPs: joining makes the NIC accept those frames and
//     the kernel send MLD reports, so that MLD-snooping switches forward the
//     Neighbor Solicitations for the IP to this port. It never reads: its
//     ICMPv6 filter blocks everything. It is bound to the unspecified
//     address, as it sends nothing.
//   - a packet socket that receives NS/NA frames and sends the answers.
//     A raw ICMPv6 socket is not enough: the kernel only delivers packets
//     addressed to the host, and a client re-checking a cache entry (NUD
//     probe) sends its NS unicast to the Service IP, which is not on any
//     interface, so the kernel drops it and the client marks the entry
//     FAILED. Sending at layer 2 also needs no route or neighbour entry
//     towards the client.
//
// Every advertisement has the interface's link-local address as its source, as
// RFC 4861 asks, and the Service IP only when the interface has none (see
// naSource): the interface needs no IPv6 address at all (the tests answer on
// one with addrgenmode none; even with disable_ipv6=1 the group joins succeed
// and answering works, though MLD reports are then not to be relied on).
type ndpEndpoint struct {
	a     *Announcer
	iface string
	mac   net.HardwareAddr
	conn  *packet.Conn
	nc    *ndp.Conn

	source *naSource

	groups map[netip.Addr]bool // joined; guarded by listener.mu
}

func openNDP(a *Announcer, name string) (*ndpEndpoint, error) {
	ifi, err := ethernetInterface(name)
	if err != nil {
		return nil, err
	}
	nc, _, err := ndp.Listen(ifi, ndp.Unspecified)
	if err != nil {
		return nil, fmt.Errorf("open ICMPv6 socket: %w", err)
	}
	var block ipv6.ICMPFilter
	block.SetAll(true)
	if err := nc.SetICMPFilter(&block); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("set ICMPv6 filter: %w", err)
	}
	conn, err := packet.Listen(ifi, packet.Raw, 0x86dd, &packet.Config{Filter: ndpFilter(ifi.Index)})
	if err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("open NDP packet socket: %w", err)
	}
	return &ndpEndpoint{
		a: a, iface: name, mac: ifi.HardwareAddr,
		conn: conn, nc: nc, groups: map[netip.Addr]bool{}, source: &naSource{iface: name, ns: a.ns},
	}, nil
}

func (e *ndpEndpoint) serve() error {
	return serveFrames(e.a, e.iface, e.conn, 9216, e.handle) // any MTU up to jumbo frames
}

// handle answers Neighbor Solicitations for owned targets and reports
// foreign Neighbor Advertisements for them.
func (e *ndpEndpoint) handle(b []byte) {
	f, ok := ndpframe.Parse(b)
	if !ok || bytes.Equal(f.EthSrc, e.mac) {
		return
	}
	switch m := f.Msg.(type) {
	case *ndp.NeighborSolicitation:
		e.solicited(f, m)
	case *ndp.NeighborAdvertisement:
		mac := ndpframe.LinkLayerOption(m.Options, ndp.Target)
		if mac == nil {
			mac = f.EthSrc
		}
		if !bytes.Equal(mac, e.mac) && e.a.isOwned(m.TargetAddress, e.iface) {
			e.a.foreignReply(m.TargetAddress, e.iface, mac)
		}
	}
}

// solicited answers ns if its target is owned. A solicitation from the
// unspecified address is Duplicate Address Detection by a host that wants
// the IP: RFC 4861 says to answer it on all-nodes with Solicited clear,
// which makes that host give the address up.
func (e *ndpEndpoint) solicited(f ndpframe.Frame, ns *ndp.NeighborSolicitation) {
	target := ns.TargetAddress
	dst, dstMAC, solicited := f.Src, ndpframe.LinkLayerOption(ns.Options, ndp.Source), true
	if dstMAC == nil {
		dstMAC = f.EthSrc
	}
	if f.Src.IsUnspecified() {
		dst, dstMAC, solicited = ndpframe.AllNodes, ndpframe.MulticastMAC(ndpframe.AllNodes), false
	}
	owned, err := e.a.sendIfOwned(target, e.iface, func() error {
		e.a.metrics.request(v6)
		return e.advertise(target, dst, dstMAC, solicited)
	})
	switch {
	case err != nil:
		e.a.log.Warn("layer2: Neighbor Advertisement failed", "ip", target, "interface", e.iface, "error", err)
	case owned:
		e.a.metrics.reply(v6)
	}
}

// announce sends an unsolicited Neighbor Advertisement with Override to
// all-nodes. Linux updates an existing entry with it (unless the entry is
// FAILED) but creates none unless accept_untracked_na is set.
func (e *ndpEndpoint) announce(ip netip.Addr) error {
	return e.advertise(ip, ndpframe.AllNodes, ndpframe.MulticastMAC(ndpframe.AllNodes), false)
}

// advertise sends a Neighbor Advertisement saying that target is at our MAC.
// Override is always set: we take the IP over from whoever had it.
func (e *ndpEndpoint) advertise(target, dst netip.Addr, dstMAC net.HardwareAddr, solicited bool) error {
	na := &ndp.NeighborAdvertisement{
		Solicited:     solicited,
		Override:      true,
		TargetAddress: target,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: e.mac}},
	}
	frame, err := ndpframe.Build(e.mac, dstMAC, e.source.forTarget(target), dst, na)
	if err != nil {
		return err
	}
	if err := e.conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	_, err = e.conn.WriteTo(frame, &packet.Addr{HardwareAddr: dstMAC})
	return err
}

// syncGroups joins the solicited-node group of every owned IP and leaves the
// others. Several IPs can share a group (same last 24 bits).
func (e *ndpEndpoint) syncGroups(ips []netip.Addr) error {
	want := map[netip.Addr]bool{}
	for _, ip := range ips {
		g, err := ndp.SolicitedNodeMulticast(ip)
		if err != nil {
			return err
		}
		want[g] = true
	}
	var errs []error
	for g := range want {
		if !e.groups[g] {
			if err := e.nc.JoinGroup(g); err != nil {
				errs = append(errs, fmt.Errorf("join %s: %w", g, err))
				continue
			}
			e.groups[g] = true
		}
	}
	for g := range e.groups {
		if !want[g] {
			if err := e.nc.LeaveGroup(g); err != nil {
				errs = append(errs, fmt.Errorf("leave %s: %w", g, err))
			}
			delete(e.groups, g)
		}
	}
	return errors.Join(errs...)
}

func (e *ndpEndpoint) close() error {
	return errors.Join(e.conn.Close(), e.nc.Close())
}
