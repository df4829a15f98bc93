package plan_test

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ironlb/ironlb/speaker/plan"
)

// TestIsolatedSpeakerClaimsNothing: a speaker alone in memberlist takes over every address
// only when the others are dead; when they are up but unreachable (wrong key, blocked
// port, a restart that never joined), it owns nothing and reports nothing.
func TestIsolatedSpeakerClaimsNothing(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	later := t0.Add(10 * time.Second)
	cases := []struct {
		name     string
		alive    map[string][]string
		gossip   plan.Gossip
		isolated []string // the unreachable nodes; nil: not isolated
		contains string
	}{
		{
			name:  "alone, nothing known of the others (no Pods, no key error): takes over",
			alive: alive("a"),
		},
		{
			name:   "alone, the others died after their speakers became Ready: failover, takes over",
			alive:  alive("a"),
			gossip: plan.Gossip{LastAlive: map[string]time.Time{"a": later, "b": later, "c": later}, ReadySince: map[string]time.Time{"b": t0, "c": t0}},
		},
		{
			name:     "alone after a restart, the others Ready and never reached: isolated",
			alive:    alive("a"),
			gossip:   plan.Gossip{LastAlive: map[string]time.Time{"a": later}, ReadySince: map[string]time.Time{"b": t0, "c": t0}},
			isolated: []string{"b", "c"},
			contains: "node b has a Ready speaker never reached",
		},
		{
			name:     "alone, a peer Ready again after it was last reached (it restarted with another key): isolated",
			alive:    alive("a"),
			gossip:   plan.Gossip{LastAlive: map[string]time.Time{"a": later, "b": t0, "c": t0}, ReadySince: map[string]time.Time{"b": later}},
			isolated: []string{"b"},
			contains: "Ready again since it was last reached",
		},
		{
			name:     "alone, a peer rejects the key (no Pod information): isolated",
			alive:    alive("a"),
			gossip:   plan.Gossip{KeyRejected: []string{"c"}},
			isolated: []string{"c"},
			contains: "node c rejects this speaker's gossip key",
		},
		{
			name:   "with a live peer: never isolated, whatever else is unreachable",
			alive:  alive("a", "b"),
			gossip: plan.Gossip{KeyRejected: []string{"c"}, ReadySince: map[string]time.Time{"c": t0}},
		},
		{
			name:   "its own Pod and its own name do not count",
			alive:  alive("a"),
			gossip: plan.Gossip{KeyRejected: []string{"a"}, ReadySince: map[string]time.Time{"a": later}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			snap := withDefaults(plan.Snapshot{Node: "a", Alive: c.alive, Gossip: c.gossip,
				Services: []corev1.Service{svc("ns/web", []string{"198.18.0.1"}), svc("ns/db", []string{"198.18.0.2", "2001:db8::2"})}})
			p := plan.L2(snap)
			iso := p.Isolation
			if c.isolated == nil {
				if iso.Reason != "" {
					t.Fatalf("isolated (%s), want not", iso.Reason)
				}
				return
			}
			if strings.Join(iso.Unreachable, ",") != strings.Join(c.isolated, ",") || !strings.Contains(iso.Reason, c.contains) {
				t.Errorf("isolation %+v, want unreachable %v and a reason containing %q", iso, c.isolated, c.contains)
			}
			if len(p.Owned) != 0 || len(p.Conditions) != 0 {
				t.Errorf("an isolated speaker owns %v and reports %d conditions, want nothing", p.Owned, len(p.Conditions))
			}
		})
	}
	// The same speaker, not isolated, owns every address: the cases above test something.
	snap := withDefaults(plan.Snapshot{Node: "a", Alive: alive("a"), Services: []corev1.Service{svc("ns/web", []string{"198.18.0.1"})}})
	if p := plan.L2(snap); len(p.Owned) != 1 {
		t.Fatalf("a lone survivor owns %v, want its one address", p.Owned)
	}
}
