package membership

import (
	"slices"
	"testing"
	"time"
)

// converged starts the named members and waits until they all see each other.
func converged(t *testing.T, names ...string) *cluster {
	t.Helper()
	c := newCluster(t, names...)
	took := c.waitAll(names, 5*time.Second)
	t.Logf("%d members converged in %s", len(names), took.Round(time.Millisecond))
	return c
}

func TestClusterConverges(t *testing.T) {
	c := converged(t, "a", "b", "c")

	// Drain, then a fourth member must trigger Changes on the others.
	a := c.members["a"]
	select {
	case <-a.Changes():
	default:
		t.Error("no change pending after the cluster formed")
	}
	if got := cap(a.Changes()); got != 1 {
		t.Errorf("Changes has capacity %d, want 1 (coalesced)", got)
	}
	c.start("d")
	select {
	case <-a.Changes():
	case <-time.After(5 * time.Second):
		t.Fatal("Changes did not fire when d joined")
	}
	want := []string{"a", "b", "c", "d"}
	c.waitAll(want, 5*time.Second)

	for _, n := range want {
		if got := c.metric(n, "ironlb_memberlist_members", ""); got != 4 {
			t.Errorf("%s: members gauge = %v, want 4", n, got)
		}
		if got := c.metric(n, "ironlb_memberlist_events_total", eventJoin); got != 4 {
			t.Errorf("%s: join events = %v, want 4 (itself and three others)", n, got)
		}
	}
}

func TestCrashDetected(t *testing.T) {
	c := converged(t, "a", "b", "c", "d")
	for _, m := range c.members {
		<-m.Changes() // drain the joins
	}
	c.crash("d")
	took := c.waitAll([]string{"a", "b", "c"}, 5*time.Second)
	t.Logf("crashed member dropped by all others after %s", took.Round(time.Millisecond))
	for _, n := range c.names() {
		select {
		case <-c.members[n].Changes():
		default:
			t.Errorf("%s: Changes did not fire when d failed", n)
		}
	}
	for _, n := range c.names() {
		if got := c.metric(n, "ironlb_memberlist_events_total", eventFailed); got != 1 {
			t.Errorf("%s: failed events = %v, want 1", n, got)
		}
		if got := c.metric(n, "ironlb_memberlist_events_total", eventLeave); got != 0 {
			t.Errorf("%s: leave events = %v, want 0 (it crashed)", n, got)
		}
		if got := c.metric(n, "ironlb_memberlist_members", ""); got != 3 {
			t.Errorf("%s: members gauge = %v, want 3", n, got)
		}
	}
}

func TestLeave(t *testing.T) {
	c := converged(t, "a", "b", "c", "d")
	d := c.members["d"]
	delete(c.members, "d")
	start := time.Now()
	leaveErr := make(chan error, 1)
	go func() { leaveErr <- d.Leave(time.Second) }()
	took := c.waitAll([]string{"a", "b", "c"}, 2*time.Second)
	if err := <-leaveErr; err != nil {
		t.Fatalf("Leave: %v", err)
	}
	t.Logf("others dropped the leaving member %s after Leave was called; Leave returned after %s",
		took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if err := d.Shutdown(); err != nil {
		t.Errorf("Shutdown after Leave: %v", err)
	}
	if got := d.Alive(); len(got) != 0 {
		t.Errorf("left member sees %v, want nobody", got)
	}
	for _, n := range c.names() {
		if got := c.metric(n, "ironlb_memberlist_events_total", eventLeave); got != 1 {
			t.Errorf("%s: leave events = %v, want 1", n, got)
		}
		if got := c.metric(n, "ironlb_memberlist_events_total", eventFailed); got != 0 {
			t.Errorf("%s: failed events = %v, want 0 (d left gracefully)", n, got)
		}
	}
	// A left member does not come back by itself: its rejoin loop has stopped.
	time.Sleep(DefaultRejoinInterval + 500*time.Millisecond)
	c.waitAll([]string{"a", "b", "c"}, time.Second)
}

func TestRestartRejoins(t *testing.T) {
	tests := []struct {
		name          string
		waitForDetect bool
	}{
		{"after the others dropped it", true},
		{"before the others noticed", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := converged(t, "a", "b", "c")
			c.crash("c")
			if tt.waitForDetect {
				c.waitAll([]string{"a", "b"}, 5*time.Second)
			}
			start := time.Now()
			c.start("c") // same name and port, a fresh process as far as memberlist knows
			c.waitAll([]string{"a", "b", "c"}, 5*time.Second)
			t.Logf("restarted member back in every view after %s", time.Since(start).Round(time.Millisecond))
		})
	}
}

func TestWrongKeyCannotJoin(t *testing.T) {
	c := converged(t, "a", "b", "c")
	c.edit = func(name string, cfg *Config) {
		if name == "x" {
			cfg.Secret = []byte("a different secret, 0123456789")
		}
	}
	x := c.start("x") // everyone now has x as a peer, and x has everyone
	if _, err := x.ml.Join([]string{c.members["a"].Addr().String()}); err == nil {
		t.Error("join with the wrong key succeeded")
	} else {
		t.Logf("join with the wrong key: %v", err)
	}
	// Give the rejoin loops of both sides time to try.
	time.Sleep(DefaultRejoinInterval + 500*time.Millisecond)
	for _, n := range []string{"a", "b", "c"} {
		if got := c.members[n].Alive(); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Errorf("%s sees %v, want [a b c]", n, got)
		}
	}
	if got := x.Alive(); !slices.Equal(got, []string{"x"}) {
		t.Errorf("x sees %v, want only itself", got)
	}
}
