package membership

import (
	"bytes"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// leavingMeta is the node metadata a speaker gossips just before it leaves. memberlist
// tells an EventDelegate only that a node is gone, not whether it left or was declared
// dead; the flag lets every speaker log and count a graceful leave apart from a failure,
// which is what an operator looking at a failover wants to know. It is best effort: in
// a large cluster a node may hear of the leave before the flag and count a failure.
var leavingMeta = []byte("leaving")

// events is memberlist's EventDelegate, ConflictDelegate and Delegate for one Member.
// It keeps its own copy of the live members because memberlist calls it with its node
// lock held: calling back into memberlist from here would deadlock, and reading
// memberlist's Node structs later would race with its updates.
type events struct {
	log     *slog.Logger
	metrics *metrics
	changes chan struct{} // buffered 1: a pending "something changed"
	leaving atomic.Bool   // our own NodeMeta says we are leaving
	stopped atomic.Bool   // this member has shut down: it sees nobody, not even itself
	refuted atomic.Uint64 // verdicts of suspect or dead about this member it refuted

	local atomic.Pointer[[]byte] // our own metadata (the interfaces we report up)

	mu    sync.Mutex
	alive map[string]netip.AddrPort // live members (memberlist's alive or suspect) by name
	metas map[string][]byte         // their metadata, by name
	gone  map[string]time.Time      // when each member that is no longer live was last live
}

func newEvents(log *slog.Logger, m *metrics) *events {
	return &events{
		log:     log,
		metrics: m,
		changes: make(chan struct{}, 1),
		alive:   make(map[string]netip.AddrPort),
		metas:   make(map[string][]byte),
		gone:    make(map[string]time.Time),
	}
}

// notify coalesces change signals: a reader that is behind sees one pending signal and
// then reads the current state, which is all it needs.
func (e *events) notify() {
	select {
	case e.changes <- struct{}{}:
	default:
	}
}

// update records n as live (or not) and returns how many members are live now.
func (e *events) update(n *memberlist.Node, live bool) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if live {
		e.alive[n.Name] = addrPort(n)
		e.metas[n.Name] = bytes.Clone(n.Meta)
		delete(e.gone, n.Name)
	} else {
		delete(e.alive, n.Name)
		delete(e.metas, n.Name)
		e.gone[n.Name] = time.Now()
	}
	return len(e.alive)
}

// NotifyJoin is called when a node becomes live, including ourselves at start.
func (e *events) NotifyJoin(n *memberlist.Node) {
	count := e.update(n, true)
	e.metrics.members.Set(float64(count))
	e.metrics.events.WithLabelValues(eventJoin).Inc()
	e.log.Info("member joined", "node", n.Name, "addr", addrPort(n).String(), "members", count)
	e.notify()
}

// NotifyLeave is called when a node left or was declared dead.
func (e *events) NotifyLeave(n *memberlist.Node) {
	count := e.update(n, false)
	e.metrics.members.Set(float64(count))
	if bytes.Equal(n.Meta, leavingMeta) {
		e.metrics.events.WithLabelValues(eventLeave).Inc()
		e.log.Info("member left", "node", n.Name, "addr", addrPort(n).String(), "members", count)
	} else {
		e.metrics.events.WithLabelValues(eventFailed).Inc()
		e.log.Warn("member failed", "node", n.Name, "addr", addrPort(n).String(), "members", count)
	}
	e.notify()
}

// NotifyUpdate is called when a live node changes address or metadata. The set of live
// names does not change, but the metadata (its interfaces) may, so a change is signalled.
func (e *events) NotifyUpdate(n *memberlist.Node) {
	e.update(n, true)
	e.notify()
	e.metrics.events.WithLabelValues(eventUpdate).Inc()
	e.log.Debug("member updated", "node", n.Name, "addr", addrPort(n).String())
}

// NotifyConflict is called when a second node claims an existing member's name. That
// is two speakers configured with one node name, and it breaks the election, so say so.
func (e *events) NotifyConflict(existing, other *memberlist.Node) {
	e.metrics.events.WithLabelValues(eventConflict).Inc()
	e.log.Error("two speakers claim the same node name; check the speaker's node name setting",
		"node", existing.Name, "addr", addrPort(existing).String(), "otherAddr", addrPort(other).String())
}

// refute counts a refuted verdict about this member and signals it.
func (e *events) refute() {
	e.refuted.Add(1)
	e.metrics.events.WithLabelValues(eventRefute).Inc()
	e.log.Info("the others had this member as suspect or dead; refuted")
	e.notify()
}

// stop marks the member as out of the cluster and signals the change.
func (e *events) stop() {
	e.stopped.Store(true)
	e.metrics.members.Set(0)
	e.notify()
}

// names returns the live member names, sorted; none once stopped.
func (e *events) names() []string {
	if e.stopped.Load() {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.alive))
	for name := range e.alive {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// lastAlive returns, for every member seen since start, when it was last live: now for
// the live ones. Once stopped it returns nothing.
func (e *events) lastAlive() map[string]time.Time {
	if e.stopped.Load() {
		return nil
	}
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]time.Time, len(e.alive)+len(e.gone))
	for name, t := range e.gone {
		out[name] = t
	}
	for name := range e.alive {
		out[name] = now
	}
	return out
}

// liveAddrs returns the set of addresses of live members.
func (e *events) liveAddrs() map[netip.AddrPort]bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[netip.AddrPort]bool, len(e.alive))
	for _, a := range e.alive {
		out[a] = true
	}
	return out
}

// NodeMeta is our metadata: what SetMeta gave, or leavingMeta once Leave has started.
func (e *events) NodeMeta(limit int) []byte {
	if e.leaving.Load() {
		return leavingMeta
	}
	if p := e.local.Load(); p != nil && len(*p) <= limit {
		return *p
	}
	return nil
}

// aliveMeta returns the live members with their metadata.
func (e *events) aliveMeta() map[string][]byte {
	if e.stopped.Load() {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string][]byte, len(e.alive))
	for name := range e.alive {
		out[name] = bytes.Clone(e.metas[name])
	}
	return out
}

// The rest of memberlist.Delegate is unused: speakers exchange no data of their own.

func (e *events) NotifyMsg([]byte)                           {}
func (e *events) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (e *events) LocalState(join bool) []byte                { return nil }
func (e *events) MergeRemoteState(buf []byte, join bool)     {}

// addrPort converts memberlist's address to a comparable value.
func addrPort(n *memberlist.Node) netip.AddrPort {
	ip, _ := netip.AddrFromSlice(n.Addr)
	return netip.AddrPortFrom(ip.Unmap(), n.Port)
}
