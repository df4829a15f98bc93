package membership

import "github.com/prometheus/client_golang/prometheus"

// Event types counted in ironlb_memberlist_events_total.
const (
	eventJoin     = "join"     // a node became a live member (including a restart)
	eventLeave    = "leave"    // a node left gracefully (Leave)
	eventFailed   = "failed"   // a node was declared dead by failure detection
	eventUpdate   = "update"   // a live node changed its address or metadata
	eventConflict = "conflict" // two nodes claimed the same name: a misconfiguration
	eventRefute   = "refute"   // the others had this node as suspect or dead; it refuted
)

// metrics are this package's Prometheus collectors. They exist even when not
// registered, so the code never checks for nil.
type metrics struct {
	members      prometheus.Gauge
	events       *prometheus.CounterVec
	joinFailures *prometheus.CounterVec
	reg          prometheus.Registerer
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		members: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "ironlb", Subsystem: "memberlist", Name: "members",
			Help: "Live members of the speakers' gossip cluster as seen by this speaker, itself included.",
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ironlb", Subsystem: "memberlist", Name: "events_total",
			Help: "Membership changes seen by this speaker, by type (join, leave, failed, update, conflict, refute: the others had this speaker as suspect or dead).",
		}, []string{"type"}),
		joinFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ironlb", Subsystem: "memberlist", Name: "join_failures_total",
			Help: "Failed attempts to join a peer, by cause: key_rejected (the peer is up but holds another gossip key) or unreachable (down, or the port is blocked).",
		}, []string{"cause"}),
		reg: reg,
	}
	for _, c := range []string{causeKeyRejected, causeUnreachable} {
		m.joinFailures.WithLabelValues(c)
	}
	// Expose every type from the start, so rate() and alerts see 0 rather than nothing.
	for _, t := range []string{eventJoin, eventLeave, eventFailed, eventUpdate, eventConflict, eventRefute} {
		m.events.WithLabelValues(t)
	}
	if reg == nil {
		return m, nil
	}
	if err := reg.Register(m.members); err != nil {
		return nil, err
	}
	if err := reg.Register(m.events); err != nil {
		reg.Unregister(m.members)
		return nil, err
	}
	if err := reg.Register(m.joinFailures); err != nil {
		reg.Unregister(m.members)
		reg.Unregister(m.events)
		return nil, err
	}
	return m, nil
}

// unregister removes the collectors so a new Member can register its own.
func (m *metrics) unregister() {
	if m.reg != nil {
		m.reg.Unregister(m.members)
		m.reg.Unregister(m.events)
		m.reg.Unregister(m.joinFailures)
	}
}
