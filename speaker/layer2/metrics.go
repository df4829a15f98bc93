package layer2

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the Prometheus series of an Announcer. All counters carry a
// family label, "ipv4" (ARP) or "ipv6" (NDP). A nil *Metrics records nothing.
type Metrics struct {
	requests   *prometheus.CounterVec
	replies    *prometheus.CounterVec
	gratuitous *prometheus.CounterVec
	foreign    *prometheus.CounterVec
	owned      prometheus.Gauge
}

// NewMetrics creates the series and registers them with reg (nil: not
// registered, handy in tests). It panics if they are already registered,
// like prometheus.MustRegister.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ironlb", Subsystem: "layer2", Name: name, Help: help,
		}, []string{"family"})
	}
	m := &Metrics{
		requests: counter("requests_received_total",
			"ARP requests and Neighbor Solicitations received for an IP this node owns."),
		replies: counter("replies_sent_total",
			"ARP replies and solicited Neighbor Advertisements sent."),
		gratuitous: counter("gratuitous_sent_total",
			"Gratuitous ARPs and unsolicited Neighbor Advertisements sent."),
		foreign: counter("foreign_replies_total",
			"Frames from another MAC claiming an IP this node owns (split brain)."),
		owned: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "ironlb", Subsystem: "layer2", Name: "owned_ips",
			Help: "IPs this node currently answers ARP/NDP for.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.replies, m.gratuitous, m.foreign, m.owned)
	}
	return m
}

func (m *Metrics) request(f family) {
	if m != nil {
		m.requests.WithLabelValues(f.String()).Inc()
	}
}

func (m *Metrics) reply(f family) {
	if m != nil {
		m.replies.WithLabelValues(f.String()).Inc()
	}
}

func (m *Metrics) sentGratuitous(f family) {
	if m != nil {
		m.gratuitous.WithLabelValues(f.String()).Inc()
	}
}

func (m *Metrics) foreignReply(f family) {
	if m != nil {
		m.foreign.WithLabelValues(f.String()).Inc()
	}
}

func (m *Metrics) setOwned(n int) {
	if m != nil {
		m.owned.Set(float64(n))
	}
}
