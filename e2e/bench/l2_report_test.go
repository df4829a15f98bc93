package bench

// The layer-2 benchmark: failover as a client sees it, and the speaker's footprint with
// thousands of announced addresses, measured the way design.md ("Performance: how it is
// measured") says, in the lab (e2e/lab): real speakers, kube-proxy and ARP on a bridge.
//
// Run it with `IRONLB_BENCH=1 go test -count=1 -v -timeout 60m -run L2 ./e2e/bench/`.
// Optional: IRONLB_BENCH_TRIALS (trials per failure kind, default 20),
// IRONLB_BENCH_L2_SERVICES (Services for the footprint, default 3000; 0 skips it),
// IRONLB_BENCH_IDLE_SECONDS (how long idle CPU is measured, default 60),
// IRONLB_BENCH_SPEAKER_ARGS (extra speaker flags, space separated, e.g.
// "--memberlist-probe-interval=50ms") and IRONLB_BENCH_LOGS (a folder the lab's logs are
// copied to before the lab is removed).
//
// This test starts its own lab; the envtest API server that TestMain starts for the
// controller benchmark listens on other (loopback, random) ports and is left alone by the
// lab, which only removes processes, namespaces and links it marked as its own.

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

func l2Summary(r L2Results) string {
	var parts []string
	for _, k := range r.Failover {
		parts = append(parts, fmt.Sprintf("%s p50 %.0fms p99 %.0fms (takeover p50/p99 %.0f/%.0fms, members p99 %.0fms)", k.Kind, k.GapP50Ms, k.GapP99Ms, k.TakeoverP50Ms, k.TakeoverP99Ms, k.MembersP99Ms))
	}
	s := fmt.Sprintf("layer2 (%d nodes, joined in %.1fs): ", r.Nodes, r.JoinSeconds) + strings.Join(parts, "; ")
	if fp := r.Footprint; fp != nil {
		s += fmt.Sprintf("; speaker rss %.0fMiB, idle cpu %.2fs/min (%d svcs)", fp.MaxRSSMiB, fp.MeanIdleCPU, fp.Services)
	}
	return s
}

func l2PrintTable(r L2Results) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Println()
	fmt.Printf("Layer-2 failover (%d nodes, probe every %.0f ms, %.0f ms probe timeout; gap = longest client outage)\n", r.Nodes, r.ProbeEveryMs, r.ProbeTimeoutMs)
	_, _ = fmt.Fprintln(w, "kind\ttrials\tgap p50 ms\tgap p99 ms\tgap max ms\ttakeover p50 ms\ttakeover p99 ms\ttakeover max ms\tmembers p50 ms\tmembers p99 ms\tclient sent elsewhere before\t")
	for _, k := range r.Failover {
		_, _ = fmt.Fprintf(w, "%s\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%d\t\n", k.Kind, len(k.Trials),
			k.GapP50Ms, k.GapP99Ms, k.GapMaxMs, k.TakeoverP50Ms, k.TakeoverP99Ms, k.TakeoverMaxMs, k.MembersP50Ms, k.MembersP99Ms, k.StaleNeighbour)
	}
	_ = w.Flush()
	fmt.Printf("Goals (reported, not asserted): graceful gap < %.0f ms: %v; node loss p99 < %.0f ms: %v\n",
		r.Goals.GracefulMs, r.Goals.GracefulMet, r.Goals.NodeLossP99Ms, r.Goals.NodeLossMet)
	if fp := r.Footprint; fp != nil {
		fmt.Println()
		fmt.Printf("Speaker footprint with %d LoadBalancer Services (assigned in %.1fs, announced in %.1fs, conditions in %.1fs; idle window %.0fs)\n",
			fp.Services, fp.AssignedSeconds, fp.AnnouncedSeconds, fp.ConditionsSeconds, fp.IdleSeconds)
		w = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		_, _ = fmt.Fprintln(w, "node\towned IPs\tRSS MiB (3 svcs)\tRSS MiB\tidle CPU s/min (3 svcs)\tidle CPU s/min\t")
		for _, s := range fp.Speakers {
			_, _ = fmt.Fprintf(w, "%s\t%.0f\t%.1f\t%.1f\t%.2f\t%.2f\t\n", s.Node, fp.OwnedIPs[s.Node], s.BaselineRSSMiB, s.RSSMiB, s.BaselineCPUPerMin, s.IdleCPUPerMinute)
		}
		_ = w.Flush()
		fmt.Printf("ARP sample: %d of %d addresses answered by exactly one node\n", fp.SampleOneOwner, fp.SampleChecked)
		var roles []string
		for role := range fp.BurstCPU {
			roles = append(roles, role)
		}
		sort.Strings(roles)
		var cpu []string
		for _, role := range roles {
			cpu = append(cpu, fmt.Sprintf("%s %.1f", role, fp.BurstCPU[role]))
		}
		fmt.Printf("CPU seconds while the %d Services were created and announced (%.1fs): %s\n", fp.Services, fp.ConditionsSeconds, strings.Join(cpu, ", "))
	}
	fmt.Printf("load average (1m) before/after: %.2f / %.2f; run took %s\n", r.LoadAverage[0], r.LoadAverage[1], r.Duration.Round(time.Second))
}
