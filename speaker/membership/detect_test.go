package membership

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestFailureDetectionTime measures, with the default timings, how long the survivors
// take to drop a crashed member: ten trials for two cluster sizes, logging p50 and max.
// It asserts only a loose bound, since test machines are noisy; the logged numbers are
// the point. Run with -v to see them.
func TestFailureDetectionTime(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement; skipped in -short")
	}
	for _, size := range []int{3, 8} {
		t.Run(fmt.Sprintf("%d nodes", size), func(t *testing.T) {
			var names []string
			for i := range size {
				names = append(names, fmt.Sprintf("node-%d", i))
			}
			c := newCluster(t, names...)
			c.waitAll(names, 5*time.Second)

			const trials = 10
			var times []time.Duration
			for i := range trials {
				victim := names[i%size]
				// Crash at a random point of the probe cycle.
				time.Sleep(200*time.Millisecond + rand.N(DefaultProbeInterval))
				c.crash(victim)
				times = append(times, c.waitAll(without(names, victim), 5*time.Second))
				c.start(victim)
				c.waitAll(names, 5*time.Second)
			}
			slices.Sort(times)
			t.Logf("%d nodes, %d crashes: detection p50 %s, min %s, max %s (all: %v)", size, trials,
				times[len(times)/2].Round(time.Millisecond), times[0].Round(time.Millisecond),
				times[len(times)-1].Round(time.Millisecond), roundAll(times))
		})
	}
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
