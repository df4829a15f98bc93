package membership

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestWrongKeyIsTold: two speakers with different gossip keys never join, and each says
// why: the peer is listed by KeyRejected and counted as key_rejected, not unreachable.
func TestWrongKeyIsTold(t *testing.T) {
	c := newCluster(t)
	c.edit = func(name string, cfg *Config) {
		if name == "b" {
			cfg.Secret = []byte("another cluster's secret: 0123456789")
		}
	}
	c.start("a")
	c.start("b")
	for _, n := range []string{"a", "b"} {
		other := c.members[map[string]string{"a": "b", "b": "a"}[n]].Addr()
		ok := waitFor(5*time.Second, func() bool { return slices.Contains(c.members[n].KeyRejected(), other) })
		if !ok {
			t.Fatalf("%s: KeyRejected = %v, want %s", n, c.members[n].KeyRejected(), other)
		}
		if got := c.members[n].Alive(); !slices.Equal(got, []string{n}) {
			t.Errorf("%s sees %v, want only itself", n, got)
		}
		if got := c.metric(n, "ironlb_memberlist_join_failures_total", causeKeyRejected); got < 1 {
			t.Errorf("%s: key_rejected join failures = %v, want at least 1", n, got)
		}
		if got := c.metric(n, "ironlb_memberlist_join_failures_total", causeUnreachable); got != 0 {
			t.Errorf("%s: unreachable join failures = %v, want 0", n, got)
		}
	}
}

// TestUnreachablePeerIsNotAKeyProblem: a peer address nobody listens on counts as
// unreachable, and KeyRejected stays empty.
func TestUnreachablePeerIsNotAKeyProblem(t *testing.T) {
	c := newCluster(t)
	a := c.start("a")
	a.SetPeers([]string{fmt.Sprintf("127.0.0.1:%d", freePort(t))})
	if !waitFor(5*time.Second, func() bool { return c.metric("a", "ironlb_memberlist_join_failures_total", causeUnreachable) >= 1 }) {
		t.Fatal("no unreachable join failure counted")
	}
	if got := a.KeyRejected(); len(got) != 0 {
		t.Errorf("KeyRejected = %v, want none", got)
	}
}

// TestLastAliveRemembersTheDead: a member that failed keeps the time it was last live,
// so a speaker can tell a peer that died from one that came back and cannot be reached.
func TestLastAliveRemembersTheDead(t *testing.T) {
	c := converged(t, "a", "b", "c")
	c.crash("c")
	c.waitAll([]string{"a", "b"}, 5*time.Second)
	crashed := time.Now()
	time.Sleep(50 * time.Millisecond)
	last := c.members["a"].LastAlive()
	if got := last["c"]; got.IsZero() || got.After(crashed) {
		t.Errorf("LastAlive[c] = %v, want a time before %v", got, crashed)
	}
	if got := last["b"]; got.Before(crashed) {
		t.Errorf("LastAlive[b] = %v, want now for a live member", got)
	}
	if _, ok := last["never"]; ok {
		t.Error("LastAlive holds a member never seen")
	}
}
