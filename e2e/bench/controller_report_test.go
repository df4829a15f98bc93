package bench

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
)

func printTable(res Results) {
	fmt.Println()
	fmt.Printf("ironlb controller benchmark: %d LoadBalancer Services, one %s pool, %d CPUs, %s\n", res.Services, poolCIDR, res.CPUs, res.GoVersion)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\ttime\tvs ceiling\tfirst IP\tsvc writes\trate-limit floor\t409s\tapiserver cpu\tetcd cpu\ttest proc cpu\tload 1m\t")
	c := res.Ceiling
	fmt.Fprintf(tw, "ceiling: client-go, %d goroutines\t%.2fs\t1.00x\t-\t%d\t-\t0\t%.1fs\t%.1fs\t%.1fs\t%.1f\t\n",
		c.Workers, c.StatusSeconds, res.Services, c.CPU.APIServer, c.CPU.Etcd, c.CPU.Test, c.LoadAverage)
	for _, r := range res.Controller {
		fmt.Fprintf(tw, "controller qps %g burst %d, %d workers\t%.2fs\t%.2fx\t%.2fs\t%d\t%.1fs\t%d\t%.1fs\t%.1fs\t%.1fs\t%.1f\t\n",
			r.QPS, r.Burst, r.Workers, r.Seconds, r.Ratio, r.FirstIPSeconds, r.ServiceWrites, r.RateLimitFloorSeconds,
			r.Conflicts, r.CPU.APIServer, r.CPU.Etcd, r.CPU.Test, r.LoadAverage)
	}
	_ = tw.Flush()
	fmt.Printf("ceiling: %.0f status writes/s (median of rounds %s; cpu per round); the watch saw round 1's last IP %.2fs after its first write;\n",
		c.WritesPerSecond, seconds(c.RoundSeconds), c.ObservedSeconds)
	fmt.Printf("  creating the Services took %.1fs, deleting them %.1fs\n", c.CreateSeconds, c.DeleteSeconds)
	for _, r := range res.Controller {
		fmt.Printf("controller qps %g: last status PATCH answered %.2fs after start, its IP seen by the watch at %.2fs\n",
			r.QPS, r.LastWriteSeconds, r.Seconds)
	}
	l := res.Latency
	fmt.Printf("latency (create -> IP seen by a watch, %d Services one by one, %d present, qps %g): p50 %.1fms  p90 %.1fms  p99 %.1fms  max %.1fms  mean %.1fms\n",
		l.Count, res.Services, l.QPS, l.P50Ms, l.P90Ms, l.P99Ms, l.MaxMs, l.MeanMs)
	for _, p := range l.Parts {
		fmt.Printf("  %-50s p50 %6.1fms  p99 %6.1fms  max %6.1fms\n", p.Name, p.P50Ms, p.P99Ms, p.MaxMs)
	}
	f := res.Footprint
	fmt.Printf("footprint: RSS %.0f MiB after %d assigned (baseline %.0f MiB before the controller started; Go heap in use %.0f MiB).\n",
		f.RSSMiB, res.Services, f.BaselineRSSMiB, f.HeapInuseMiB)
	fmt.Println("  note: this is the whole test process: the controller plus the benchmark's own client-go client and Service informer.")
	for _, r := range res.Controller {
		fmt.Printf("controller API requests (qps %g), until the last IP [then until quiet, %.1fs later]:\n", r.QPS, r.SettleSeconds)
		keys := make([]string, 0, len(r.Requests))
		for k := range r.Requests {
			keys = append(keys, k)
		}
		for k := range r.RequestsAfter {
			if _, ok := r.Requests[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			mean := ""
			if m, ok := r.RequestMeanMs[k]; ok && !strings.HasSuffix(k, ")") {
				mean = fmt.Sprintf("mean %.1fms", m)
			}
			fmt.Printf("  %-40s %6d  [+%d]  %s\n", k, r.Requests[k], r.RequestsAfter[k], mean)
		}
	}
	fmt.Println()
}
