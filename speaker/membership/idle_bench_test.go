package membership

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/ironlb/ironlb/internal/testenv"
)

// TestIdleGossipCost measures what an idle three-member cluster costs, in CPU seconds a
// minute for the whole process (three members), with our memberlist settings and with one
// setting changed at a time, side by side in one run (the machine is noisy: the ratios are
// the figures). It is a benchmark:
// IRONLB_BENCH=1 go test -count=1 -v -run TestIdleGossipCost ./speaker/membership/
func TestIdleGossipCost(t *testing.T) {
	if !testenv.BenchEnabled() {
		t.Skip("a benchmark: set IRONLB_BENCH=1")
	}
	window := 20 * time.Second
	variants := []struct {
		name string
		tune func(*memberlist.Config)
	}{
		{"ours", nil},
		{"compression on (memberlist's default)", func(mc *memberlist.Config) { mc.EnableCompression = true }},
		{"gossip every 50 ms instead of 20 ms", func(mc *memberlist.Config) { mc.GossipInterval = 50 * time.Millisecond }},
		{"probe every 200 ms instead of 100 ms", func(mc *memberlist.Config) { mc.ProbeInterval = 200 * time.Millisecond }},
	}
	measure := func(tune func(*memberlist.Config)) float64 {
		c := newCluster(t)
		c.edit = func(_ string, cfg *Config) { cfg.tune = tune }
		for _, n := range []string{"a", "b", "c"} {
			c.start(n)
		}
		defer func() {
			for name, m := range c.members {
				m.Shutdown()
				delete(c.members, name) // the cleanup newCluster registered has nothing left to do
			}
		}()
		c.waitAll([]string{"a", "b", "c"}, 10*time.Second)
		time.Sleep(2 * time.Second) // joins and their gossip done
		before := processCPU(t)
		time.Sleep(window)
		return (processCPU(t) - before) / window.Minutes()
	}
	const rounds = 2
	cpu := make([]float64, len(variants))
	for range rounds { // round robin, so drift on the machine hits every variant alike
		for i, v := range variants {
			cpu[i] += measure(v.tune) / rounds
		}
	}
	res := map[string]any{"members": 3, "window_seconds": window.Seconds(), "rounds": rounds}
	for i, v := range variants {
		t.Logf("%-40s %.3f CPU-s a minute (%.2fx ours)", v.name, cpu[i], cpu[i]/cpu[0])
		res[v.name] = cpu[i]
	}
	res["summary"] = fmt.Sprintf("idle 3-member memberlist: %.2f CPU-s/min for the process; compression on %.2fx, gossip 50ms %.2fx, probe 200ms %.2fx",
		cpu[0], cpu[1]/cpu[0], cpu[2]/cpu[0], cpu[3]/cpu[0])
	t.Logf("wrote %s", testenv.WriteResult(t, "gossip-idle.json", res))
	t.Log(res["summary"])
}

// processCPU is this process's user and system CPU time in seconds.
func processCPU(t *testing.T) float64 {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
