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
	"context"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
)

func l2MeasureFootprint(t *testing.T, ctx context.Context, l *lab.Lab, n int, idle time.Duration) *L2Footprint {
	t.Helper()
	fp := &L2Footprint{Services: n, IdleSeconds: idle.Seconds(), OwnedIPs: map[string]float64{}}
	pids := map[string]int{}
	for _, node := range l.Nodes {
		pid, err := speakerPID(l, node.Name)
		if err != nil {
			t.Fatal(err)
		}
		pids[node.Name] = pid
	}
	// The baseline: the same speakers with only the benchmark's three Services, idle.
	logf("footprint: baseline over %s with 3 Services", idle)
	baseRSS := map[string]float64{}
	for name, pid := range pids {
		baseRSS[name] = statusMiB(t, pid, "VmRSS:")
	}
	baseCPU := idleCPU(t, pids, idle)

	existing := 0
	for _, node := range l.Nodes {
		m, err := speakerMetrics(ctx, l, node)
		if err != nil {
			t.Fatal(err)
		}
		existing += int(m["ironlb_layer2_owned_ips"])
	}

	logf("footprint: creating %d LoadBalancer Services", n)
	labPIDs := labProcesses(l)
	burstBefore := cpuSample(labPIDs)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: l2FootprintNS}}
	if _, err := l.Kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	parallel(t, n, 16, func(i int) error {
		svc := l2IPv4Service(l2FootprintNS, fmt.Sprintf("svc-%04d", i))
		svc.Spec.AllocateLoadBalancerNodePorts = ptr.To(false)
		_, err := l.Kube.CoreV1().Services(l2FootprintNS).Create(ctx, svc, metav1.CreateOptions{})
		return err
	})
	fp.CreateSeconds = secs(time.Since(start))

	var addrs []netip.Addr
	until(t, 10*time.Minute, "every Service has an address", func() (bool, string) {
		list, err := l.Kube.CoreV1().Services(l2FootprintNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		addrs = addrs[:0]
		for _, s := range list.Items {
			for _, ing := range s.Status.LoadBalancer.Ingress {
				if a, err := netip.ParseAddr(ing.IP); err == nil {
					addrs = append(addrs, a)
				}
			}
		}
		return len(addrs) == n, fmt.Sprintf("%d of %d", len(addrs), n)
	})
	fp.AssignedSeconds = secs(time.Since(start))

	until(t, 10*time.Minute, "the speakers own every address", func() (bool, string) {
		total := 0.0
		for _, node := range l.Nodes {
			m, err := speakerMetrics(ctx, l, node)
			if err != nil {
				return false, err.Error()
			}
			fp.OwnedIPs[node.Name] = m["ironlb_layer2_owned_ips"]
			total += m["ironlb_layer2_owned_ips"]
		}
		return int(total) == n+existing, fmt.Sprintf("%v of %d", total, n+existing)
	})
	fp.AnnouncedSeconds = secs(time.Since(start))

	until(t, 10*time.Minute, "every Service has L2Announced=True", func() (bool, string) {
		list, err := l.Kube.CoreV1().Services(l2FootprintNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		ok := 0
		for _, s := range list.Items {
			for _, c := range s.Status.Conditions {
				if c.Type == ironlbv1.ConditionL2Announced && c.Status == metav1.ConditionTrue {
					ok++
				}
			}
		}
		return ok == n, fmt.Sprintf("%d of %d", ok, n)
	})
	fp.ConditionsSeconds = secs(time.Since(start))
	burstAfter := cpuSample(labPIDs)
	fp.BurstCPU = map[string]float64{}
	for role := range labPIDs {
		fp.BurstCPU[role] = math.Round((burstAfter[role]-burstBefore[role])*10) / 10
	}

	// Settle: until every speaker's CPU over 10 s is back near its idle rate with three
	// Services (kube-proxy's syncs of thousands of Services and the speakers' status writes
	// are over), at most 3 minutes.
	settleStart := time.Now()
	for time.Since(settleStart) < 3*time.Minute {
		before := cpuSample(pids)
		time.Sleep(10 * time.Second)
		after := cpuSample(pids)
		busy := false
		for name := range pids {
			perMin := (after[name] - before[name]) * 6
			if perMin > 1.5*baseCPU[name]+0.3 {
				busy = true
			}
		}
		if !busy {
			break
		}
	}
	fp.SettleSeconds = secs(time.Since(settleStart))

	// A sample of the addresses: exactly one node answers each.
	rnd := slices.Clone(addrs)
	sort.Slice(rnd, func(i, j int) bool { return rnd[i].Less(rnd[j]) })
	step := max(1, len(rnd)/20)
	for i := 0; i < len(rnd); i += step {
		fp.SampleChecked++
		if macs, err := l2WhoHas(ctx, l, rnd[i]); err == nil && len(macs) == 1 {
			fp.SampleOneOwner++
		} else {
			logf("footprint: %s answered by %v (%v)", rnd[i], macs, err)
		}
	}

	logf("footprint: idle CPU over %s with %d Services", idle, n)
	cpu := idleCPU(t, pids, idle)
	var sumCPU float64
	for _, node := range l.Nodes {
		u := L2SpeakerUsage{
			Node: node.Name, PID: pids[node.Name], BaselineRSSMiB: baseRSS[node.Name], RSSMiB: statusMiB(t, pids[node.Name], "VmRSS:"),
			IdleCPUPerMinute: cpu[node.Name], BaselineCPUPerMin: baseCPU[node.Name],
		}
		fp.Speakers = append(fp.Speakers, u)
		fp.MaxRSSMiB = max(fp.MaxRSSMiB, u.RSSMiB)
		sumCPU += u.IdleCPUPerMinute
	}
	fp.MeanIdleCPU = math.Round(sumCPU/float64(len(fp.Speakers))*100) / 100
	return fp
}
