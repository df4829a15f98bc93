package membership

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestMetricsRegistration: a second member on the same registry is refused with a
// clear error, and Shutdown frees the names so a restarted member can register again.
func TestMetricsRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := newCluster(t)
	c.edit = func(name string, cfg *Config) {
		cfg.Registerer = reg
		c.regs[name] = reg
	}
	c.start("a")
	cfg := c.config("b")
	if m, err := New(cfg); err == nil {
		m.Shutdown()
		t.Fatal("second member registered the same metrics")
	} else if !strings.Contains(err.Error(), "registering metrics") {
		t.Errorf("error %q does not say it is about metrics", err)
	}
	c.crash("a")
	c.start("b")
	if got := c.metric("b", "ironlb_memberlist_members", ""); got != 1 {
		t.Errorf("members gauge after re-registering = %v, want 1", got)
	}
}

// TestNilRegisterer: metrics are optional.
func TestNilRegisterer(t *testing.T) {
	c := newCluster(t)
	c.edit = func(_ string, cfg *Config) { cfg.Registerer = nil }
	if got := c.start("a").Alive(); len(got) != 1 || got[0] != "a" {
		t.Fatalf("Alive = %v, want [a]", got)
	}
}
