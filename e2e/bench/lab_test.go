// The lab the L2 and BGP benchmarks run on, and readings of its processes (speaker PIDs,
// metrics, CPU and RSS).
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
	"bufio"
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2e/lab"
)

// benchLab starts a default lab for a benchmark, waiting up to lockWait (0: the lab's
// default) for another run's lab, and stops it at the end, keeping its logs on failure
// or when IRONLB_BENCH_LOGS names a folder.
func benchLab(t *testing.T, lockWait time.Duration, nodes int) *lab.Lab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), max(lockWait, 10*time.Minute)+5*time.Minute)
	defer cancel()
	start := time.Now()
	l, err := lab.Start(ctx, lab.Options{Logf: t.Logf, LockWait: lockWait, Nodes: nodes})
	if err != nil {
		t.Fatalf("start the lab: %v", err)
	}
	logf("lab %s started in %s", l.Prefix, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			var b strings.Builder
			l.DumpLogs(&b, 40)
			t.Log(b.String())
		}
		if dst := os.Getenv("IRONLB_BENCH_LOGS"); dst != "" {
			if out, err := exec.Command("cp", "-a", filepath.Join(l.Dir, "logs"), filepath.Join(dst, l.Prefix)).CombinedOutput(); err != nil {
				t.Logf("copying the lab's logs to %s: %v: %s", dst, err, out)
			} else {
				logf("lab logs copied to %s", filepath.Join(dst, l.Prefix))
			}
		}
		if err := l.Stop(); err != nil {
			t.Errorf("stop the lab: %v", err)
		}
	})
	return l
}

// speakerMetrics scrapes a speaker's /metrics from the L2 client and sums every sample
// of each metric name.
func speakerMetrics(ctx context.Context, l *lab.Lab, n *lab.Node) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, l2MetricsTimeout)
	defer cancel()
	body, err := l.ScrapeMetrics(ctx, l.L2Client.Netns, net.JoinHostPort(n.IPv4.String(), strconv.Itoa(lab.SpeakerMetricsPort)))
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(f[0], "{")
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			out[name] += v
		}
	}
	return out, sc.Err()
}

// speakerPID finds a node's speaker process: the lab marks its processes with
// IRONLB_LAB=PREFIX and gives the speaker NODE_NAME; `ip netns exec` execs the binary, so
// the process is the speaker itself.
func speakerPID(l *lab.Lab, node string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var found []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil || !strings.Contains(filepath.Base(exe), "ironlb-speaker") {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			continue
		}
		vars := strings.Split(string(env), "\x00")
		if slices.Contains(vars, "IRONLB_LAB="+l.Prefix) && slices.Contains(vars, "NODE_NAME="+node) {
			found = append(found, pid)
		}
	}
	if len(found) != 1 {
		return 0, fmt.Errorf("speaker of %s: found processes %v, want one", node, found)
	}
	return found[0], nil
}

// labProcesses finds the lab's long-running processes by role ("speaker node-1",
// "kube-proxy node-1", "kube-apiserver", "etcd", "controller") from /proc: the lab marks
// each with IRONLB_LAB=PREFIX.
func labProcesses(l *lab.Lab) map[string]int {
	out := map[string]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil || !slices.Contains(strings.Split(string(env), "\x00"), "IRONLB_LAB="+l.Prefix) {
			continue
		}
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		args := strings.Split(string(cmdline), "\x00")
		node := ""
		for _, n := range l.Nodes {
			for _, a := range args {
				if a == "--node-name="+n.Name || strings.HasSuffix(a, "/"+n.Name+".yaml") {
					node = n.Name
				}
			}
		}
		switch base := filepath.Base(strings.TrimSuffix(exe, " (deleted)")); {
		case strings.Contains(base, "ironlb-speaker") && node != "":
			out["speaker "+node] = pid
		case strings.Contains(base, "kube-proxy") && node != "":
			out["kube-proxy "+node] = pid
		case strings.Contains(base, "ironlb-controller"):
			out["controller"] = pid
		case strings.Contains(base, "kube-apiserver"):
			out["kube-apiserver"] = pid
		case base == "etcd" || strings.HasSuffix(base, "-etcd"):
			out["etcd"] = pid
		}
	}
	return out
}

// cpuSample returns utime+stime in seconds per node.
func cpuSample(pids map[string]int) map[string]float64 {
	out := map[string]float64{}
	for name, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		// After the command: state is field 3, utime 14 and stime 15.
		f := strings.Fields(s[i+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		out[name] = (u + st) / l2ClockTicks
	}
	return out
}

// idleCPU returns CPU seconds per minute of each process over d.
func idleCPU(t *testing.T, pids map[string]int, d time.Duration) map[string]float64 {
	t.Helper()
	before := cpuSample(pids)
	time.Sleep(d)
	after := cpuSample(pids)
	out := map[string]float64{}
	for name := range pids {
		if _, ok := after[name]; !ok {
			t.Fatalf("speaker of %s (pid %d) is gone", name, pids[name])
		}
		out[name] = math.Round((after[name]-before[name])/d.Minutes()*100) / 100
	}
	return out
}
