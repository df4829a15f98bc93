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
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
)

// bgpProbe is one probe: a new TCP connection and an HTTP GET.
type bgpProbe struct {
	start, end time.Time
	ok         bool
	body       string
	err        string
}

// bgpProber starts a probe every interval from inside a network namespace, each on its own
// goroutine so a probe lost to a dead node does not delay the next ones. Each probe's socket
// is created on an OS thread that has joined the namespace and leaves it again right after
// the dial (the connection stays in the namespace it was created in).
type bgpProber struct {
	netns   *os.File
	addr    string
	host    string
	timeout time.Duration
	cancel  context.CancelFunc
	loop    sync.WaitGroup
	running sync.WaitGroup
	mu      sync.Mutex
	probes  []bgpProbe
}

func bgpStartProber(netns string, a netip.Addr, every, timeout time.Duration) (*bgpProber, error) {
	f, err := os.Open(filepath.Join("/run/netns", netns))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &bgpProber{netns: f, addr: net.JoinHostPort(a.String(), "80"), host: a.String(), timeout: timeout, cancel: cancel}
	p.loop.Add(1)
	go func() {
		defer p.loop.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			p.running.Add(1)
			go p.one()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return p, nil
}

// stop ends probing, waits for the probes under way and returns every probe by start time.
func (p *bgpProber) stop() []bgpProbe {
	p.cancel()
	p.loop.Wait()
	p.running.Wait()
	_ = p.netns.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := slices.Clone(p.probes)
	sort.Slice(out, func(i, j int) bool { return out[i].start.Before(out[j].start) })
	return out
}

func (p *bgpProber) one() {
	defer p.running.Done()
	start := time.Now()
	body, err := p.get(start.Add(p.timeout))
	pr := bgpProbe{start: start, end: time.Now(), ok: err == nil, body: body}
	if err != nil {
		pr.err = err.Error()
	}
	p.mu.Lock()
	p.probes = append(p.probes, pr)
	p.mu.Unlock()
}

func (p *bgpProber) get(deadline time.Time) (string, error) {
	c, err := p.dial(deadline)
	if err != nil {
		return "", err
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(deadline)
	if _, err := io.WriteString(c, "GET / HTTP/1.0\r\nHost: "+p.host+"\r\n\r\n"); err != nil {
		return "", err
	}
	data, err := io.ReadAll(io.LimitReader(c, 64<<10))
	if err != nil {
		return "", err
	}
	head, body, ok := strings.Cut(string(data), "\r\n\r\n")
	if !ok {
		return "", fmt.Errorf("incomplete answer %q", data)
	}
	status, _, _ := strings.Cut(head, "\r\n")
	if f := strings.Fields(status); len(f) < 2 || f[1] != "200" {
		return "", fmt.Errorf("answer %q", status)
	}
	return strings.TrimSpace(body), nil
}

func (p *bgpProber) dial(deadline time.Time) (net.Conn, error) {
	runtime.LockOSThread()
	home, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer func() { _ = home.Close() }()
	if err := unix.Setns(int(p.netns.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("join the client's namespace: %w", err)
	}
	d := net.Dialer{Deadline: deadline}
	c, err := d.Dial("tcp", p.addr)
	// Back home before the thread serves anything else. If that fails the goroutine stays
	// locked, and the runtime ends the thread when the goroutine exits.
	if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
		runtime.UnlockOSThread()
	}
	return c, err
}

// bgpAnalyse summarises a trial's probes around the fault. It returns how many probes the
// victim answered that started after the cut was complete.
func bgpAnalyse(probes []bgpProbe, fault, cut time.Time, victim string, nodeOf func(body string) string, tr *BGPLossTrial) (deadAnswers int) {
	tr.Probes = len(probes)
	tr.BeforeFault, tr.AfterFault = map[string]int{}, map[string]int{}
	var lastFail time.Time
	for _, p := range probes {
		after := !p.start.Before(fault)
		switch {
		case !p.ok && !after:
			tr.Failed++
			tr.FailedBefore++
		case !p.ok:
			tr.Failed++
			lastFail = p.start
		case after:
			tr.AfterFault[nodeOf(p.body)]++
			if nodeOf(p.body) == victim && !p.start.Before(cut) {
				deadAnswers++
			}
		default:
			tr.BeforeFault[nodeOf(p.body)]++
		}
	}
	if !lastFail.IsZero() {
		tr.OutageMs = msTenths(lastFail.Sub(fault))
	}
	// lab.Probe's longest gap: from the last success before failures to the first success
	// after them, over the probes in start order.
	if len(probes) == 0 {
		return deadAnswers
	}
	lastOK := probes[0].start
	failing := false
	var longest time.Duration
	for _, p := range probes {
		if !p.ok {
			failing = true
			continue
		}
		if failing {
			longest = max(longest, p.end.Sub(lastOK))
			failing = false
		}
		if p.end.After(lastOK) {
			lastOK = p.end
		}
	}
	if failing {
		longest = max(longest, probes[len(probes)-1].end.Sub(lastOK))
	}
	tr.LongestGapMs = msTenths(longest)
	return deadAnswers
}

func bgpNodeLoss(t *testing.T, ctx context.Context, l *lab.Lab, pods []*lab.Pod, trials int, bfd []netip.Addr, res *BGPResults) *BGPNodeLoss {
	t.Helper()
	target := netip.MustParseAddr(bgpTargetIP)
	pfx := netip.PrefixFrom(target, 32)
	nl := &BGPNodeLoss{Address: target.String(), ProbeEveryMs: msTenths(bgpProbeEvery), ProbeTimeoutMs: msTenths(bgpProbeTimeout)}
	for _, a := range bfd {
		nl.BFDAddresses = append(nl.BFDAddresses, a.String())
	}
	nodeOfPod := map[string]string{}
	for _, p := range pods {
		nodeOfPod[p.Name] = p.Node.Name
	}
	nodeOf := func(body string) string {
		if n, ok := nodeOfPod[body]; ok {
			return n
		}
		return "other:" + body
	}

	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	svc := bgpService(bgpNamespace, "failover", false)
	svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	svc.Annotations = map[string]string{ironlbv1.AnnotationLoadBalancerIPs: target.String()}
	svc, err := l.CreateService(sctx, svc)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetEndpoints(sctx, svc, lab.Ready(pods...)); err != nil {
		t.Fatal(err)
	}
	if err := bgpWaitWhole(sctx, l, pfx, bfd); err != nil {
		t.Fatalf("node loss: %s: %v", pfx, err)
	}
	cancel()

	// The probes must spread over the next hops, or a node loss would show all or nothing.
	pr, err := bgpStartProber(l.BGPClient.Netns, target, bgpProbeEvery, bgpProbeTimeout)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	nl.Spread = map[string]int{}
	failed := 0
	for _, p := range pr.stop() {
		if p.ok {
			nl.Spread[nodeOf(p.body)]++
		} else {
			failed++
		}
	}
	logf("node loss: fault-free spread over the next hops of %s: %v, %d failed", target, nl.Spread, failed)
	if len(nl.Spread) < len(l.Nodes) {
		msg := fmt.Sprintf("node loss: the probes did not spread over the %d next hops (%v): the figures only show the nodes they reached", len(l.Nodes), nl.Spread)
		res.Problems = append(res.Problems, msg)
		logf("%s", msg)
	}

	var outages, gones, gaps []float64
	for i := range trials {
		victim := l.Nodes[i%len(l.Nodes)]
		tr := bgpLossTrial(t, ctx, l, pfx, victim, bfd, nodeOf)
		logf("  node loss %2d/%d: %s: outage %6.1f ms, route gone %6.1f ms (read window %.0f ms), longest gap %5.1f ms, %d/%d probes failed (%d before the fault), answered after %v, cut took %.0f ms, restored in %.1fs %s",
			i+1, trials, tr.Victim, tr.OutageMs, tr.RouteGoneMs, tr.RouteGoneResolutionMs, tr.LongestGapMs, tr.Failed, tr.Probes, tr.FailedBefore, tr.AfterFault, tr.CutMs, tr.RestoreSeconds, tr.Note)
		nl.Trials = append(nl.Trials, tr)
		outages = append(outages, tr.OutageMs)
		gaps = append(gaps, tr.LongestGapMs)
		if tr.RouteGoneMs >= 0 {
			gones = append(gones, tr.RouteGoneMs)
		}
		if tr.Note != "" {
			res.Problems = append(res.Problems, fmt.Sprintf("node loss trial %d (%s): %s", i+1, tr.Victim, tr.Note))
		}
	}
	nl.OutageP50Ms, nl.OutageP99Ms, nl.OutageMaxMs = percentiles(outages)
	nl.RouteGoneP50Ms, nl.RouteGoneP99Ms, nl.RouteGoneMaxMs = percentiles(gones)
	nl.GapP50Ms, nl.GapP99Ms, nl.GapMaxMs = percentiles(gaps)

	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := l.DeleteService(dctx, bgpNamespace, "failover"); err != nil {
		t.Fatal(err)
	}
	return nl
}

func bgpLossTrial(t *testing.T, ctx context.Context, l *lab.Lab, pfx netip.Prefix, victim *lab.Node, bfd []netip.Addr, nodeOf func(string) string) BGPLossTrial {
	t.Helper()
	tr := BGPLossTrial{Victim: victim.Name, RouteGoneMs: -1}
	pr, err := bgpStartProber(l.BGPClient.Netns, pfx.Addr(), bgpProbeEvery, bgpProbeTimeout)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(bgpPreFault)
	// The cable first: a speaker killed while connected would have its kernel close the
	// sessions with a FIN, and FRR would drop the routes without BFD.
	fault := time.Now()
	if err := l.LinkDown(ctx, victim.Name); err != nil {
		pr.stop()
		t.Fatal(err)
	}
	if err := l.KillSpeaker(victim.Name); err != nil {
		pr.stop()
		t.Fatal(err)
	}
	cut := time.Now()
	tr.CutMs = msTenths(cut.Sub(fault))
	var gone, prevStart time.Time
	for time.Since(fault) < bgpGoneLimit {
		readStart := time.Now()
		hops, err := bgpActiveHops(ctx, l, pfx)
		if err == nil && !slices.Contains(hops, victim.IPv4) {
			gone = time.Now()
			break
		}
		if err == nil {
			prevStart = readStart
		}
	}
	if gone.IsZero() {
		tr.Note = fmt.Sprintf("FRR still routed to %s %s after the fault; ", victim.Name, bgpGoneLimit)
	} else {
		tr.RouteGoneMs = msTenths(gone.Sub(fault))
		tr.RouteGoneResolutionMs = msTenths(gone.Sub(prevStart))
	}
	time.Sleep(bgpAfterGone)
	probes := pr.stop()
	if dead := bgpAnalyse(probes, fault, cut, victim.Name, nodeOf, &tr); dead > 0 {
		tr.Note += fmt.Sprintf("%d probes started after the cut were answered by the dead node's pod; ", dead)
	}
	if tr.FailedBefore > 0 {
		tr.Note += fmt.Sprintf("%d probes failed before the fault; ", tr.FailedBefore)
	}

	restore := time.Now()
	rctx, cancel := context.WithTimeout(ctx, bgpWholeLimit+time.Minute)
	defer cancel()
	if err := l.LinkUp(rctx, victim.Name); err != nil {
		t.Fatal(err)
	}
	if err := l.StartSpeaker(rctx, victim.Name, bgpSpeakerArgs...); err != nil {
		t.Fatal(err)
	}
	if err := bgpWaitWhole(rctx, l, pfx, bfd); err != nil {
		t.Fatalf("restoring %s: %v", victim.Name, err)
	}
	tr.RestoreSeconds = secs(time.Since(restore))
	tr.Note = strings.TrimSuffix(tr.Note, "; ")
	return tr
}
