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
	"net/netip"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/ironlb/ironlb/e2e/lab"
)

// bgpIngressWatch remembers when the benchmark's watch first saw each Service of a
// namespace with an address.
type bgpIngressWatch struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	at     map[string]time.Time
	addrs  map[string][]netip.Addr
}

func bgpWatchIngress(t *testing.T, l *lab.Lab, ns string) *bgpIngressWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &bgpIngressWatch{cancel: cancel, done: make(chan struct{}), at: map[string]time.Time{}, addrs: map[string][]netip.Addr{}}
	list, err := l.Kube.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rv := list.ResourceVersion
	go func() {
		defer close(w.done)
		for ctx.Err() == nil {
			wi, err := l.Kube.CoreV1().Services(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for ev := range wi.ResultChan() {
				now := time.Now()
				svc, ok := ev.Object.(*corev1.Service)
				if !ok {
					continue
				}
				rv = svc.ResourceVersion
				if ev.Type == watch.Bookmark || len(svc.Status.LoadBalancer.Ingress) == 0 {
					continue
				}
				w.mu.Lock()
				if _, seen := w.at[svc.Name]; !seen {
					w.at[svc.Name] = now
					for _, ing := range svc.Status.LoadBalancer.Ingress {
						if a, err := netip.ParseAddr(ing.IP); err == nil {
							w.addrs[svc.Name] = append(w.addrs[svc.Name], a)
						}
					}
				}
				w.mu.Unlock()
			}
			wi.Stop()
		}
	}()
	return w
}

func (w *bgpIngressWatch) get(name string) (time.Time, []netip.Addr) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.at[name], w.addrs[name]
}

func (w *bgpIngressWatch) stop() {
	w.cancel()
	<-w.done
}

func bgpConvergence(t *testing.T, ctx context.Context, l *lab.Lab, pods []*lab.Pod, n int, res *BGPResults) *BGPConvergence {
	t.Helper()
	ensureNamespace(t, ctx, l.Kube.CoreV1(), bgpNamespace)
	conv := &BGPConvergence{Services: n}
	w := bgpWatchIngress(t, l, bgpNamespace)
	poller := bgpStartRoutePoller(l, len(l.Nodes))
	kernel := bgpWatchKernel(t, l)
	logf("convergence: %d Services, one at a time", n)
	var allocs, firsts, alls, kernels []float64
	var names []string
	for i := range n {
		name := fmt.Sprintf("conv-%03d", i)
		names = append(names, name)
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := bgpCreateSlice(cctx, l, bgpNamespace, name, corev1.IPv4Protocol, pods[i%len(pods)]); err != nil {
			cancel()
			t.Fatal(err)
		}
		created := time.Now()
		if _, err := l.Kube.CoreV1().Services(bgpNamespace).Create(cctx, bgpService(bgpNamespace, name, false), metav1.CreateOptions{}); err != nil {
			cancel()
			t.Fatal(err)
		}
		cancel()
		s := BGPConvergeSvc{Service: name, AllocMs: -1, FirstHopMs: -1, AllHopsMs: -1, KernelMs: -1}
		deadline := time.Now().Add(30 * time.Second)
		var alloc time.Time
		for time.Now().Before(deadline) {
			var addrs []netip.Addr
			if alloc.IsZero() {
				if alloc, addrs = w.get(name); !alloc.IsZero() {
					s.Address = addrs[0].String()
					s.AllocMs = msTenths(alloc.Sub(created))
				}
			}
			if !alloc.IsZero() {
				a := netip.MustParseAddr(s.Address)
				first, all := poller.seen(netip.PrefixFrom(a, 32))
				if !first.IsZero() && s.FirstHopMs < 0 {
					s.FirstHopMs = msTenths(first.Sub(alloc))
				}
				if k := kernel.seen(netip.PrefixFrom(a, 32)); !k.IsZero() && s.KernelMs < 0 {
					s.KernelMs = msTenths(k.Sub(alloc))
				}
				// The kernel watch normally fires first; it gets a second more, so a broken
				// watch does not stall the run.
				if !all.IsZero() && (s.KernelMs >= 0 || time.Since(all) > time.Second) {
					s.AllHopsMs = msTenths(all.Sub(alloc))
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		if s.AllHopsMs < 0 {
			conv.Missing++
			msg := fmt.Sprintf("convergence: %s (%s) had no route with %d next hops 30 s after its allocation (first hop %v ms)", name, s.Address, len(l.Nodes), s.FirstHopMs)
			logf("%s", msg)
			res.Problems = append(res.Problems, msg)
		} else {
			allocs, firsts, alls = append(allocs, s.AllocMs), append(firsts, s.FirstHopMs), append(alls, s.AllHopsMs)
			if s.KernelMs >= 0 {
				kernels = append(kernels, s.KernelMs)
			}
		}
		if (i+1)%20 == 0 {
			logf("convergence: %d/%d, last %s: alloc %.1f ms, kernel %.1f ms, FRR first hop %.1f ms, all hops %.1f ms", i+1, n, s.Address, s.AllocMs, s.KernelMs, s.FirstHopMs, s.AllHopsMs)
		}
		conv.Samples = append(conv.Samples, s)
		time.Sleep(50 * time.Millisecond)
	}
	cycle, errs, errMsg := poller.stop()
	kernel.stop()
	w.stop()
	if errs > 0 {
		logf("convergence: %d FRR reads failed, last: %s", errs, errMsg)
	}
	conv.PollCycleMs = msTenths(cycle)
	conv.AllocP50Ms, conv.AllocP99Ms, _ = percentiles(allocs)
	conv.FirstHopP50Ms, conv.FirstHopP99Ms, conv.FirstHopMaxMs = percentiles(firsts)
	conv.AllHopsP50Ms, conv.AllHopsP99Ms, conv.AllHopsMaxMs = percentiles(alls)
	conv.KernelP50Ms, conv.KernelP99Ms, conv.KernelMaxMs = percentiles(kernels)
	if len(kernels) < len(alls) {
		msg := fmt.Sprintf("convergence: the router's kernel route was seen for %d of %d Services (ip monitor)", len(kernels), len(alls))
		res.Problems = append(res.Problems, msg)
		logf("%s", msg)
	}
	logf("convergence: allocation -> router kernel p50 %.1f ms p99 %.1f ms; -> FRR first next hop p50 %.1f ms p99 %.1f ms; -> all %d p50 %.1f ms p99 %.1f ms (FRR read every %.1f ms)",
		conv.KernelP50Ms, conv.KernelP99Ms, conv.FirstHopP50Ms, conv.FirstHopP99Ms, len(l.Nodes), conv.AllHopsP50Ms, conv.AllHopsP99Ms, conv.PollCycleMs)

	// The Services go again, so the later phases count only their own prefixes.
	dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	parallel(t, len(names), 8, func(i int) error { return l.DeleteService(dctx, bgpNamespace, names[i]) })
	until(t, time.Minute, "FRR to withdraw the convergence routes", func() (bool, string) {
		routes, err := bgpZebraRoutes(dctx, l)
		if err != nil {
			return false, err.Error()
		}
		return len(routes) == 0, fmt.Sprintf("%d routes left", len(routes))
	})
	return conv
}
