package membership

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// cuttableTransport wraps the real network transport and, while cut, behaves like a
// node whose network is unplugged: packets in both directions vanish, new streams fail
// and incoming streams are dropped. The sockets stay open, exactly as with a switch
// port going down, so there are no quick "connection refused" answers.
type cuttableTransport struct {
	memberlist.Transport
	cut     atomic.Bool
	packets chan *memberlist.Packet
	streams chan net.Conn
	done    chan struct{}
	once    sync.Once
}

func newCuttable(inner memberlist.Transport) *cuttableTransport {
	t := &cuttableTransport{
		Transport: inner,
		packets:   make(chan *memberlist.Packet),
		streams:   make(chan net.Conn),
		done:      make(chan struct{}),
	}
	go func() {
		for {
			select {
			case p := <-inner.PacketCh():
				if t.cut.Load() {
					continue
				}
				select {
				case t.packets <- p:
				case <-t.done:
					return
				}
			case <-t.done:
				return
			}
		}
	}()
	go func() {
		for {
			select {
			case c := <-inner.StreamCh():
				if t.cut.Load() {
					c.Close()
					continue
				}
				select {
				case t.streams <- c:
				case <-t.done:
					c.Close()
					return
				}
			case <-t.done:
				return
			}
		}
	}()
	return t
}

func (t *cuttableTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if t.cut.Load() {
		return time.Now(), nil // sent, as far as the sender can tell
	}
	return t.Transport.WriteTo(b, addr)
}

func (t *cuttableTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if t.cut.Load() {
		time.Sleep(timeout) // an unanswered SYN
		return nil, errors.New("test partition: dial timed out")
	}
	return t.Transport.DialTimeout(addr, timeout)
}

func (t *cuttableTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }
func (t *cuttableTransport) StreamCh() <-chan net.Conn           { return t.streams }

// Shutdown drops all traffic and keeps draining the inner transport until it has
// stopped: its listeners block on their channels, and its Shutdown waits for them.
func (t *cuttableTransport) Shutdown() error {
	t.cut.Store(true)
	err := t.Transport.Shutdown()
	t.once.Do(func() { close(t.done) })
	return err
}

// cuttableCluster is a cluster whose members' networks the test can cut, by name.
func cuttableCluster(t *testing.T) (*cluster, map[string]*cuttableTransport) {
	transports := map[string]*cuttableTransport{}
	var mu sync.Mutex
	c := newCluster(t)
	c.edit = func(name string, cfg *Config) {
		cfg.wrapTransport = func(inner memberlist.Transport) memberlist.Transport {
			mu.Lock()
			defer mu.Unlock()
			transports[name] = newCuttable(inner)
			return transports[name]
		}
	}
	return c, transports
}

// TestPartitionHeals cuts one member off the network, checks that both sides drop each
// other, heals the cut and checks that the rejoin loop merges them into one cluster
// again. memberlist alone would not: it stops probing dead nodes.
func TestPartitionHeals(t *testing.T) {
	c, transports := cuttableCluster(t)
	all := []string{"a", "b", "c", "d"}
	for _, n := range all {
		c.start(n)
	}
	c.waitAll(all, 5*time.Second)

	transports["d"].cut.Store(true)
	start := time.Now()
	if !waitFor(5*time.Second, func() bool {
		for _, n := range []string{"a", "b", "c"} {
			if len(c.members[n].Alive()) != 3 {
				return false
			}
		}
		return true
	}) {
		t.Fatal("the majority side did not drop the cut-off member within 5s")
	}
	t.Logf("majority dropped the cut-off member after %s", time.Since(start).Round(time.Millisecond))
	if !waitFor(10*time.Second, func() bool { return len(c.members["d"].Alive()) == 1 }) {
		t.Fatalf("the cut-off member still sees %v after 10s", c.members["d"].Alive())
	}
	t.Logf("cut-off member saw itself alone after %s", time.Since(start).Round(time.Millisecond))

	// Keep the partition past several rejoin attempts, then heal it.
	time.Sleep(DefaultRejoinInterval + 500*time.Millisecond)
	transports["d"].cut.Store(false)
	took := c.waitAll(all, 4*DefaultRejoinInterval+2*time.Second)
	t.Logf("one cluster again %s after the partition healed", took.Round(time.Millisecond))
}

// TestRefutationIsCounted: a member the others declared dead while it was up (a short
// cut, healed before it noticed anything itself) refutes when it hears of it, and says
// so: Refutations grows and the refute event is counted. The speaker re-announces its
// addresses on it, because another node took them over meanwhile.
func TestRefutationIsCounted(t *testing.T) {
	c, transports := cuttableCluster(t)
	all := []string{"a", "b", "c"}
	for _, n := range all {
		c.start(n)
	}
	c.waitAll(all, 5*time.Second)
	if got := c.members["c"].Refutations(); got != 0 {
		t.Fatalf("refutations before any cut = %d", got)
	}
	transports["c"].cut.Store(true)
	if !waitFor(5*time.Second, func() bool { return len(c.members["a"].Alive()) == 2 }) {
		t.Fatal("the others did not drop the cut-off member")
	}
	transports["c"].cut.Store(false)
	if !waitFor(4*DefaultRejoinInterval, func() bool { return c.members["c"].Refutations() > 0 }) {
		t.Fatal("the member declared dead never counted a refutation")
	}
	c.waitAll(all, 4*DefaultRejoinInterval)
	if got := c.metric("c", "ironlb_memberlist_events_total", eventRefute); got < 1 {
		t.Errorf("refute events = %v, want at least 1", got)
	}
}
