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
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/e2e/lab"
)

func bgpScale(t *testing.T, ctx context.Context, l *lab.Lab, pods []*lab.Pod, n int, idle time.Duration, res *BGPResults) *BGPScale {
	t.Helper()
	sc := &BGPScale{Services: n, PrefixesPerSession: n, IdleSeconds: idle.Seconds()}
	base := map[string]float64{}
	for _, node := range l.Nodes {
		pid, err := speakerPID(l, node.Name)
		if err != nil {
			t.Fatal(err)
		}
		base[node.Name] = statusMiB(t, pid, "VmRSS:")
	}
	logf("scale: speakers' RSS without Services (2 peers): %v MiB; stopping every speaker", base)
	for _, node := range l.Nodes {
		if err := l.StopSpeaker(node.Name); err != nil {
			t.Fatal(err)
		}
	}
	until(t, time.Minute, "FRR to have no prefix from any node", func() (bool, string) {
		sum, err := bgpSummaryPeers(ctx, l)
		if err != nil {
			return false, err.Error()
		}
		total := 0
		for _, peers := range sum {
			for _, p := range peers {
				total += p.PfxRcd
			}
		}
		return total == 0, fmt.Sprintf("%d prefixes", total)
	})

	logf("scale: creating %d dual-stack Services with endpoints", n)
	ensureNamespace(t, ctx, l.Kube.CoreV1(), bgpScaleNS)
	cctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	start := time.Now()
	parallel(t, n, 16, func(i int) error {
		name := fmt.Sprintf("svc-%04d", i)
		pod := pods[i%len(pods)]
		for _, fam := range []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol} {
			if err := bgpCreateSlice(cctx, l, bgpScaleNS, name, fam, pod); err != nil {
				return err
			}
		}
		_, err := l.Kube.CoreV1().Services(bgpScaleNS).Create(cctx, bgpService(bgpScaleNS, name, true), metav1.CreateOptions{})
		return err
	})
	sc.CreateSeconds = secs(time.Since(start))
	until(t, 10*time.Minute, "every Service has an IPv4 and an IPv6 address", func() (bool, string) {
		list, err := l.Kube.CoreV1().Services(bgpScaleNS).List(cctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		ok := 0
		for _, s := range list.Items {
			if len(s.Status.LoadBalancer.Ingress) == 2 {
				ok++
			}
		}
		return ok == n, fmt.Sprintf("%d of %d", ok, n)
	})
	sc.AssignedSeconds = secs(time.Since(start))

	// kube-proxy programs the Services meanwhile; the speaker start is timed once it is done,
	// so the figure is the speaker's and not a CPU fight (the machine is small).
	settle := time.Now()
	proxies := map[string]int{}
	for role, pid := range labProcesses(l) {
		if strings.HasPrefix(role, "kube-proxy") {
			proxies[role] = pid
		}
	}
	for time.Since(settle) < 3*time.Minute {
		before := cpuSample(proxies)
		time.Sleep(3 * time.Second)
		after := cpuSample(proxies)
		busy := 0.0
		for role := range proxies {
			busy += after[role] - before[role]
		}
		if busy < 0.3 {
			break
		}
	}
	sc.KubeProxyIdleSecs = secs(time.Since(settle))
	logf("scale: %d Services created in %.1fs, assigned after %.1fs; kube-proxy idle after %.1fs more", n, sc.CreateSeconds, sc.AssignedSeconds, sc.KubeProxyIdleSecs)

	dropsBefore := bgpDropCounts(ctx, l)
	first := l.Nodes[0]
	sc.First = bgpTimeStart(t, ctx, l, n, []*lab.Node{first})[0]
	logf("scale: %s alone: Established %.2fs, first prefix %.2fs, all %d IPv4 %.2fs, all IPv6 %.2fs (cpu %.1fs)",
		first.Name, sc.First.EstablishedSeconds, sc.First.FirstPrefixSeconds, n, sc.First.AllV4Seconds, sc.First.AllV6Seconds, sc.First.CPUSeconds)
	if len(l.Nodes) > 1 {
		sc.Others = bgpTimeStart(t, ctx, l, n, l.Nodes[1:])
		for _, s := range sc.Others {
			logf("scale: %s (started with the others): Established %.2fs, all IPv4 %.2fs, all IPv6 %.2fs (cpu %.1fs)",
				s.Node, s.EstablishedSeconds, s.AllV4Seconds, s.AllV6Seconds, s.CPUSeconds)
		}
	}

	pids := map[string]int{}
	for _, node := range l.Nodes {
		pid, err := speakerPID(l, node.Name)
		if err != nil {
			t.Fatal(err)
		}
		pids[node.Name] = pid
	}
	// Settle: until every speaker used under 0.2 s of CPU in 5 s (the start's informer syncs
	// and status writes are over), at most 2 minutes.
	settle = time.Now()
	for time.Since(settle) < 2*time.Minute {
		before := cpuSample(pids)
		time.Sleep(5 * time.Second)
		after := cpuSample(pids)
		busy := false
		for name := range pids {
			if after[name]-before[name] > 0.2 {
				busy = true
			}
		}
		if !busy {
			break
		}
	}
	sc.SettleSeconds = secs(time.Since(settle))
	cpu := idleCPU(t, pids, idle)
	var sum float64
	for _, node := range l.Nodes {
		s := BGPSpeakerSize{
			Node: node.Name, PID: pids[node.Name], BaselineRSSMiB: base[node.Name],
			RSSMiB: statusMiB(t, pids[node.Name], "VmRSS:"), HWMMiB: statusMiB(t, pids[node.Name], "VmHWM:"),
			IdleCPUPerMinute: cpu[node.Name],
		}
		if m, err := speakerMetrics(ctx, l, node); err == nil {
			s.HeapInuseMiB = math.Round(m["go_memstats_heap_inuse_bytes"]/(1<<20)*10) / 10
			s.Goroutines = m["go_goroutines"]
		} else {
			logf("scale: %s metrics: %v", node.Name, err)
		}
		sc.Speakers = append(sc.Speakers, s)
		sc.MaxRSSMiB = max(sc.MaxRSSMiB, s.RSSMiB)
		sc.MaxHWMMiB = max(sc.MaxHWMMiB, s.HWMMiB)
		sum += s.IdleCPUPerMinute
	}
	sc.MeanIdleCPU = math.Round(sum/float64(len(sc.Speakers))*100) / 100
	// No session flapped since the speakers started, and the router still has everything?
	for a, d := range bgpDropCounts(ctx, l) {
		if was := dropsBefore[a]; d.dropped > was.dropped {
			msg := fmt.Sprintf("scale: the session with %s (%s) went down %d times after its speaker started with %d Services (FRR's last reset: %s; speaker logs: %s)",
				a, l.NodeByAddr(a).Name, d.dropped-was.dropped, n, d.reason, bgpLogEvidence(l))
			res.Problems = append(res.Problems, msg)
			logf("%s", msg)
		}
	}
	if sum, err := bgpSummaryPeers(ctx, l); err == nil {
		for _, node := range l.Nodes {
			if v4, v6 := sum["ipv4Unicast"][node.IPv4].PfxRcd, sum["ipv6Unicast"][node.IPv6].PfxRcd; v4 != n || v6 != n {
				msg := fmt.Sprintf("scale: after the idle window FRR has %d IPv4 and %d IPv6 prefixes from %s, want %d each", v4, v6, node.Name, n)
				res.Problems = append(res.Problems, msg)
				logf("%s", msg)
			}
		}
	}
	return sc
}

// bgpTimeStart starts the speakers of nodes together and times each until FRR has n IPv4
// prefixes on its IPv4 session and n IPv6 prefixes on its IPv6 session.
func bgpTimeStart(t *testing.T, ctx context.Context, l *lab.Lab, n int, nodes []*lab.Node) []BGPStart {
	t.Helper()
	out := make([]BGPStart, len(nodes))
	for i, node := range nodes {
		out[i] = BGPStart{Node: node.Name, EstablishedSeconds: -1, FirstPrefixSeconds: -1, AllV4Seconds: -1, AllV6Seconds: -1, AllSeconds: -1}
	}
	pctx, stopPoll := context.WithCancel(ctx)
	polled := make(chan struct{})
	start := time.Now()
	var mu sync.Mutex
	go func() {
		defer close(polled)
		for pctx.Err() == nil {
			sum, err := bgpSummaryPeers(pctx, l)
			now := time.Since(start).Seconds()
			if err == nil {
				mu.Lock()
				for i, node := range nodes {
					s := &out[i]
					v4, v6 := sum["ipv4Unicast"][node.IPv4], sum["ipv6Unicast"][node.IPv6]
					if s.EstablishedSeconds < 0 && v4.State == "Established" && v6.State == "Established" {
						s.EstablishedSeconds = now
					}
					if s.FirstPrefixSeconds < 0 && v4.PfxRcd+v6.PfxRcd > 0 {
						s.FirstPrefixSeconds = now
					}
					if s.AllV4Seconds < 0 && v4.PfxRcd >= n {
						s.AllV4Seconds = now
					}
					if s.AllV6Seconds < 0 && v6.PfxRcd >= n {
						s.AllV6Seconds = now
					}
					if s.AllSeconds < 0 && s.AllV4Seconds >= 0 && s.AllV6Seconds >= 0 {
						s.AllSeconds = now
					}
				}
				mu.Unlock()
			}
			select {
			case <-pctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, node := range nodes {
		wg.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			errs[i] = l.StartSpeaker(sctx, node.Name, bgpSpeakerArgs...)
			mu.Lock()
			out[i].HealthySeconds = time.Since(start).Seconds()
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			stopPoll()
			t.Fatal(err)
		}
	}
	pids := map[string]int{}
	for _, node := range nodes {
		pid, err := speakerPID(l, node.Name)
		if err != nil {
			stopPoll()
			t.Fatal(err)
		}
		pids[node.Name] = pid
	}
	cpuAt := map[string]float64{}
	deadline := start.Add(10 * time.Minute)
	for {
		mu.Lock()
		done := 0
		for i, s := range out {
			if s.AllSeconds >= 0 {
				done++
				if _, ok := cpuAt[s.Node]; !ok {
					cpuAt[s.Node] = cpuSample(map[string]int{s.Node: pids[nodes[i].Name]})[s.Node]
				}
			}
		}
		mu.Unlock()
		if done == len(nodes) {
			break
		}
		if time.Now().After(deadline) {
			stopPoll()
			<-polled
			t.Fatalf("scale: FRR does not have all %d prefixes from %v after %s: %+v", n, bgpNames(nodes), time.Since(start).Round(time.Second), out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopPoll()
	<-polled
	for i := range out {
		out[i].CPUSeconds = math.Round(cpuAt[out[i].Node]*100) / 100
		for _, v := range []*float64{&out[i].HealthySeconds, &out[i].EstablishedSeconds, &out[i].FirstPrefixSeconds, &out[i].AllV4Seconds, &out[i].AllV6Seconds, &out[i].AllSeconds} {
			*v = math.Round(*v*100) / 100
		}
	}
	return out
}

func bgpNames(nodes []*lab.Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Name)
	}
	return out
}
