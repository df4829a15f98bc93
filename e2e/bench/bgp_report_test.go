package bench

// The BGP benchmark (issue #6): how fast a Service's address reaches the router, how long
// a speaker takes to advertise thousands of Services, what a client behind the router sees
// when a node dies (BFD), and the speaker's footprint with thousands of routes, measured in
// the lab (e2e/lab): real speakers (embedded GoBGP) peering with FRR, kube-proxy, and a
// client that reaches the Services only through the router's BGP routes.
//
// Run it with `IRONLB_BENCH=1 go test -count=1 -v -timeout 40m -run BGP ./e2e/bench/`.
// Optional: IRONLB_BENCH_BGP_CONVERGENCE (Services for the convergence figure, default 100),
// IRONLB_BENCH_BGP_TRIALS (node-loss trials, default 20), IRONLB_BENCH_BGP_SERVICES
// (Services for the scale and footprint figures, default 3000; 0 skips them),
// IRONLB_BENCH_BGP_IDLE_SECONDS (idle CPU window with those Services, default 30),
// IRONLB_BENCH_LOCK_WAIT_MINUTES (how long to wait for another lab on the machine, default
// 30) and IRONLB_BENCH_LOGS (a folder the lab's logs are copied to before the lab is removed).
//
// Helpers shared with the other benchmarks live in their files: speakerPID, cpuSample,
// labProcesses, speakerMetrics, percentiles and envInt in l2failover_bench_test.go;
// statusMiB, parallel and percentile in controller_bench_test.go.

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

func bgpSummary(r *BGPResults) string {
	var parts []string
	if c := r.Convergence; c != nil {
		parts = append(parts, fmt.Sprintf("alloc->route in FRR p50 %.0fms p99 %.0fms (all %d hops %.0f/%.0fms; router kernel %.0f/%.0fms)",
			c.FirstHopP50Ms, c.FirstHopP99Ms, r.Nodes, c.AllHopsP50Ms, c.AllHopsP99Ms, c.KernelP50Ms, c.KernelP99Ms))
	}
	if nl := r.NodeLoss; nl != nil {
		parts = append(parts, fmt.Sprintf("node loss (BFD %dx%d) outage p50 %.0fms p99 %.0fms, route gone p50/p99 %.0f/%.0fms",
			bgpBFDInterval, bgpBFDMult, nl.OutageP50Ms, nl.OutageP99Ms, nl.RouteGoneP50Ms, nl.RouteGoneP99Ms))
	}
	if sc := r.Scale; sc != nil {
		others := 0.0
		for _, s := range sc.Others {
			others = max(others, s.AllSeconds)
		}
		parts = append(parts, fmt.Sprintf("%d svcs advertised in %.1fs after a speaker start (%.1fs for 2 together); speaker rss %.0fMiB, idle cpu %.2fs/min",
			sc.Services, sc.First.AllSeconds, others, sc.MaxRSSMiB, sc.MeanIdleCPU))
	}
	s := "bgp: " + strings.Join(parts, "; ")
	if len(r.Problems) > 0 {
		s += fmt.Sprintf("; %d problems (see bgp-bench.json)", len(r.Problems))
	}
	return s
}

func bgpPrintTable(r *BGPResults) {
	fmt.Println()
	fmt.Printf("BGP setup: every session Established %.1fs after the speakers' first start\n", r.Setup.EstablishedSeconds)
	if c := r.Convergence; c != nil {
		fmt.Printf("BGP convergence: IP allocated -> route in FRR's zebra table, %d Services one at a time (FRR read every %.1f ms)\n", c.Services, c.PollCycleMs)
		w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		_, _ = fmt.Fprintln(w, "figure\tp50 ms\tp99 ms\tmax ms\t")
		_, _ = fmt.Fprintf(w, "create -> IP (controller)\t%.1f\t%.1f\t-\t\n", c.AllocP50Ms, c.AllocP99Ms)
		_, _ = fmt.Fprintf(w, "IP -> route in the router's kernel (ip monitor)\t%.1f\t%.1f\t%.1f\t\n", c.KernelP50Ms, c.KernelP99Ms, c.KernelMaxMs)
		_, _ = fmt.Fprintf(w, "IP -> FRR zebra: first next hop\t%.1f\t%.1f\t%.1f\t\n", c.FirstHopP50Ms, c.FirstHopP99Ms, c.FirstHopMaxMs)
		_, _ = fmt.Fprintf(w, "IP -> FRR zebra: all %d next hops\t%.1f\t%.1f\t%.1f\t\n", r.Nodes, c.AllHopsP50Ms, c.AllHopsP99Ms, c.AllHopsMaxMs)
		_ = w.Flush()
		if c.Missing > 0 {
			fmt.Printf("  %d Services never got a route with every next hop\n", c.Missing)
		}
	}
	if nl := r.NodeLoss; nl != nil {
		fmt.Println()
		fmt.Printf("BGP node loss (link cut + speaker SIGKILL, BFD %d ms x%d), %d trials; probes: a new TCP connection every %.0f ms, %.0f ms timeout, ECMP over L4\n",
			bgpBFDInterval, bgpBFDMult, len(nl.Trials), nl.ProbeEveryMs, nl.ProbeTimeoutMs)
		fmt.Printf("  fault-free spread over the next hops: %v\n", nl.Spread)
		w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		_, _ = fmt.Fprintln(w, "figure\tp50 ms\tp99 ms\tmax ms\t")
		_, _ = fmt.Fprintf(w, "outage of flows hashed to the dead node\t%.0f\t%.0f\t%.0f\t\n", nl.OutageP50Ms, nl.OutageP99Ms, nl.OutageMaxMs)
		_, _ = fmt.Fprintf(w, "FRR drops the next hop\t%.0f\t%.0f\t%.0f\t\n", nl.RouteGoneP50Ms, nl.RouteGoneP99Ms, nl.RouteGoneMaxMs)
		_, _ = fmt.Fprintf(w, "longest gap between successes\t%.0f\t%.0f\t%.0f\t\n", nl.GapP50Ms, nl.GapP99Ms, nl.GapMaxMs)
		_ = w.Flush()
		fmt.Printf("Goal (reported, not asserted): node-loss outage p99 < %.0f ms: %v\n", r.Goals.NodeLossP99Ms, r.Goals.NodeLossMet)
	}
	if sc := r.Scale; sc != nil {
		fmt.Println()
		fmt.Printf("BGP scale: %d dual-stack Services (%d IPv4 + %d IPv6 prefixes per node), created in %.1fs, assigned after %.1fs\n",
			sc.Services, sc.PrefixesPerSession, sc.PrefixesPerSession, sc.CreateSeconds, sc.AssignedSeconds)
		w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		_, _ = fmt.Fprintln(w, "speaker start\thealthy s\tEstablished s\tfirst prefix s\tall IPv4 s\tall IPv6 s\tall s\tcpu s\t")
		for i, s := range append([]BGPStart{sc.First}, sc.Others...) {
			how := "alone"
			if i > 0 {
				how = "with the other"
			}
			_, _ = fmt.Fprintf(w, "%s (%s)\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t\n", s.Node, how,
				s.HealthySeconds, s.EstablishedSeconds, s.FirstPrefixSeconds, s.AllV4Seconds, s.AllV6Seconds, s.AllSeconds, s.CPUSeconds)
		}
		_ = w.Flush()
		fmt.Printf("Speaker footprint with %d Services and 2 peers (settled after %.0fs; idle window %.0fs)\n", sc.Services, sc.SettleSeconds, sc.IdleSeconds)
		w = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		_, _ = fmt.Fprintln(w, "node\tRSS MiB (0 svcs)\tRSS MiB\tpeak RSS MiB\tGo heap MiB\tgoroutines\tidle CPU s/min\t")
		for _, s := range sc.Speakers {
			_, _ = fmt.Fprintf(w, "%s\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t%.2f\t\n", s.Node, s.BaselineRSSMiB, s.RSSMiB, s.HWMMiB, s.HeapInuseMiB, s.Goroutines, s.IdleCPUPerMinute)
		}
		_ = w.Flush()
	}
	for _, p := range r.Problems {
		fmt.Println("PROBLEM:", p)
	}
	fmt.Printf("load average (1m) before/after: %.2f / %.2f; run took %s\n", r.LoadAverage[0], r.LoadAverage[1], r.Duration.Round(time.Second))
}
