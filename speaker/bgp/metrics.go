package bgp

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector reads the sessions at scrape time, so the figures are never stale and nothing
// is counted twice.
type Collector struct {
	speaker *Speaker
	node    string

	up, prefixes, updatesSent, updatesReceived, bfdUp *prometheus.Desc
}

// NewCollector describes the speaker's BGP metrics; register it with a Prometheus registry.
func NewCollector(s *Speaker, node string) *Collector {
	labels := []string{"peer", "node"}
	return &Collector{
		speaker: s, node: node,
		up: prometheus.NewDesc("ironlb_bgp_session_up",
			"1 when the BGP session to the peer is Established, else 0.", labels, nil),
		prefixes: prometheus.NewDesc("ironlb_bgp_prefixes_advertised",
			"Prefixes advertised to the peer on the session.", labels, nil),
		updatesSent: prometheus.NewDesc("ironlb_bgp_updates_sent_total",
			"BGP UPDATE messages sent to the peer since the session was configured.", labels, nil),
		updatesReceived: prometheus.NewDesc("ironlb_bgp_updates_received_total",
			"BGP UPDATE messages received from the peer since the session was configured.", labels, nil),
		bfdUp: prometheus.NewDesc("ironlb_bfd_session_up",
			"1 when the BFD session to the peer is up, else 0; absent without BFD.", labels, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.prefixes, c.updatesSent, c.updatesReceived, c.bfdUp} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for name, st := range c.speaker.States(ctx) {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, boolValue(st.Session == "Established"), name, c.node)
		ch <- prometheus.MustNewConstMetric(c.prefixes, prometheus.GaugeValue, float64(st.Advertised), name, c.node)
		ch <- prometheus.MustNewConstMetric(c.updatesSent, prometheus.CounterValue, float64(st.UpdatesSent), name, c.node)
		ch <- prometheus.MustNewConstMetric(c.updatesReceived, prometheus.CounterValue, float64(st.UpdatesReceived), name, c.node)
		if st.BFD != "" {
			ch <- prometheus.MustNewConstMetric(c.bfdUp, prometheus.GaugeValue, boolValue(st.BFD == "Up"), name, c.node)
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
