// Package metrics exposes the controller's Prometheus metrics on controller-runtime's
// registry, next to its built-in reconcile-duration histogram
// (controller_runtime_reconcile_time_seconds) and queue depth (workqueue_depth).
package metrics

import (
	"math/big"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/ironlb/ironlb/controller/allocator"
	"github.com/ironlb/ironlb/internal/ipset"
)

// Metrics holds the controller's collectors.
type Metrics struct {
	poolSize    *prometheus.GaugeVec
	poolInUse   *prometheus.GaugeVec
	poolFree    *prometheus.GaugeVec
	allocations *prometheus.CounterVec
	releases    *prometheus.CounterVec
	failures    *prometheus.CounterVec
}

var (
	once   sync.Once
	shared *Metrics
)

// New registers the collectors with controller-runtime's registry, once per process (tests
// run several controllers in one process).
func New() *Metrics {
	once.Do(func() { shared = build() })
	return shared
}

func build() *Metrics {
	m := &Metrics{
		poolSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ironlb_pool_addresses", Help: "Addresses in the pool, per family (reserved included).",
		}, []string{"pool", "family"}),
		poolInUse: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ironlb_pool_addresses_in_use", Help: "Addresses of the pool held by Services, per family.",
		}, []string{"pool", "family"}),
		poolFree: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ironlb_pool_addresses_available", Help: "Addresses of the pool left for automatic assignment, per family.",
		}, []string{"pool", "family"}),
		allocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ironlb_allocations_total", Help: "Addresses assigned to Services, per pool.",
		}, []string{"pool"}),
		releases: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ironlb_releases_total", Help: "Addresses released by Services, per pool.",
		}, []string{"pool"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ironlb_allocation_failures_total", Help: "Allocations that failed (or got fewer families than wanted), per reason.",
		}, []string{"reason"}),
	}
	crmetrics.Registry.MustRegister(m.poolSize, m.poolInUse, m.poolFree, m.allocations, m.releases, m.failures)
	return m
}

// SetPoolUsage records a pool's size and use.
func (m *Metrics) SetPoolUsage(pool string, usage map[ipset.Family]allocator.Usage) {
	for f, u := range usage {
		fam := f.String()
		m.poolSize.WithLabelValues(pool, fam).Set(toFloat(u.Total))
		m.poolInUse.WithLabelValues(pool, fam).Set(float64(u.Assigned))
		m.poolFree.WithLabelValues(pool, fam).Set(toFloat(u.Available))
	}
}

// DeletePool drops a deleted pool's series.
func (m *Metrics) DeletePool(pool string) {
	for _, v := range []*prometheus.GaugeVec{m.poolSize, m.poolInUse, m.poolFree} {
		v.DeletePartialMatch(prometheus.Labels{"pool": pool})
	}
}

// Allocated counts an address given from a pool.
func (m *Metrics) Allocated(pool string) { m.allocations.WithLabelValues(pool).Inc() }

// Released counts an address given back to a pool.
func (m *Metrics) Released(pool string) { m.releases.WithLabelValues(pool).Inc() }

// Failed counts an allocation failure by reason.
func (m *Metrics) Failed(reason string) { m.failures.WithLabelValues(reason).Inc() }

func toFloat(n *big.Int) float64 {
	if n == nil {
		return 0
	}
	f, _ := new(big.Float).SetInt(n).Float64()
	return f
}
