package layer2

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// foreignLog records OnForeignReply calls.
type foreignLog struct {
	mu   sync.Mutex
	seen map[string]bool // "ip iface mac"
}

func (f *foreignLog) record(ip netip.Addr, iface string, mac net.HardwareAddr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen[ip.String()+" "+iface+" "+mac.String()] = true
}

func (f *foreignLog) has(entry string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[entry]
}

func (f *foreignLog) entries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for e := range f.seen {
		out = append(out, e)
	}
	return out
}

// Two nodes on one bridge both own the same IPs (split brain). Each must
// notice the other through its gratuitous packets, for both families, and
// never report itself.
func TestForeignRepliesAreReported(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	seg, nodeA, nodeB := l.ns("seg"), l.ns("a"), l.ns("b")
	const macA, macB = "02:00:00:00:50:0a", "02:00:00:00:50:0b"
	l.run("ip", "-n", seg, "link", "add", "br0", "type", "bridge")
	l.run("ip", "-n", seg, "link", "set", "br0", "up")
	for _, n := range []struct{ ns, dev, mac, port string }{
		{nodeA, "a0", macA, "pa"}, {nodeB, "b0", macB, "pb"},
	} {
		l.run("ip", "-n", n.ns, "link", "add", n.dev, "address", n.mac, "type", "veth", "peer", "name", n.port, "netns", seg)
		l.run("ip", "-n", seg, "link", "set", n.port, "master", "br0", "up")
		l.run("ip", "-n", n.ns, "link", "set", n.dev, "up")
	}

	start := func(ns, dev string, log *foreignLog, m *Metrics) {
		a := l.announcer(ns, Options{
			RefreshInterval: 200 * time.Millisecond, OnForeignReply: log.record, Metrics: m,
		})
		if err := a.SetOwned(map[netip.Addr][]string{svcV4: {dev}, svcV6: {dev}}); err != nil {
			t.Fatal(err)
		}
	}
	logA, logB := &foreignLog{seen: map[string]bool{}}, &foreignLog{seen: map[string]bool{}}
	metricsA := NewMetrics(nil)
	start(nodeA, "a0", logA, metricsA)
	start(nodeB, "b0", logB, nil)

	want := map[*foreignLog][]string{
		logA: {svcV4.String() + " a0 " + macB, svcV6.String() + " a0 " + macB},
		logB: {svcV4.String() + " b0 " + macA, svcV6.String() + " b0 " + macA},
	}
	for log, entries := range want {
		for _, e := range entries {
			if !waitFor(2*time.Second, func() bool { return log.has(e) }) {
				t.Errorf("OnForeignReply(%s) not called; got %v", e, log.entries())
			}
		}
	}
	for log, entries := range want {
		if got := log.entries(); len(got) != len(entries) {
			t.Errorf("unexpected foreign reports %v, want only %v", got, entries)
		}
	}
	for _, f := range []string{"ipv4", "ipv6"} {
		if n := testutil.ToFloat64(metricsA.foreign.WithLabelValues(f)); n < 1 {
			t.Errorf("%s foreign replies metric = %v, want >= 1", f, n)
		}
	}
}
