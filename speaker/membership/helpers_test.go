package membership

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/ironlb/ironlb/internal/testenv"
	"github.com/prometheus/client_golang/prometheus"
)

// testSecret stands in for the Kubernetes Secret's content.
var testSecret = []byte("ironlb test secret: 0123456789abcdef")

// testLogger discards logs unless MEMBERSHIP_TEST_LOG is set (to "debug" for all).
// It never writes to t.Log, since memberlist goroutines may still log after a test.
func testLogger() *slog.Logger {
	switch os.Getenv("MEMBERSHIP_TEST_LOG") {
	case "":
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	case "debug":
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	default:
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
}

// freePort finds a port free for both TCP and UDP on 127.0.0.1, as memberlist needs.
func freePort(t testing.TB) int {
	t.Helper()
	for range 50 {
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		tl.Close()
		if err == nil {
			ul.Close()
			return port
		}
	}
	t.Fatal("no free TCP+UDP port")
	return 0
}

// cluster is a set of members on 127.0.0.1 in this process, one port each.
type cluster struct {
	t       testing.TB
	members map[string]*Member
	ports   map[string]int
	regs    map[string]*prometheus.Registry
	edit    func(name string, c *Config) // optional per-member config tweak
}

func newCluster(t testing.TB, names ...string) *cluster {
	c := &cluster{t: t, members: map[string]*Member{}, ports: map[string]int{}, regs: map[string]*prometheus.Registry{}}
	t.Cleanup(func() {
		for _, m := range c.members {
			m.Shutdown()
		}
	})
	for _, n := range names {
		c.start(n)
	}
	return c
}

// config is the production default config for one member, on its own port.
func (c *cluster) config(name string) Config {
	if _, ok := c.ports[name]; !ok {
		c.ports[name] = freePort(c.t)
	}
	cfg := DefaultConfig()
	cfg.NodeName = name
	cfg.BindAddr = "127.0.0.1"
	cfg.Port = c.ports[name]
	cfg.Secret = testSecret
	cfg.Logger = testLogger()
	c.regs[name] = prometheus.NewRegistry()
	cfg.Registerer = c.regs[name]
	if c.edit != nil {
		c.edit(name, &cfg)
	}
	return cfg
}

// start starts (or restarts, on the same port) a member and gives it every peer.
func (c *cluster) start(name string) *Member {
	c.t.Helper()
	m, err := New(c.config(name))
	if err != nil {
		c.t.Fatalf("start %s: %v", name, err)
	}
	c.members[name] = m
	c.setPeers()
	return m
}

// crash stops a member without Leave, as if its process were killed.
func (c *cluster) crash(name string) {
	c.t.Helper()
	if err := c.members[name].Shutdown(); err != nil {
		c.t.Fatalf("shutdown %s: %v", name, err)
	}
	if got := c.members[name].Alive(); len(got) != 0 {
		c.t.Errorf("%s sees %v after Shutdown, want nobody", name, got)
	}
	delete(c.members, name)
}

// setPeers gives every member the addresses of all running members, itself included,
// as the speaker would from the API.
func (c *cluster) setPeers() {
	var addrs []string
	for _, m := range c.members {
		addrs = append(addrs, m.Addr().String())
	}
	for _, m := range c.members {
		m.SetPeers(addrs)
	}
}

// names returns the running members' names, sorted.
func (c *cluster) names() []string {
	var out []string
	for n := range c.members {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// waitAll waits until every running member sees exactly want, and returns how long
// that took. It fails the test after timeout.
func (c *cluster) waitAll(want []string, timeout time.Duration) time.Duration {
	c.t.Helper()
	start := time.Now()
	ok := waitFor(timeout, func() bool {
		for _, m := range c.members {
			if !slices.Equal(m.Alive(), want) {
				return false
			}
		}
		return true
	})
	if !ok {
		for _, n := range c.names() {
			c.t.Logf("%s sees %v", n, c.members[n].Alive())
		}
		c.t.Fatalf("members did not all see %v within %s", want, timeout)
	}
	return time.Since(start)
}

// waitFor polls cond every 2 ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	return testenv.Poll(timeout, 2*time.Millisecond, cond)
}

// without returns names minus drop.
func without(names []string, drop string) []string {
	return slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == drop })
}

// metric reads a gauge or counter from member name's registry, as a scrape would;
// typ selects the "type" label of the events counter ("" for the gauge).
// It is -1 if the series is missing.
func (c *cluster) metric(name, metric, typ string) float64 {
	c.t.Helper()
	families, err := c.regs[name].Gather()
	if err != nil {
		c.t.Fatalf("gather %s: %v", name, err)
	}
	for _, f := range families {
		if f.GetName() != metric {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := m.GetLabel()
			if typ != "" && (len(labels) != 1 || labels[0].GetValue() != typ) {
				continue
			}
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return -1
}
