// Package bench measures the controller the way design.md ("Performance: how it is
// measured") says: side by side in one run, against a real API server, as ratios to what
// the API server itself can take.
//
// Run it with `IRONLB_BENCH=1 go test -count=1 -v -timeout 30m ./e2e/bench/`. Optional:
// IRONLB_BENCH_N (Services per phase, default 3000), IRONLB_BENCH_CEILING_WORKERS (default
// 32, as issue #12 sets the ceiling), IRONLB_BENCH_CEILING_ROUNDS (default 3),
// IRONLB_BENCH_WORKERS (the controller's --workers, default 32 as the flag) and IRONLB_BENCH_PROFILE_DIR (writes a CPU
// profile of this process for each controller phase there).
package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/controller/app"
	"github.com/ironlb/ironlb/internal/metricsendpoint"
	"github.com/ironlb/ironlb/internal/testenv"
)

const (
	poolName       = "bench"
	poolCIDR       = "198.18.0.0/16"
	latencyCount   = 200
	phaseTimeout   = 10 * time.Minute
	latencyTimeout = 30 * time.Second
)

// Results is what e2e/results/controller-bench.json holds.
type Results struct {
	Date       string          `json:"date"`
	Services   int             `json:"services"`
	CPUs       int             `json:"cpus"`
	GoVersion  string          `json:"go_version"`
	Ceiling    CeilingResult   `json:"ceiling"`
	Controller []ControllerRun `json:"controller"`
	Latency    LatencyResult   `json:"latency"`
	Footprint  Footprint       `json:"footprint"`
	Summary    string          `json:"summary"`
}

// CeilingResult is the minimal client-go program: N status writes as fast as they go.
type CeilingResult struct {
	Workers int `json:"workers"`
	// StatusSeconds is the time of the N status writes alone, the median over the rounds:
	// the figure ratios use. Each round writes every Service's status once; the first adds
	// the IP (as the controller does), the next ones change it.
	StatusSeconds float64   `json:"status_seconds"`
	RoundSeconds  []float64 `json:"round_seconds"`
	// ObservedSeconds runs from the first write of the first round until the benchmark's
	// watch saw that round's last IP: beyond RoundSeconds[0] it is the watch's lag behind
	// a burst of writes.
	ObservedSeconds float64 `json:"observed_seconds"`
	WritesPerSecond float64 `json:"writes_per_second"`
	CreateSeconds   float64 `json:"create_seconds"`
	DeleteSeconds   float64 `json:"delete_seconds"`
	// CPU is per round (the average).
	CPU CPU `json:"cpu_seconds_per_round"`
	// LoadAverage is the machine's 1-minute load average after the writes: other work on a
	// shared machine shows here.
	LoadAverage float64 `json:"load_average_1m"`
}

// ControllerRun is one start of the controller with N Services waiting for an address.
type ControllerRun struct {
	QPS     float64 `json:"qps"`
	Burst   int     `json:"burst"`
	Workers int     `json:"workers"`
	// Seconds runs from app.Run until the benchmark's watch saw the last Service get its IP.
	Seconds float64 `json:"seconds"`
	// FirstIPSeconds is the start-up part: app.Run until the first IP.
	FirstIPSeconds float64 `json:"first_ip_seconds"`
	// LastWriteSeconds runs from app.Run until the API server answered the controller's last
	// first-time status PATCH: Seconds minus this is the watch's delivery lag.
	LastWriteSeconds float64 `json:"last_status_write_seconds"`
	Ratio            float64 `json:"ratio_to_ceiling"`
	// SettleSeconds runs from the last IP until the controller made no request for a second.
	SettleSeconds float64 `json:"settle_seconds"`
	// Requests counts the controller's API requests (verb and resource) until the last IP;
	// RequestsAfter those from then until it settled.
	Requests      map[string]int `json:"requests"`
	RequestsAfter map[string]int `json:"requests_after_last_ip"`
	// RequestMeanMs is the mean round trip per kind of request until the last IP, as the
	// controller's transport saw it (after any wait in the client's rate limiter).
	RequestMeanMs map[string]float64 `json:"request_mean_ms"`
	// Conflicts counts 409 answers; Throttled counts 429 answers.
	Conflicts int `json:"conflicts"`
	Throttled int `json:"throttled"`
	// ServiceWrites are the writes that share the controller's Service client and its
	// token bucket (QPS/Burst); RateLimitFloorSeconds = (ServiceWrites-Burst)/QPS is the
	// least time the bucket allows for them.
	ServiceWrites         int     `json:"service_writes"`
	RateLimitFloorSeconds float64 `json:"rate_limit_floor_seconds"`
	CPU                   CPU     `json:"cpu_seconds"`
	RSSMiB                float64 `json:"rss_mib_after_all_assigned"`
	BaselineRSSMiB        float64 `json:"rss_mib_before_start"`
	LoadAverage           float64 `json:"load_average_1m"`
}

// CPU is the CPU time (user+system) spent by each process during a phase.
type CPU struct {
	APIServer float64 `json:"apiserver"`
	Etcd      float64 `json:"etcd"`
	// Test is this process: the controller, when it runs, and the benchmark's own clients.
	Test float64 `json:"test_process"`
}

// LatencyResult is create → IP in status, one Service at a time, while N exist.
type LatencyResult struct {
	Count  int     `json:"count"`
	QPS    float64 `json:"controller_qps"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
	MeanMs float64 `json:"mean_ms"`
	// Parts splits each wait at the controller's status PATCH, seen from its transport.
	Parts []LatencyPart `json:"parts"`
}

// LatencyPart is one segment of create → IP.
type LatencyPart struct {
	Name  string  `json:"name"`
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

// Footprint is the test process's memory after the N Services are assigned.
type Footprint struct {
	RSSMiB         float64 `json:"rss_mib"`
	BaselineRSSMiB float64 `json:"baseline_rss_mib"`
	HeapInuseMiB   float64 `json:"go_heap_inuse_mib"`
	Note           string  `json:"note"`
}

const footprintNote = "VmRSS of the test process, which holds the controller and also the benchmark's own client-go " +
	"client and a Service informer (stripped to name and status); baseline is the same process just before the controller starts"

func TestControllerBench(t *testing.T) {
	if os.Getenv("IRONLB_BENCH") == "" {
		t.Skip("benchmark: run with make bench")
	}
	testenv.Require(t, env)
	n := envInt(t, "IRONLB_BENCH_N", 3000, 1)
	workers := envInt(t, "IRONLB_BENCH_CEILING_WORKERS", 32, 1)
	rounds := envInt(t, "IRONLB_BENCH_CEILING_ROUNDS", 3, 1)
	ctx := context.Background()
	cs := fastClient(t)
	cp := findControlPlane(t)

	res := Results{
		Date: time.Now().UTC().Format(time.RFC3339), Services: n, CPUs: runtime.NumCPU(), GoVersion: runtime.Version(),
	}
	logf("ironlb controller benchmark: %d LoadBalancer Services, %d CPUs, %s", n, res.CPUs, res.GoVersion)

	res.Ceiling = measureCeiling(t, ctx, cs, cp, "bench-ceiling", n, workers, rounds)
	env.CreatePool(t, poolName, ironlbv1.IPAddressPoolSpec{Addresses: []ironlbv1.AddressRange{poolCIDR}})

	// Default options: also the run the latency and footprint figures come from.
	run := startRun(t, ctx, cs, cp, "bench-default", n, 1000, 2000)
	res.Footprint = Footprint{RSSMiB: run.result.RSSMiB, BaselineRSSMiB: run.result.BaselineRSSMiB, HeapInuseMiB: run.heapMiB, Note: footprintNote}
	run.settle(t)
	res.Latency = measureLatency(t, ctx, cs, run)
	run.finish(t, ctx, cs)
	def := run.result

	// The same with a five times tighter client rate limit, MetalLB-like budgets.
	run = startRun(t, ctx, cs, cp, "bench-qps200", n, 200, 400)
	run.settle(t)
	run.finish(t, ctx, cs)
	fast := run.result

	for _, r := range []*ControllerRun{&def, &fast} {
		r.Ratio = r.Seconds / res.Ceiling.StatusSeconds
	}
	res.Controller = []ControllerRun{def, fast}
	res.Summary = fmt.Sprintf("controller: %d svcs in %.1fs (ceiling %.1fs, %.2fx; at qps %g: %.1fs, %.2fx); p50 %.0fms p99 %.0fms; rss %.0fMiB",
		n, def.Seconds, res.Ceiling.StatusSeconds, def.Ratio, fast.QPS, fast.Seconds, fast.Ratio,
		res.Latency.P50Ms, res.Latency.P99Ms, res.Footprint.RSSMiB)

	printTable(res)
	logf("wrote %s", testenv.WriteResult(t, "controller-bench.json", res))
	summary = res.Summary
	fmt.Println(res.Summary)
}

// measureCeiling creates N Services (untimed), then writes one IP into each one's status
// from many goroutines, timing only those writes, and deletes the Services again.
func measureCeiling(t *testing.T, ctx context.Context, cs corev1client.CoreV1Interface, cp controlPlane, ns string, n, workers, rounds int) CeilingResult {
	t.Helper()
	ensureNamespace(t, ctx, cs, ns)
	start := time.Now()
	svcs := createServices(t, ctx, cs, ns, "s", n, workers)
	res := CeilingResult{Workers: workers, CreateSeconds: time.Since(start).Seconds()}
	// The same watch load as in the controller phases: the API server also serves it here.
	w := startWatcher(t, cs, ns)
	defer w.stop()

	vip := corev1.LoadBalancerIPModeVIP
	cpu0 := cp.sample()
	var first time.Time
	for round := range rounds {
		start = time.Now()
		if round == 0 {
			first = start
		}
		parallel(t, n, workers, func(i int) error {
			svc := svcs[i]
			svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ipFor(i + round*n), IPMode: &vip}}
			updated, err := cs.Services(ns).UpdateStatus(ctx, svc, metav1.UpdateOptions{})
			if err == nil {
				svcs[i] = updated
			}
			return err
		})
		res.RoundSeconds = append(res.RoundSeconds, time.Since(start).Seconds())
	}
	cpu := cp.since(cpu0)
	res.LoadAverage = loadAverage()
	res.CPU = CPU{APIServer: round2(cpu.APIServer / float64(rounds)), Etcd: round2(cpu.Etcd / float64(rounds)), Test: round2(cpu.Test / float64(rounds))}
	sorted := slices.Clone(res.RoundSeconds)
	slices.Sort(sorted)
	res.StatusSeconds = sorted[len(sorted)/2]
	res.WritesPerSecond = math.Round(float64(n) / res.StatusSeconds)
	if !w.waitCount(n, phaseTimeout) {
		t.Fatalf("ceiling: the watch saw %d of %d IPs", w.count(), n)
	}
	res.ObservedSeconds = w.last().Sub(first).Seconds()
	logf("ceiling: %d status writes in %.2fs (median of %d rounds: %s; %.0f/s, %d goroutines)",
		n, res.StatusSeconds, rounds, seconds(res.RoundSeconds), res.WritesPerSecond, workers)

	start = time.Now()
	deleteServices(t, ctx, cs, ns)
	res.DeleteSeconds = time.Since(start).Seconds()
	return res
}

func ipFor(i int) string {
	return fmt.Sprintf("198.18.%d.%d", (i/256)%256, i%256)
}

type run struct {
	ns      string
	n       int
	result  ControllerRun
	heapMiB float64
	watch   *watcher
	counter *apiCounter
	ctl     *controller
	lastIP  time.Time
	cp      controlPlane
	cpu0    CPU
	profile *os.File
}

// startRun creates N Services, then starts the controller and waits until each has an IP.
// The controller keeps running until finish.
func startRun(t *testing.T, ctx context.Context, cs corev1client.CoreV1Interface, cp controlPlane, ns string, n int, qps float64, burst int) *run {
	t.Helper()
	ensureNamespace(t, ctx, cs, ns)
	createServices(t, ctx, cs, ns, "s", n, 64)
	r := &run{ns: ns, n: n, watch: startWatcher(t, cs, ns), counter: newAPICounter(), cp: cp}
	r.result = ControllerRun{QPS: qps, Burst: burst, Workers: envInt(t, "IRONLB_BENCH_WORKERS", 32, 1)}

	runtime.GC()
	debug.FreeOSMemory()
	r.result.BaselineRSSMiB = statusMiB(t, 0, "VmRSS:")
	r.startProfile(t, fmt.Sprintf("controller-qps%g.pprof", qps))
	r.cpu0 = cp.sample()

	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(r.counter.wrap)
	start := time.Now()
	r.ctl = startController(app.Options{
		Config: cfg, Metrics: metricsendpoint.Options{BindAddress: "0"}, HealthAddr: "0", LeaderElect: false,
		LeaseDuration: 10 * time.Second, RenewDeadline: 7 * time.Second, RetryPeriod: 2 * time.Second,
		QPS: qps, Burst: burst, EventsQPS: 20, EventsBurst: 100, Workers: r.result.Workers, LogLevel: "error",
	})
	t.Cleanup(func() { r.ctl.stop(t) }) // when the benchmark fails half-way
	if !r.watch.waitCount(n, phaseTimeout) {
		t.Fatalf("controller (qps %g): only %d of %d Services got an IP within %v", qps, r.watch.count(), n, phaseTimeout)
	}
	r.lastIP = r.watch.last()
	r.result.Seconds = r.lastIP.Sub(start).Seconds()
	r.result.FirstIPSeconds = r.watch.first().Sub(start).Seconds()
	r.result.LastWriteSeconds = r.counter.lastStatusWrite().Sub(start).Seconds()
	r.result.RSSMiB = statusMiB(t, 0, "VmRSS:")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.heapMiB = float64(ms.HeapInuse) / (1 << 20)
	r.result.CPU = cp.since(r.cpu0)
	r.result.LoadAverage = loadAverage()
	r.stopProfile()
	r.result.Requests, r.result.Conflicts, r.result.Throttled = r.counter.snapshot()
	r.result.RequestMeanMs = r.counter.meanMs()
	for key, c := range r.result.Requests {
		if verb, res, _ := strings.Cut(key, " "); verb != "GET" && verb != "LIST" && verb != "WATCH" &&
			(res == "services" || res == "services/status") {
			r.result.ServiceWrites += c
		}
	}
	r.result.RateLimitFloorSeconds = math.Max(0, float64(r.result.ServiceWrites-burst)) / qps
	logf("controller (qps %g/%d): %d Services assigned in %.2fs (first IP at %.2fs); %d Service writes (rate-limit floor %.1fs), %d conflicts; rss %.0f MiB",
		qps, burst, n, r.result.Seconds, r.result.FirstIPSeconds, r.result.ServiceWrites, r.result.RateLimitFloorSeconds, r.result.Conflicts, r.result.RSSMiB)
	return r
}

// settle waits until the controller has made no request for a second (trailing pool status
// writes, events), so the latency phase measures a quiet controller.
func (r *run) settle(t *testing.T) {
	t.Helper()
	r.waitQuiet(60 * time.Second)
	r.result.SettleSeconds = math.Max(0, r.counter.lastRequest().Sub(r.lastIP).Seconds())
	all, _, _ := r.counter.snapshot()
	r.result.RequestsAfter = map[string]int{}
	for k, v := range all {
		if d := v - r.result.Requests[k]; d > 0 {
			r.result.RequestsAfter[k] = d
		}
	}
}

func (r *run) waitQuiet(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && time.Since(r.counter.lastRequest()) < time.Second {
		time.Sleep(100 * time.Millisecond)
	}
}

// finish stops the controller, once it is done with its last writes, and deletes the
// phase's Services.
func (r *run) finish(t *testing.T, ctx context.Context, cs corev1client.CoreV1Interface) {
	t.Helper()
	r.waitQuiet(10 * time.Second)
	r.ctl.stop(t)
	r.watch.stop()
	deleteServices(t, ctx, cs, r.ns)
}

func (r *run) startProfile(t *testing.T, name string) {
	dir := os.Getenv("IRONLB_BENCH_PROFILE_DIR")
	if dir == "" {
		return
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	r.profile = f
}

func (r *run) stopProfile() {
	if r.profile != nil {
		pprof.StopCPUProfile()
		_ = r.profile.Close()
		r.profile = nil
	}
}

type controller struct {
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

func startController(o app.Options) *controller {
	ctx, cancel := context.WithCancel(context.Background())
	c := &controller{cancel: cancel, done: make(chan error, 1)}
	go func() { c.done <- app.Run(ctx, o) }()
	return c
}

func (c *controller) stop(t *testing.T) {
	t.Helper()
	if c.stopped {
		return
	}
	c.stopped = true
	c.cancel()
	select {
	case err := <-c.done:
		if err != nil {
			t.Errorf("controller stopped with an error: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("controller did not stop within 30s")
	}
}

// measureLatency creates Services one at a time next to the N already assigned, each once
// the previous one has its IP, and times create → IP seen by a watch.
func measureLatency(t *testing.T, ctx context.Context, cs corev1client.CoreV1Interface, r *run) LatencyResult {
	t.Helper()
	partNames := []string{
		"create call (API server)",
		"created -> controller sends status PATCH",
		"status PATCH round trip",
		"PATCH answered -> benchmark's watch sees the IP",
	}
	lat := make([]time.Duration, 0, latencyCount)
	parts := make([][]time.Duration, len(partNames))
	for i := range latencyCount {
		name := fmt.Sprintf("lat%03d", i)
		start := time.Now()
		if _, err := cs.Services(r.ns).Create(ctx, lbService(r.ns, name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		created := time.Now()
		at, ok := r.watch.waitFor(name, latencyTimeout)
		if !ok {
			t.Fatalf("latency: %s got no IP within %v", name, latencyTimeout)
		}
		lat = append(lat, at.Sub(start))
		if w, ok := r.counter.statusWrite(name); ok {
			for j, d := range []time.Duration{created.Sub(start), w.start.Sub(created), w.end.Sub(w.start), at.Sub(w.end)} {
				parts[j] = append(parts[j], d)
			}
		}
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	res := LatencyResult{
		Count: len(lat), QPS: r.result.QPS,
		P50Ms: ms(percentile(lat, 0.50)), P90Ms: ms(percentile(lat, 0.90)), P99Ms: ms(percentile(lat, 0.99)),
		MaxMs: ms(lat[len(lat)-1]), MeanMs: ms(sum / time.Duration(len(lat))),
	}
	for j, p := range parts {
		if len(p) == 0 {
			continue
		}
		slices.Sort(p)
		res.Parts = append(res.Parts, LatencyPart{Name: partNames[j], P50Ms: ms(percentile(p, 0.50)), P99Ms: ms(percentile(p, 0.99)), MaxMs: ms(p[len(p)-1])})
	}
	logf("latency: %d Services one by one with %d present: p50 %.1fms p90 %.1fms p99 %.1fms max %.1fms",
		res.Count, r.n, res.P50Ms, res.P90Ms, res.P99Ms, res.MaxMs)
	return res
}

func lbService(ns, name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Type:                          corev1.ServiceTypeLoadBalancer,
			AllocateLoadBalancerNodePorts: ptr.To(false),
			Selector:                      map[string]string{"app": name},
			Ports: []corev1.ServicePort{{
				Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
}

func createServices(t *testing.T, ctx context.Context, cs corev1client.CoreV1Interface, ns, prefix string, n, workers int) []*corev1.Service {
	t.Helper()
	out := make([]*corev1.Service, n)
	parallel(t, n, workers, func(i int) error {
		svc, err := cs.Services(ns).Create(ctx, lbService(ns, fmt.Sprintf("%s%04d", prefix, i)), metav1.CreateOptions{})
		out[i] = svc
		return err
	})
	return out
}

// deleteServices deletes every Service of the namespace and waits until they are gone.
func deleteServices(t *testing.T, ctx context.Context, cs corev1client.CoreV1Interface, ns string) {
	t.Helper()
	if err := env.Client.DeleteAllOf(ctx, &corev1.Service{}, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(phaseTimeout)
	for {
		list, err := cs.Services(ns).List(ctx, metav1.ListOptions{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Services of %s still present %v after deleting them", ns, phaseTimeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
