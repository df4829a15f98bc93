package membership

import (
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// maxPacket is the largest gossip datagram we read; memberlist keeps its packets under
// its UDPBufferSize (1400 bytes), so this leaves room for any sender's setting.
const maxPacket = 65536

// udpRecvBuffer is the socket receive buffer asked for, as memberlist's own transport
// does, so a burst of gossip is not dropped by the kernel while we are busy.
const udpRecvBuffer = 2 << 20

// transport is memberlist's network transport (UDP for gossip and probes, TCP for state
// exchange), bound to one address. It exists for one reason: memberlist's NetTransport
// allocates a fresh 64 KiB buffer for every datagram it receives, which at a few dozen
// packets a second is most of an idle speaker's garbage and therefore of its CPU. This one
// reads into a buffer it reuses and hands memberlist a copy of just the datagram's bytes
// (memberlist keeps some of them after it returns, so the copy is needed).
type transport struct {
	udp     *net.UDPConn
	tcp     *net.TCPListener
	packets chan *memberlist.Packet
	streams chan net.Conn
	logger  *log.Logger

	closing  chan struct{}
	shutdown sync.Once
	wg       sync.WaitGroup
}

var _ memberlist.Transport = (*transport)(nil)

// newTransport listens on addr (UDP and TCP, the same port).
func newTransport(addr netip.AddrPort, logger *log.Logger) (*transport, error) {
	tcp, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(addr))
	if err != nil {
		return nil, fmt.Errorf("listening on TCP %s: %w", addr, err)
	}
	if addr.Port() == 0 { // a test's: UDP takes the port TCP was given
		addr = netip.AddrPortFrom(addr.Addr(), uint16(tcp.Addr().(*net.TCPAddr).Port))
	}
	udp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		_ = tcp.Close()
		return nil, fmt.Errorf("listening on UDP %s: %w", addr, err)
	}
	// Best effort, as memberlist does: the kernel caps it at net.core.rmem_max.
	_ = udp.SetReadBuffer(udpRecvBuffer)
	t := &transport{
		udp: udp, tcp: tcp, logger: logger,
		packets: make(chan *memberlist.Packet), streams: make(chan net.Conn),
		closing: make(chan struct{}),
	}
	t.wg.Add(2)
	go t.readPackets()
	go t.acceptStreams()
	return t, nil
}

// FinalAdvertiseAddr implements memberlist.Transport: the configured advertise address,
// or the bound one (we always bind a node address, never 0.0.0.0).
func (t *transport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	if ip == "" {
		bound := t.tcp.Addr().(*net.TCPAddr)
		return bound.IP, bound.Port, nil
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return nil, 0, fmt.Errorf("advertise address %q: %w", ip, err)
	}
	return net.IP(a.Unmap().AsSlice()), port, nil
}

// WriteTo implements memberlist.Transport.
func (t *transport) WriteTo(b []byte, addr string) (time.Time, error) {
	to, err := netip.ParseAddrPort(addr)
	if err != nil { // a name, not an address
		resolved, rerr := net.ResolveUDPAddr("udp", addr)
		if rerr != nil {
			return time.Time{}, rerr
		}
		to = resolved.AddrPort()
	}
	_, err = t.udp.WriteToUDPAddrPort(b, to)
	return time.Now(), err
}

// PacketCh implements memberlist.Transport.
func (t *transport) PacketCh() <-chan *memberlist.Packet { return t.packets }

// DialTimeout implements memberlist.Transport.
func (t *transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, timeout)
}

// StreamCh implements memberlist.Transport.
func (t *transport) StreamCh() <-chan net.Conn { return t.streams }

// Shutdown implements memberlist.Transport: it closes both sockets and waits for the
// readers to end. Calls after the first do nothing (memberlist shuts its transport down
// itself when it fails to start, and so do we).
func (t *transport) Shutdown() error {
	var err error
	t.shutdown.Do(func() {
		close(t.closing)
		err = errors.Join(t.tcp.Close(), t.udp.Close())
		t.wg.Wait()
	})
	return err
}

func (t *transport) closed() bool {
	select {
	case <-t.closing:
		return true
	default:
		return false
	}
}

func (t *transport) readPackets() {
	defer t.wg.Done()
	buf := make([]byte, maxPacket)
	for {
		n, from, err := t.udp.ReadFromUDPAddrPort(buf)
		at := time.Now() // as close to the read as possible: probes measure round trips
		if err != nil {
			if t.closed() {
				return
			}
			t.logger.Printf("[ERR] memberlist: reading a UDP packet: %v", err)
			continue
		}
		if n == 0 {
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port()) // memberlist compares it as text
		p := &memberlist.Packet{Buf: append([]byte(nil), buf[:n]...), From: net.UDPAddrFromAddrPort(from), Timestamp: at}
		select {
		case t.packets <- p:
		case <-t.closing:
			return
		}
	}
}

func (t *transport) acceptStreams() {
	defer t.wg.Done()
	delay := time.Duration(0)
	for {
		conn, err := t.tcp.AcceptTCP()
		if err != nil {
			if t.closed() {
				return
			}
			// Out of file descriptors and the like: back off instead of spinning.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			t.logger.Printf("[ERR] memberlist: accepting a TCP connection: %v", err)
			time.Sleep(delay)
			continue
		}
		delay = 0
		select {
		case t.streams <- conn:
		case <-t.closing:
			_ = conn.Close()
			return
		}
	}
}
