// Package bench measures the controller the way design.md ("Performance: how it is
// measured") says: side by side in one run, against a real API server, as ratios to what
// the API server itself can take.
//
// Run it with `IRONLB_BENCH=1 go test -count=1 -v -timeout 30m ./e2e/bench/`. Optional:
// IRONLB_BENCH_N (Services per phase, default 3000), IRONLB_BENCH_CEILING_WORKERS (default
// 64), IRONLB_BENCH_CEILING_ROUNDS (default 3) and IRONLB_BENCH_PROFILE_DIR (writes a CPU
// profile of this process for each controller phase there).
package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/controller/app"
	"github.com/ironlb/ironlb/internal/testenv"
)

const (
	poolName       = "bench"
	poolCIDR       = "198.18.0.0/16"
	latencyCount   = 200
	phaseTimeout   = 10 * time.Minute
	latencyTimeout = 30 * time.Second
)

var (
	env *testenv.Env
	// summary is printed again after every test (and the API server) has finished, so it
	// is the last line the test binary prints.
	summary string
)

func TestMain(m *testing.M) {
	if os.Getenv("IRONLB_BENCH") == "" {
		os.Exit(m.Run()) // the benchmark skips itself: no API server needed
	}
	code := testenv.Main(m, &env)
	if summary != "" {
		fmt.Println(summary)
	}
	os.Exit(code)
}

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
	workers := envInt(t, "IRONLB_BENCH_CEILING_WORKERS", 64, 1)
	rounds := envInt(t, "IRONLB_BENCH_CEILING_ROUNDS", 3, 1)
	ctx := context.Background()
	cs := fastClient(t)
	cp := findControlPlane(t)

	res := Results{
		Date: time.Now().UTC().Format(time.RFC3339), Services: n, CPUs: runtime.NumCPU(), GoVersion: runtime.Version(),
	}
	logf("ironlb controller benchmark: %d LoadBalancer Services, %d CPUs, %s", n, res.CPUs, res.GoVersion)

	res.Ceiling = measureCeiling(t, ctx, cs, cp, "bench-ceiling", n, workers, rounds)
	createPool(t, ctx)

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
	logf("wrote %s", writeJSON(t, "controller-bench.json", res))
	summary = res.Summary
	fmt.Println(res.Summary)
}

// ---- ceiling ----

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

func seconds(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.2fs", x)
	}
	return strings.Join(parts, " ")
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

func ipFor(i int) string {
	return fmt.Sprintf("198.18.%d.%d", (i/256)%256, i%256)
}

// ---- controller ----

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
	r.result = ControllerRun{QPS: qps, Burst: burst, Workers: 8}

	runtime.GC()
	debug.FreeOSMemory()
	r.result.BaselineRSSMiB = statusMiB(t, 0, "VmRSS:")
	r.startProfile(t, fmt.Sprintf("controller-qps%g.pprof", qps))
	r.cpu0 = cp.sample()

	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(r.counter.wrap)
	start := time.Now()
	r.ctl = startController(app.Options{
		Config: cfg, MetricsAddr: "0", HealthAddr: "0", LeaderElect: false,
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

func createPool(t *testing.T, ctx context.Context) {
	t.Helper()
	p := &ironlbv1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{Name: poolName},
		Spec:       ironlbv1.IPAddressPoolSpec{Addresses: []ironlbv1.AddressRange{poolCIDR}},
	}
	if err := env.Client.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removePool(poolName) })
}

// removePool deletes the pool, dropping the controller's finalizer (no controller runs by
// then).
func removePool(name string) {
	ctx := context.Background()
	var p ironlbv1.IPAddressPool
	if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, &p); err != nil {
		return
	}
	_ = env.Client.Delete(ctx, &p)
	for range 50 {
		if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, &p); err != nil {
			return
		}
		p.Finalizers = nil
		if err := env.Client.Update(ctx, &p); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ---- latency ----

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

// percentile is the nearest-rank percentile of sorted values.
func percentile[T cmp.Ordered](sorted []T, p float64) T {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/10) / 100 }

// ---- Services ----

func fastClient(t *testing.T) corev1client.CoreV1Interface {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 5000, 10000
	cfg.UserAgent = "ironlb-bench"
	cs, err := corev1client.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func ensureNamespace(t *testing.T, ctx context.Context, cs corev1client.CoreV1Interface, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cs.Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
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

// parallel runs f(0..n-1) on the given number of goroutines and fails on the first error.
func parallel(t *testing.T, n, workers int, f func(i int) error) {
	t.Helper()
	next := make(chan int)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("item %d: %w", i, err)
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
}

// ---- watch ----

// watcher records, per Service name, when a watch first saw an IP in its status.
type watcher struct {
	cancel   context.CancelFunc
	mu       sync.Mutex
	assigned map[string]time.Time
	changed  chan struct{}
}

func startWatcher(t *testing.T, cs corev1client.CoreV1Interface, ns string) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{cancel: cancel, assigned: map[string]time.Time{}, changed: make(chan struct{})}
	lw := cache.NewListWatchFromClient(cs.RESTClient(), "services", ns, fields.Everything())
	inf := cache.NewSharedIndexInformer(lw, &corev1.Service{}, 0, cache.Indexers{})
	// Keep only what the benchmark reads, so its cache adds little to the measured RSS.
	if err := inf.SetTransform(func(obj any) (any, error) {
		svc, ok := obj.(*corev1.Service)
		if !ok {
			return obj, nil
		}
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: svc.Namespace, Name: svc.Name, ResourceVersion: svc.ResourceVersion},
			Status:     corev1.ServiceStatus{LoadBalancer: svc.Status.LoadBalancer},
		}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    w.saw,
		UpdateFunc: func(_, obj any) { w.saw(obj) },
	}); err != nil {
		t.Fatal(err)
	}
	go inf.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("the benchmark's Service watch did not sync")
	}
	return w
}

func (w *watcher) saw(obj any) {
	now := time.Now()
	svc, ok := obj.(*corev1.Service)
	if !ok || len(svc.Status.LoadBalancer.Ingress) == 0 || svc.Status.LoadBalancer.Ingress[0].IP == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, seen := w.assigned[svc.Name]; seen {
		return
	}
	w.assigned[svc.Name] = now
	close(w.changed)
	w.changed = make(chan struct{})
}

func (w *watcher) stop() { w.cancel() }

// wait blocks until done (called with the lock held) is true or the timeout passes.
func (w *watcher) wait(timeout time.Duration, done func() bool) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		w.mu.Lock()
		ok, ch := done(), w.changed
		w.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-timer.C:
			return false
		}
	}
}

func (w *watcher) waitCount(n int, timeout time.Duration) bool {
	return w.wait(timeout, func() bool { return len(w.assigned) >= n })
}

// waitFor returns when the watch saw the Service's IP.
func (w *watcher) waitFor(name string, timeout time.Duration) (time.Time, bool) {
	var at time.Time
	ok := w.wait(timeout, func() bool {
		var seen bool
		at, seen = w.assigned[name]
		return seen
	})
	return at, ok
}

func (w *watcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.assigned)
}

func (w *watcher) first() time.Time {
	return w.extreme(func(a, b time.Time) bool { return a.Before(b) })
}

func (w *watcher) last() time.Time {
	return w.extreme(func(a, b time.Time) bool { return a.After(b) })
}

func (w *watcher) extreme(better func(a, b time.Time) bool) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out time.Time
	for _, at := range w.assigned {
		if out.IsZero() || better(at, out) {
			out = at
		}
	}
	return out
}

// ---- the controller's API requests ----

// apiCounter counts the controller's requests by verb and resource, from a wrapped
// transport, and the conflicts and throttling answers among them.
type apiCounter struct {
	mu        sync.Mutex
	byKey     map[string]int
	busy      map[string]time.Duration // summed round-trip time per key (watches excluded)
	conflicts int
	throttled int
	last      time.Time
	// status holds, per Service name, the first status PATCH that succeeded.
	status map[string]span
}

type span struct{ start, end time.Time }

func newAPICounter() *apiCounter {
	return &apiCounter{byKey: map[string]int{}, busy: map[string]time.Duration{}, status: map[string]span{}}
}

// lastStatusWrite is when the last first-time status PATCH was answered.
func (c *apiCounter) lastStatusWrite() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var last time.Time
	for _, s := range c.status {
		if s.end.After(last) {
			last = s.end
		}
	}
	return last
}

func (c *apiCounter) statusWrite(name string) (span, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.status[name]
	return s, ok
}

func (c *apiCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := rt.RoundTrip(req)
		key := requestKey(req)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.byKey[key]++
		if !strings.HasPrefix(key, "WATCH ") {
			c.busy[key] += time.Since(start)
		}
		if key == "PATCH services/status" && resp != nil && resp.StatusCode == http.StatusOK {
			name := path.Base(path.Dir(req.URL.Path))
			if _, seen := c.status[name]; !seen {
				c.status[name] = span{start, time.Now()}
			}
		}
		if !strings.HasPrefix(key, "WATCH ") {
			c.last = time.Now()
		}
		if resp != nil {
			switch resp.StatusCode {
			case http.StatusConflict:
				c.conflicts++
				c.byKey[key+" (409)"]++
			case http.StatusTooManyRequests:
				c.throttled++
			}
		}
		return resp, err
	})
}

func (c *apiCounter) snapshot() (map[string]int, int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.byKey))
	for k, v := range c.byKey {
		out[k] = v
	}
	return out, c.conflicts, c.throttled
}

// meanMs is the mean round trip per key so far, in milliseconds.
func (c *apiCounter) meanMs() map[string]float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]float64{}
	for k, d := range c.busy {
		if n := c.byKey[k]; n > 0 {
			out[k] = ms(d / time.Duration(n))
		}
	}
	return out
}

func (c *apiCounter) lastRequest() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// requestKey names a request "VERB resource[/subresource]", with GETs of collections as
// LIST and watches as WATCH.
func requestKey(req *http.Request) string {
	seg := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	switch {
	case len(seg) >= 2 && seg[0] == "api":
		seg = seg[2:]
	case len(seg) >= 3 && seg[0] == "apis":
		seg = seg[3:]
	default:
		return req.Method + " " + req.URL.Path
	}
	if len(seg) >= 3 && seg[0] == "namespaces" {
		seg = seg[2:]
	}
	if len(seg) == 0 {
		return req.Method + " discovery"
	}
	res := seg[0]
	if len(seg) >= 3 {
		res += "/" + seg[2]
	}
	verb := req.Method
	if verb == http.MethodGet {
		switch {
		case req.URL.Query().Get("watch") == "true" || req.URL.Query().Get("watch") == "1":
			verb = "WATCH"
		case len(seg) == 1:
			verb = "LIST"
		}
	}
	return verb + " " + res
}

// ---- processes ----

// controlPlane holds the pids of the kube-apiserver and etcd that testenv started.
type controlPlane struct{ apiserver, etcd int }

func findControlPlane(t *testing.T) controlPlane {
	t.Helper()
	var cp controlPlane
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, ppid, _, ok := procStat(pid)
		if !ok || ppid != self {
			continue
		}
		switch comm {
		case "kube-apiserver":
			cp.apiserver = pid
		case "etcd":
			cp.etcd = pid
		}
	}
	if cp.apiserver == 0 || cp.etcd == 0 {
		t.Logf("could not find the API server (%d) or etcd (%d) among this process's children: their CPU shows as 0", cp.apiserver, cp.etcd)
	}
	return cp
}

// procStat reads a process's name, parent and CPU seconds from /proc.
func procStat(pid int) (comm string, ppid int, cpu float64, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, 0, false
	}
	s := string(data)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return "", 0, 0, false
	}
	f := strings.Fields(s[closing+1:])
	if len(f) < 13 {
		return "", 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	const ticks = 100 // USER_HZ on Linux
	return s[open+1 : closing], ppid, (utime + stime) / ticks, true
}

func (cp controlPlane) sample() CPU {
	var c CPU
	if cp.apiserver != 0 {
		_, _, c.APIServer, _ = procStat(cp.apiserver)
	}
	if cp.etcd != 0 {
		_, _, c.Etcd, _ = procStat(cp.etcd)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		c.Test = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	return c
}

func (cp controlPlane) since(before CPU) CPU {
	now := cp.sample()
	return CPU{APIServer: round2(now.APIServer - before.APIServer), Etcd: round2(now.Etcd - before.Etcd), Test: round2(now.Test - before.Test)}
}

// loadAverage is the 1-minute load average from /proc/loadavg (0 if unreadable).
func loadAverage() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// ---- output ----

func logf(format string, args ...any) {
	fmt.Printf("bench: "+format+"\n", args...)
}

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

// writeJSON writes a benchmark's results to e2e/results/NAME and returns the path.
func writeJSON(t *testing.T, name string, res any) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "e2e", "results")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// statusMiB reads a size field (VmRSS:, VmHWM:, ...) of /proc/PID/status in MiB; pid 0
// is this test process.
func statusMiB(t *testing.T, pid int, key string) float64 {
	t.Helper()
	proc := "self"
	if pid != 0 {
		proc = strconv.Itoa(pid)
	}
	data, err := os.ReadFile("/proc/" + proc + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			kb, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				t.Fatal(err)
			}
			return math.Round(kb/1024*10) / 10
		}
	}
	t.Fatalf("no %s in /proc/%s/status", key, proc)
	return 0
}
