package bench

// The release benchmark: how long a Service waiting on a full pool waits once another
// Service frees an address (issue #12: goal p99 < 100 ms with 3000 Services present).
//
// Run it with `IRONLB_BENCH=1 go test -count=1 -v -timeout 30m -run TestControllerReleaseBench
// ./e2e/bench/`. Optional: IRONLB_BENCH_N (Services holding the full pool, default 3000) and
// IRONLB_BENCH_RELEASE_TRIALS (default 100).

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/controller/app"
	"github.com/ironlb/ironlb/internal/metricsendpoint"
	"github.com/ironlb/ironlb/internal/testenv"
)

const (
	releasePool = "bench-release"
	releaseNS   = "bench-release"
	// releaseBase is where the full pool starts: outside the allocation benchmark's /16, so
	// both can exist in one run.
	releaseBase = "198.19.0.0"
)

// ReleaseResults is what e2e/results/controller-release.json holds.
type ReleaseResults struct {
	Date      string `json:"date"`
	Services  int    `json:"services_holding_the_full_pool"`
	Trials    int    `json:"trials"`
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	// FromDeleteCall runs from the DELETE request of a holder until the benchmark's watch
	// saw the waiting Service's IP; FromDeleted from the DELETE's answer.
	FromDeleteCall Percentiles `json:"from_delete_call_ms"`
	FromDeleted    Percentiles `json:"from_delete_answered_ms"`
	LoadAverage    float64     `json:"load_average_1m"`
	Summary        string      `json:"summary"`
}

// Percentiles of a latency, in milliseconds.
type Percentiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func TestControllerReleaseBench(t *testing.T) {
	if os.Getenv("IRONLB_BENCH") == "" {
		t.Skip("benchmark: run with make bench")
	}
	testenv.Require(t, env)
	n := envInt(t, "IRONLB_BENCH_N", 3000, 1)
	trials := envInt(t, "IRONLB_BENCH_RELEASE_TRIALS", 100, 1)
	ctx := context.Background()
	cs := fastClient(t)

	ensureNamespace(t, ctx, cs, releaseNS)
	env.CreatePool(t, releasePool, ironlbv1.IPAddressPoolSpec{Addresses: []ironlbv1.AddressRange{releaseRange(n)}})
	holders := make([]string, n)
	parallel(t, n, 64, func(i int) error {
		holders[i] = fmt.Sprintf("h%04d", i)
		_, err := cs.Services(releaseNS).Create(ctx, releaseService(holders[i]), metav1.CreateOptions{})
		return err
	})
	w := startWatcher(t, cs, releaseNS)
	defer w.stop()
	ctl := startController(app.Options{
		Config: rest.CopyConfig(env.Config), Metrics: metricsendpoint.Options{BindAddress: "0"}, HealthAddr: "0",
		QPS: 1000, Burst: 2000, EventsQPS: 20, EventsBurst: 100, Workers: 8, LogLevel: "error",
	})
	defer ctl.stop(t)
	if !w.waitCount(n, phaseTimeout) {
		t.Fatalf("release: only %d of %d holders got an IP within %v", w.count(), n, phaseTimeout)
	}
	logf("release: %d Services hold every address of pool %s", n, releasePool)

	rng := rand.New(rand.NewPCG(1, 2))
	var fromCall, fromDone []time.Duration
	for i := range trials {
		waiter := fmt.Sprintf("w%04d", i)
		if _, err := cs.Services(releaseNS).Create(ctx, releaseService(waiter), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitExhausted(t, ctx, cs, waiter)
		k := rng.IntN(len(holders))
		victim := holders[k]
		freed := serviceIP(t, ctx, cs, victim)
		start := time.Now()
		if err := cs.Services(releaseNS).Delete(ctx, victim, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		deleted := time.Now()
		at, ok := w.waitFor(waiter, latencyTimeout)
		if !ok {
			t.Fatalf("release: %s got no IP within %v of deleting %s", waiter, latencyTimeout, victim)
		}
		if got := serviceIP(t, ctx, cs, waiter); got != freed {
			t.Fatalf("release: %s got %s, want %s, which %s freed", waiter, got, freed, victim)
		}
		fromCall, fromDone = append(fromCall, at.Sub(start)), append(fromDone, at.Sub(deleted))
		holders[k] = waiter
	}
	res := ReleaseResults{
		Date: time.Now().UTC().Format(time.RFC3339), Services: n, Trials: trials, CPUs: runtime.NumCPU(), GoVersion: runtime.Version(),
		FromDeleteCall: summarize(fromCall), FromDeleted: summarize(fromDone), LoadAverage: loadAverage(),
	}
	res.Summary = fmt.Sprintf("release -> IP (%d Services in a full pool, %d trials): p50 %.1fms p99 %.1fms max %.1fms from the DELETE call",
		n, trials, res.FromDeleteCall.P50, res.FromDeleteCall.P99, res.FromDeleteCall.Max)
	logf("release: from the DELETE answer: p50 %.1fms p99 %.1fms max %.1fms", res.FromDeleted.P50, res.FromDeleted.P99, res.FromDeleted.Max)
	logf("wrote %s", testenv.WriteResult(t, "controller-release.json", res))
	ctl.stop(t)
	deleteServices(t, ctx, cs, releaseNS)
	summary = res.Summary
	fmt.Println(res.Summary)
}

// releaseRange is a range of exactly n IPv4 addresses from releaseBase.
func releaseRange(n int) ironlbv1.AddressRange {
	first := netip.MustParseAddr(releaseBase)
	last := first
	for range n - 1 {
		last = last.Next()
	}
	return ironlbv1.AddressRange(first.String() + "-" + last.String())
}

// releaseService is a LoadBalancer Service that asks for the full pool by name, so it never
// falls back to another pool of the run.
func releaseService(name string) *corev1.Service {
	svc := lbService(releaseNS, name)
	svc.Annotations = map[string]string{ironlbv1.AnnotationAddressPool: releasePool}
	return svc
}

// waitExhausted waits until the controller has told the Service the pool is full, so the
// timed part starts with the Service known to be waiting.
func waitExhausted(t *testing.T, ctx context.Context, cs corev1client.CoreV1Interface, name string) {
	t.Helper()
	deadline := time.Now().Add(latencyTimeout)
	for time.Now().Before(deadline) {
		svc, err := cs.Services(releaseNS).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if c := meta.FindStatusCondition(svc.Status.Conditions, ironlbv1.ConditionIPAllocated); c != nil &&
			c.Reason == ironlbv1.ReasonPoolExhausted {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("release: %s was never told %s within %v", name, ironlbv1.ReasonPoolExhausted, latencyTimeout)
}

func serviceIP(t *testing.T, ctx context.Context, cs corev1client.CoreV1Interface, name string) string {
	t.Helper()
	svc, err := cs.Services(releaseNS).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.Status.LoadBalancer.Ingress) == 0 {
		t.Fatalf("release: %s has no IP", name)
	}
	return svc.Status.LoadBalancer.Ingress[0].IP
}

func summarize(v []time.Duration) Percentiles {
	s := slices.Clone(v)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Percentiles{
		P50: ms(percentile(s, 0.50)), P90: ms(percentile(s, 0.90)), P99: ms(percentile(s, 0.99)),
		Max: ms(s[len(s)-1]), Mean: ms(sum / time.Duration(len(s))),
	}
}
