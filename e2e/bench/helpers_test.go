// The helpers every benchmark of this package uses: the shared API server, statistics,
// rounding, polling, output and results files.
package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/ironlb/ironlb/internal/testenv"
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

func seconds(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.2fs", x)
	}
	return strings.Join(parts, " ")
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

// percentile is the nearest-rank percentile of sorted values.
func percentile[T cmp.Ordered](sorted []T, p float64) T {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/10) / 100 }

func ensureNamespace(t *testing.T, ctx context.Context, cs corev1client.CoreV1Interface, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cs.Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
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

// logf prints a progress line, with the time of day, so that a slow phase shows.
func logf(format string, args ...any) {
	fmt.Printf("%s bench: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
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

func msTenths(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/100) / 10 }

func secs(d time.Duration) float64 { return math.Round(d.Seconds()*10) / 10 }

// percentiles returns the nearest-rank p50 and p99 and the maximum (zeros for none).
func percentiles(v []float64) (p50, p99, maxV float64) {
	if len(v) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return percentile(s, 0.50), percentile(s, 0.99), s[len(s)-1]
}

func envInt(t *testing.T, name string, def, least int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < least {
		t.Fatalf("%s=%q: want a number >= %d", name, s, least)
	}
	return v
}

// until polls check every second until it is done, failing the test after timeout.
func until(t *testing.T, timeout time.Duration, what string, check func() (bool, string)) {
	t.Helper()
	start := time.Now()
	last := ""
	for time.Since(start) < timeout {
		done, status := check()
		if done {
			logf("%s after %s", what, time.Since(start).Round(100*time.Millisecond))
			return
		}
		if status != last {
			last = status
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("timed out after %s waiting until %s: %s", timeout, what, last)
}

// untilSteady calls why every interval until it has returned "" (nothing is wrong) on every
// call for stable, and then returns nil; after limit it returns the last thing wrong.
func untilSteady(limit, stable, interval time.Duration, why func() string) error {
	deadline := time.Now().Add(limit)
	var okSince time.Time
	last := ""
	for time.Now().Before(deadline) {
		if w := why(); w != "" {
			okSince, last = time.Time{}, w
		} else {
			if okSince.IsZero() {
				okSince = time.Now()
			}
			if time.Since(okSince) >= stable {
				return nil
			}
		}
		time.Sleep(interval)
	}
	return errors.New(last)
}
