package membership

import (
	"bytes"
	"io"
	"log"
	"net/netip"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func loopbackTransport(t testing.TB) *transport {
	t.Helper()
	tr, err := newTransport(netip.MustParseAddrPort("127.0.0.1:0"), log.New(io.Discard, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown() })
	return tr
}

func receive(t *testing.T, ch <-chan *memberlist.Packet) *memberlist.Packet {
	t.Helper()
	select {
	case p := <-ch:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no packet within 5s")
		return nil
	}
}

func TestTransportCarriesPacketsAndStreams(t *testing.T) {
	a, b := loopbackTransport(t), loopbackTransport(t)
	aIP, aPort, err := a.FinalAdvertiseAddr("", 0)
	if err != nil || !aIP.Equal(netip.MustParseAddr("127.0.0.1").AsSlice()) || aPort == 0 {
		t.Fatalf("advertise address %v:%d, %v; want the bound 127.0.0.1 and its port", aIP, aPort, err)
	}
	_, bPort, _ := b.FinalAdvertiseAddr("", 0)
	bAddr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(bPort)).String()

	first, second := []byte("first packet"), []byte("second, longer packet")
	if _, err := a.WriteTo(first, bAddr); err != nil {
		t.Fatal(err)
	}
	p1 := receive(t, b.PacketCh())
	if _, err := a.WriteTo(second, bAddr); err != nil {
		t.Fatal(err)
	}
	p2 := receive(t, b.PacketCh())
	// memberlist may still hold the first packet's bytes when the second arrives: the
	// reader's buffer is reused, so each packet must own a copy.
	if !bytes.Equal(p1.Buf, first) || !bytes.Equal(p2.Buf, second) {
		t.Errorf("packets %q and %q, want %q and %q", p1.Buf, p2.Buf, first, second)
	}
	if want := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(aPort)).String(); p1.From.String() != want {
		t.Errorf("packet from %s, want %s", p1.From, want)
	}
	if p1.Timestamp.IsZero() {
		t.Error("packet without a receive time")
	}

	conn, err := a.DialTimeout(bAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("state")); err != nil {
		t.Fatal(err)
	}
	select {
	case in := <-b.StreamCh():
		defer in.Close()
		got := make([]byte, 5)
		if _, err := io.ReadFull(in, got); err != nil || string(got) != "state" {
			t.Errorf("stream read %q, %v; want \"state\"", got, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no stream within 5s")
	}

	if err := b.Shutdown(); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if err := b.Shutdown(); err != nil {
		t.Errorf("a second shutdown: %v", err)
	}
}

func TestTransportAdvertisesTheConfiguredAddress(t *testing.T) {
	tr := loopbackTransport(t)
	ip, port, err := tr.FinalAdvertiseAddr("198.18.0.11", 7946)
	if err != nil || ip.String() != "198.18.0.11" || len(ip) != 4 || port != 7946 {
		t.Errorf("advertise address %v (%d bytes):%d, %v; want 198.18.0.11:7946 in 4 bytes", ip, len(ip), port, err)
	}
	if _, _, err := tr.FinalAdvertiseAddr("node-1", 7946); err == nil {
		t.Error("a name as advertise address was accepted")
	}
}

// BenchmarkTransportReceive compares what receiving one gossip-sized datagram costs with
// this transport and with memberlist's NetTransport (allocs and B/op are the point: see
// transport's doc comment). Run: go test -run '^$' -bench TransportReceive -benchmem ./speaker/membership/
func BenchmarkTransportReceive(b *testing.B) {
	packet := bytes.Repeat([]byte{'x'}, 300) // a ping or a small gossip message
	run := func(b *testing.B, to memberlist.Transport, addr string) {
		from := loopbackTransport(b)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := from.WriteTo(packet, addr); err != nil {
				b.Fatal(err)
			}
			<-to.PacketCh()
		}
	}
	b.Run("ironlb", func(b *testing.B) {
		to := loopbackTransport(b)
		_, port, _ := to.FinalAdvertiseAddr("", 0)
		run(b, to, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)).String())
	})
	b.Run("memberlist", func(b *testing.B) {
		port := freePort(b)
		to, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{"127.0.0.1"}, BindPort: port, Logger: log.New(io.Discard, "", 0),
		})
		if err != nil {
			b.Fatal(err)
		}
		defer to.Shutdown()
		run(b, to, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)).String())
	})
}
