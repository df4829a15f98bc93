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
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
	"github.com/ironlb/ironlb/speaker/election"
)

const (
	l2Namespace      = "l2bench"
	l2FootprintNS    = "l2footprint"
	l2PoolCIDR       = "198.19.0.0/20" // 4096 addresses (x.0 and x.255 avoided), inside lab.LargePoolCIDRv4
	l2ProbeEvery     = 10 * time.Millisecond
	l2Recovered      = time.Second      // probes must succeed this long after the failover
	l2FailoverLimit  = 20 * time.Second // a trial that has not recovered by then failed
	l2WholeLimit     = 90 * time.Second // the cluster must be whole again within this
	l2WholeStable    = 2 * time.Second  // and stay so this long before the next trial
	l2PreFault       = 500 * time.Millisecond
	l2ClockTicks     = 100 // USER_HZ: /proc/PID/stat counts CPU time in 1/100 s
	l2MetricsTimeout = 2 * time.Second
)

// L2Results is what e2e/results/l2-bench.json holds.
type L2Results struct {
	Date           string        `json:"date"`
	CPUs           int           `json:"cpus"`
	GoVersion      string        `json:"go_version"`
	Nodes          int           `json:"nodes"`
	ProbeEveryMs   float64       `json:"probe_interval_ms"`
	ProbeTimeoutMs float64       `json:"probe_timeout_ms"`
	SpeakerArgs    []string      `json:"speaker_args,omitempty"`
	Failover       []L2Kind      `json:"failover"`
	Footprint      *L2Footprint  `json:"footprint,omitempty"`
	Method         string        `json:"method"`
	Goals          L2Goals       `json:"goals"`
	Summary        string        `json:"summary"`
	LoadAverage    [2]float64    `json:"load_average_1m_before_after"`
	Duration       time.Duration `json:"-"`
}

// L2Goals are the targets; the benchmark reports them and does not assert them.
type L2Goals struct {
	GracefulMs    float64 `json:"graceful_gap_under_ms"`
	NodeLossP99Ms float64 `json:"node_loss_p99_under_ms"`
	GracefulMet   bool    `json:"graceful_met"`
	NodeLossMet   bool    `json:"node_loss_met"`
}

// L2Kind is one failure kind over all its trials.
type L2Kind struct {
	Kind   string `json:"kind"`
	Inject string `json:"inject"`
	// GapP50Ms, GapP99Ms and GapMaxMs summarise the longest probe gap of each trial: the
	// outage a client saw (ProbeResult.Longest), 0 when no probe failed.
	GapP50Ms float64 `json:"gap_p50_ms"`
	GapP99Ms float64 `json:"gap_p99_ms"`
	GapMaxMs float64 `json:"gap_max_ms"`
	// TakeoverP50Ms ... run from the fault until the L2 client's neighbour entry for the
	// address named the new owner's MAC (its gratuitous ARP arrived): ironlb's own part,
	// which for freeze and graceful stop is longer than what clients see (the old node
	// keeps forwarding, see the method note).
	TakeoverP50Ms float64 `json:"takeover_p50_ms"`
	TakeoverP99Ms float64 `json:"takeover_p99_ms"`
	TakeoverMaxMs float64 `json:"takeover_max_ms"`
	// StaleNeighbour counts trials whose client had been sent to a node other than the
	// owner beforehand (see L2Trial.ClientBefore).
	StaleNeighbour int       `json:"stale_neighbour_trials"`
	Trials         []L2Trial `json:"trials"`
}

// L2Trial is one fault injection.
type L2Trial struct {
	Address  string  `json:"address"`
	From     string  `json:"from"`
	To       string  `json:"to"`
	GapMs    float64 `json:"longest_gap_ms"`
	Gaps     int     `json:"gaps"`
	Failures int     `json:"failed_probes"`
	Probes   int     `json:"probes"`
	// TakeoverMs is -1 when the client's neighbour entry never changed.
	TakeoverMs float64 `json:"takeover_ms"`
	// ClientBefore names the node the L2 client's neighbour entry pointed at before the
	// trial when that was not the owner (the entry was then flushed, so the trial measures
	// the owner's failure); empty when it was the owner.
	ClientBefore string `json:"client_neighbour_before,omitempty"`
	// WholeSeconds is how long restoring the node took until the cluster was whole again.
	WholeSeconds float64 `json:"restore_seconds"`
	Note         string  `json:"note,omitempty"`
}

// L2Footprint is the speakers' memory and idle CPU with many announced addresses.
type L2Footprint struct {
	Services int `json:"services"`
	// CreateSeconds: creating the Services; AssignedSeconds: until all had an address;
	// AnnouncedSeconds: until the speakers together owned every address.
	CreateSeconds    float64 `json:"create_seconds"`
	AssignedSeconds  float64 `json:"assigned_seconds"`
	AnnouncedSeconds float64 `json:"announced_seconds"`
	// ConditionsSeconds: until every Service carried L2Announced=True.
	ConditionsSeconds float64            `json:"conditions_seconds"`
	SettleSeconds     float64            `json:"settle_seconds"`
	IdleSeconds       float64            `json:"idle_window_seconds"`
	Speakers          []L2SpeakerUsage   `json:"speakers"`
	MaxRSSMiB         float64            `json:"max_rss_mib"`
	MeanIdleCPU       float64            `json:"mean_idle_cpu_seconds_per_minute"`
	OwnedIPs          map[string]float64 `json:"owned_ips"`
	// BurstCPU is the CPU seconds each lab process used from the first create until every
	// Service carried its condition: what the burst cost, and who slowed it down.
	BurstCPU       map[string]float64 `json:"burst_cpu_seconds"`
	SampleChecked  int                `json:"sample_addresses_checked"`
	SampleOneOwner int                `json:"sample_addresses_with_one_owner"`
}

// L2SpeakerUsage is one speaker's footprint.
type L2SpeakerUsage struct {
	Node              string  `json:"node"`
	PID               int     `json:"pid"`
	BaselineRSSMiB    float64 `json:"rss_mib_with_3_services"`
	RSSMiB            float64 `json:"rss_mib"`
	IdleCPUPerMinute  float64 `json:"idle_cpu_seconds_per_minute"`
	BaselineCPUPerMin float64 `json:"idle_cpu_seconds_per_minute_with_3_services"`
}

// l2Method explains what the failover figures measure; it is written into the JSON too.
const l2Method = `Three Services (IPv4, externalTrafficPolicy Cluster) with addresses whose rendezvous ` +
	`winner is node-1, node-2 and node-3, trials rotating over them so every node is failed. One pod runs ` +
	`behind each node, but each Service's EndpointSlice lists only the pods of the two nodes that do NOT ` +
	`announce it. The node being failed therefore never holds an endpoint of the Service under test: ` +
	`the measured gap is the time until the L2 client sends to a live node (ironlb's failover), never ` +
	`kube-proxy sending to a dead endpoint that nothing removes (there is no endpoint controller in ` +
	`the lab, and endpoint churn is not ironlb's). The endpoints are written once, before the trials, ` +
	`so kube-proxy is idle while they run. Kill+link cut loses the whole node; freeze (SIGSTOP) and ` +
	`graceful stop (SIGTERM) affect only the speaker, so the old node keeps forwarding packets the ` +
	`client still sends to its MAC: there the client-visible gap is expected to be ~0 and the takeover ` +
	`time (until the client's neighbour entry names the new owner) is ironlb's figure. The prober ` +
	`(lab.Probe, one new TCP connection every 10 ms) gives up on a request after 200 ms, so a gap is ` +
	`overstated by up to that much: a SYN sent to the old MAC just before the takeover is lost, and the ` +
	`next probe starts only when it times out.`

type l2Fault struct {
	kind, inject string
	do           func(ctx context.Context, l *lab.Lab, node string) (restore func(context.Context) error, err error)
}

var l2Faults = []l2Fault{
	{"kill", "SIGKILL the speaker and cut the node's link", func(ctx context.Context, l *lab.Lab, node string) (func(context.Context) error, error) {
		if err := l.KillSpeaker(node); err != nil {
			return nil, err
		}
		if err := l.LinkDown(ctx, node); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			if err := l.LinkUp(ctx, node); err != nil {
				return err
			}
			return l.RestartSpeaker(ctx, node)
		}, nil
	}},
	{"freeze", "SIGSTOP the speaker", func(ctx context.Context, l *lab.Lab, node string) (func(context.Context) error, error) {
		if err := l.FreezeSpeaker(node); err != nil {
			return nil, err
		}
		return func(context.Context) error { return l.ThawSpeaker(node) }, nil
	}},
	{"graceful", "SIGTERM the speaker (graceful hand-over)", func(ctx context.Context, l *lab.Lab, node string) (func(context.Context) error, error) {
		// StopSpeaker returns once the speaker has exited (after its hand-over delay), so
		// it runs beside the measurement.
		done := make(chan error, 1)
		go func() { done <- l.StopSpeaker(node) }()
		return func(ctx context.Context) error {
			if err := <-done; err != nil {
				return err
			}
			return l.RestartSpeaker(ctx, node)
		}, nil
	}},
}

// l2Target is a Service under test and the node that announces it when all are alive.
type l2Target struct {
	svc   *corev1.Service
	addr  netip.Addr
	owner *lab.Node
}

func TestL2Bench(t *testing.T) {
	if os.Getenv("IRONLB_BENCH") == "" {
		t.Skip("benchmark: run with make bench")
	}
	if os.Geteuid() != 0 {
		t.Skip("the layer-2 benchmark runs in the lab, which needs root")
	}
	trials := envInt(t, "IRONLB_BENCH_TRIALS", 20, 1)
	nServices := envInt(t, "IRONLB_BENCH_L2_SERVICES", 3000, 0)
	idle := time.Duration(envInt(t, "IRONLB_BENCH_IDLE_SECONDS", 60, 1)) * time.Second
	speakerArgs := strings.Fields(os.Getenv("IRONLB_BENCH_SPEAKER_ARGS"))
	started := time.Now()

	l := benchLab(t, 0)
	ctx := context.Background()
	res := L2Results{
		Date: time.Now().UTC().Format(time.RFC3339), CPUs: runtime.NumCPU(), GoVersion: runtime.Version(),
		Nodes: len(l.Nodes), ProbeEveryMs: l2Ms(l2ProbeEvery), ProbeTimeoutMs: l2Ms(min(max(20*l2ProbeEvery, 100*time.Millisecond), time.Second)),
		SpeakerArgs: speakerArgs, Method: l2Method,
		Goals: L2Goals{GracefulMs: 200, NodeLossP99Ms: 1000},
	}
	res.LoadAverage[0] = l2LoadAverage()
	l2Logf("layer-2 benchmark: lab %s, %d nodes, %d trials per kind, %d CPUs, speaker flags %q", l.Prefix, len(l.Nodes), trials, res.CPUs, speakerArgs)

	l2Setup(t, ctx, l, speakerArgs)
	targets := l2Targets(t, ctx, l)

	for _, f := range l2Faults {
		kind := L2Kind{Kind: f.kind, Inject: f.inject}
		for i := range trials {
			tg := targets[i%len(targets)]
			tr := l2RunTrial(t, ctx, l, f, tg)
			stale := ""
			if tr.ClientBefore != "" {
				stale = " (client had been sent to " + tr.ClientBefore + ")"
			}
			l2Logf("  %-8s trial %2d/%d: %s -> %s, longest gap %6.1f ms, takeover %6.1f ms, %d/%d probes failed, restored in %.1fs%s %s",
				f.kind, i+1, trials, tr.From, tr.To, tr.GapMs, tr.TakeoverMs, tr.Failures, tr.Probes, tr.WholeSeconds, stale, tr.Note)
			kind.Trials = append(kind.Trials, tr)
		}
		var gaps, takeovers []float64
		for _, tr := range kind.Trials {
			if tr.ClientBefore != "" {
				kind.StaleNeighbour++
			}
			gaps = append(gaps, tr.GapMs)
			if tr.TakeoverMs >= 0 {
				takeovers = append(takeovers, tr.TakeoverMs)
			}
		}
		kind.GapP50Ms, kind.GapP99Ms, kind.GapMaxMs = l2Percentiles(gaps)
		kind.TakeoverP50Ms, kind.TakeoverP99Ms, kind.TakeoverMaxMs = l2Percentiles(takeovers)
		res.Failover = append(res.Failover, kind)
	}

	if nServices > 0 {
		res.Footprint = l2MeasureFootprint(t, ctx, l, nServices, idle)
	}
	res.LoadAverage[1] = l2LoadAverage()
	res.Duration = time.Since(started)

	for _, k := range res.Failover {
		switch k.Kind {
		case "graceful":
			res.Goals.GracefulMet = k.GapMaxMs < res.Goals.GracefulMs
		case "kill":
			res.Goals.NodeLossMet = k.GapP99Ms < res.Goals.NodeLossP99Ms
		}
	}
	res.Summary = l2Summary(res)
	l2PrintTable(res)
	l2Logf("wrote %s", writeJSON(t, "l2-bench.json", res))
	// TestMain (controller_bench_test.go) prints `summary` after all tests and the API
	// server are done; appending keeps this line the last one the test binary prints.
	summary = strings.TrimSpace(summary + "\n" + res.Summary)
	fmt.Println(res.Summary)
}

// ---- lab set-up ----

// benchLab starts a default lab for a benchmark, waiting up to lockWait (0: the lab's
// default) for another run's lab, and stops it at the end, keeping its logs on failure
// or when IRONLB_BENCH_LOGS names a folder.
func benchLab(t *testing.T, lockWait time.Duration) *lab.Lab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), max(lockWait, 10*time.Minute)+5*time.Minute)
	defer cancel()
	start := time.Now()
	l, err := lab.Start(ctx, lab.Options{Logf: t.Logf, LockWait: lockWait})
	if err != nil {
		t.Fatalf("start the lab: %v", err)
	}
	l2Logf("lab %s started in %s", l.Prefix, time.Since(start).Round(time.Millisecond))
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
				l2Logf("lab logs copied to %s", filepath.Join(dst, l.Prefix))
			}
		}
		if err := l.Stop(); err != nil {
			t.Errorf("stop the lab: %v", err)
		}
	})
	return l
}

// l2Setup creates the pool and the advertisement and starts the controller and a speaker
// on every node.
func l2Setup(t *testing.T, ctx context.Context, l *lab.Lab, speakerArgs []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	pool := &ironlbv1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{Name: "l2bench"},
		Spec:       ironlbv1.IPAddressPoolSpec{Addresses: []ironlbv1.AddressRange{l2PoolCIDR}, AvoidBuggyIPs: true},
	}
	if err := l.Client.Create(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := l.Client.Create(ctx, &ironlbv1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "l2bench"}}); err != nil {
		t.Fatal(err)
	}
	if err := l.StartController(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range l.Nodes {
		if err := l.StartSpeaker(ctx, n.Name, speakerArgs...); err != nil {
			t.Fatal(err)
		}
	}
}

// l2Targets creates one pod per node and one Service per node, each with an address that
// node wins, and points each Service at the pods of the other nodes only.
func l2Targets(t *testing.T, ctx context.Context, l *lab.Lab) []*l2Target {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var names []string
	pods := map[string]*lab.Pod{}
	for _, n := range l.Nodes {
		names = append(names, n.Name)
		p, err := l.StartPod(ctx, n.Name, "l2bench-"+n.Name, map[string]string{"app": "l2bench"})
		if err != nil {
			t.Fatal(err)
		}
		pods[n.Name] = p
	}
	// Addresses from the top of the pool (the footprint's Services fill it from the bottom),
	// one won by each node under rendezvous hashing with every node alive.
	want := map[string]netip.Addr{}
	for host := 254; host > 0 && len(want) < len(names); host-- {
		a := netip.AddrFrom4([4]byte{198, 19, 15, byte(host)})
		if o := election.Owner(a.String(), names); want[o] == (netip.Addr{}) {
			want[o] = a
		}
	}
	var targets []*l2Target
	for _, n := range l.Nodes {
		a, ok := want[n.Name]
		if !ok {
			continue
		}
		svc := l2IPv4Service(l2Namespace, "fo-"+n.Name)
		svc.Annotations = map[string]string{ironlbv1.AnnotationLoadBalancerIPs: a.String()}
		svc, err := l.CreateService(ctx, svc)
		if err != nil {
			t.Fatal(err)
		}
		svc, err = l.WaitForIngress(ctx, svc.Namespace, svc.Name, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		tg := &l2Target{svc: svc, addr: netip.MustParseAddr(svc.Status.LoadBalancer.Ingress[0].IP)}
		tg.owner = l2WaitOwner(t, ctx, l, tg.addr, 30*time.Second)
		var eps []*lab.Pod
		var want []string
		for _, m := range l.Nodes {
			if m.Name != tg.owner.Name {
				eps = append(eps, pods[m.Name])
				want = append(want, pods[m.Name].Name)
			}
		}
		if err := l.SetEndpoints(ctx, svc, lab.Ready(eps...)); err != nil {
			t.Fatal(err)
		}
		l2WaitReach(t, ctx, l, tg.addr, want, 30*time.Second)
		l2Logf("target %s: %s announced by %s (hash winner %s), endpoints %v", svc.Name, tg.addr, tg.owner.Name, n.Name, want)
		targets = append(targets, tg)
	}
	if len(targets) == 0 {
		t.Fatal("no target Service")
	}
	return targets
}

func l2IPv4Service(ns, name string) *corev1.Service {
	single := corev1.IPFamilyPolicySingleStack
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Type:           corev1.ServiceTypeLoadBalancer,
			IPFamilyPolicy: &single,
			IPFamilies:     []corev1.IPFamily{corev1.IPv4Protocol},
			Ports: []corev1.ServicePort{{
				Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(lab.PodPort),
			}},
		},
	}
}

func l2URL(a netip.Addr) string { return "http://" + net.JoinHostPort(a.String(), "80") + "/" }

// l2WaitOwner waits until exactly one node answers ARP for a and returns it.
func l2WaitOwner(t *testing.T, ctx context.Context, l *lab.Lab, a netip.Addr, timeout time.Duration) *lab.Node {
	t.Helper()
	var last string
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		macs, err := l2WhoHas(ctx, l, a)
		if err == nil && len(macs) == 1 {
			if n := l.NodeByMAC(macs[0]); n != nil {
				return n
			}
		}
		last = fmt.Sprintf("MACs %v, error %v", macs, err)
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no single node answers for %s after %s: %s", a, timeout, last)
	return nil
}

func l2WhoHas(ctx context.Context, l *lab.Lab, a netip.Addr) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return l.WhoHas(ctx, a)
}

func l2WaitReach(t *testing.T, ctx context.Context, l *lab.Lab, a netip.Addr, from []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		body, err := l.Curl(cctx, l.L2Client.Netns, l2URL(a))
		cancel()
		if err == nil && (from == nil || slices.Contains(from, body)) {
			return
		}
		last = err
		if err == nil {
			last = fmt.Errorf("answered by %q, want one of %v", body, from)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not reached after %s: %v", l2URL(a), timeout, last)
}

// ---- one trial ----

// l2RunTrial probes tg's address, injects the fault into its owner, waits until the client
// is served again (and for l2Recovered more), restores the node and waits until the
// cluster is whole again.
func l2RunTrial(t *testing.T, ctx context.Context, l *lab.Lab, f l2Fault, tg *l2Target) L2Trial {
	t.Helper()
	old := tg.owner
	tr := L2Trial{Address: tg.addr.String(), From: old.Name, TakeoverMs: -1}

	tr.ClientBefore = l2PointClientAtOwner(t, ctx, l, tg)
	prober, err := l.Probe(ctx, l.L2Client.Netns, l2URL(tg.addr), l2ProbeEvery)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(l2PreFault)
	start := time.Now()
	restore, err := f.do(ctx, l, old.Name)
	if err != nil {
		prober.Stop()
		t.Fatalf("%s %s: %v", f.kind, old.Name, err)
	}

	// The takeover: the client's neighbour entry for the address changes to another MAC,
	// which happens when the new owner's gratuitous ARP (or its ARP reply) arrives.
	deadline := start.Add(l2FailoverLimit)
	for time.Now().Before(deadline) {
		n, err := l.ClientNeighbor(ctx, tg.addr)
		if err == nil && n != nil && n.MAC != "" && n.MAC != old.MAC && !slices.Contains(n.State, "FAILED") && !slices.Contains(n.State, "INCOMPLETE") {
			tr.TakeoverMs = l2Ms(time.Since(start))
			if nn := l.NodeByMAC(n.MAC); nn != nil {
				tr.To = nn.Name
			} else {
				tr.To = n.MAC
			}
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if tr.TakeoverMs < 0 {
		tr.Note += "client never switched MAC; "
	}
	// Served again, then for l2Recovered more so a late second outage would show.
	for time.Now().Before(deadline) {
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_, err := l.Curl(cctx, l.L2Client.Netns, l2URL(tg.addr))
		cancel()
		if err == nil {
			break
		}
	}
	time.Sleep(l2Recovered)
	res := prober.Stop()
	tr.GapMs, tr.Gaps, tr.Failures, tr.Probes = l2Ms(res.Longest), len(res.Gaps), res.Failures, res.Failures+res.Successes
	if res.Successes == 0 {
		tr.Note += "no probe succeeded; "
	}
	// Who answers ARP now: one node, not the old one.
	if macs, err := l2WhoHas(ctx, l, tg.addr); err != nil || len(macs) != 1 || macs[0] == old.MAC {
		tr.Note += fmt.Sprintf("after failover ARP answered by %v (%v); ", macs, err)
	} else if n := l.NodeByMAC(macs[0]); n != nil && tr.To == "" {
		tr.To = n.Name
	}

	restoreStart := time.Now()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := restore(rctx); err != nil {
		t.Fatalf("restoring %s after %s: %v", old.Name, f.kind, err)
	}
	l2WaitWhole(t, rctx, l, tg)
	tr.WholeSeconds = math.Round(time.Since(restoreStart).Seconds()*10) / 10
	tr.Note = strings.TrimSuffix(tr.Note, "; ")
	return tr
}

// l2PointClientAtOwner makes sure the L2 client sends tg's traffic to tg's owner: if its
// neighbour entry names another MAC (a speaker that restarted claimed the address for a
// moment and its gratuitous ARP moved the client), the entry is flushed and resolved
// again. It returns the node the entry named when that was not the owner.
func l2PointClientAtOwner(t *testing.T, ctx context.Context, l *lab.Lab, tg *l2Target) string {
	t.Helper()
	was := ""
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		n, err := l.ClientNeighbor(ctx, tg.addr)
		if err != nil {
			t.Fatal(err)
		}
		if n != nil && n.MAC == tg.owner.MAC && !slices.Contains(n.State, "FAILED") {
			return was
		}
		if n != nil && n.MAC != "" && was == "" {
			if nn := l.NodeByMAC(n.MAC); nn != nil {
				was = nn.Name
			} else {
				was = n.MAC
			}
		}
		if err := l.FlushClientNeighbors(ctx); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		_, _ = l.Curl(cctx, l.L2Client.Netns, l2URL(tg.addr))
		cancel()
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the L2 client does not resolve %s to its owner %s", tg.addr, tg.owner.Name)
	return ""
}

// l2WaitWhole waits until every speaker counts every node as a live member and the
// address is answered by its usual owner alone, continuously for l2WholeStable.
func l2WaitWhole(t *testing.T, ctx context.Context, l *lab.Lab, tg *l2Target) {
	t.Helper()
	deadline := time.Now().Add(l2WholeLimit)
	var okSince time.Time
	var last string
	for time.Now().Before(deadline) {
		why := ""
		for _, n := range l.Nodes {
			m, err := l2SpeakerMetrics(ctx, l, n)
			if err != nil {
				why = fmt.Sprintf("%s metrics: %v", n.Name, err)
				break
			}
			if got := m["ironlb_memberlist_members"]; got != float64(len(l.Nodes)) {
				why = fmt.Sprintf("%s sees %v members", n.Name, got)
				break
			}
		}
		if why == "" {
			macs, err := l2WhoHas(ctx, l, tg.addr)
			if err != nil || len(macs) != 1 || macs[0] != tg.owner.MAC {
				why = fmt.Sprintf("%s answered by %v (%v), want %s", tg.addr, macs, err, tg.owner.Name)
			}
		}
		if why != "" {
			okSince, last = time.Time{}, why
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if okSince.IsZero() {
			okSince = time.Now()
		}
		if time.Since(okSince) >= l2WholeStable {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the cluster is not whole again after %s: %s", l2WholeLimit, last)
}

// l2SpeakerMetrics scrapes a speaker's /metrics from the L2 client and sums every sample
// of each metric name.
func l2SpeakerMetrics(ctx context.Context, l *lab.Lab, n *lab.Node) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, l2MetricsTimeout)
	defer cancel()
	url := "http://" + net.JoinHostPort(n.IPv4.String(), strconv.Itoa(lab.SpeakerMetricsPort)) + "/metrics"
	body, err := l.Curl(ctx, l.L2Client.Netns, url)
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

// ---- footprint ----

func l2MeasureFootprint(t *testing.T, ctx context.Context, l *lab.Lab, n int, idle time.Duration) *L2Footprint {
	t.Helper()
	fp := &L2Footprint{Services: n, IdleSeconds: idle.Seconds(), OwnedIPs: map[string]float64{}}
	pids := map[string]int{}
	for _, node := range l.Nodes {
		pid, err := l2SpeakerPID(l, node.Name)
		if err != nil {
			t.Fatal(err)
		}
		pids[node.Name] = pid
	}
	// The baseline: the same speakers with only the benchmark's three Services, idle.
	l2Logf("footprint: baseline over %s with 3 Services", idle)
	baseRSS := map[string]float64{}
	for name, pid := range pids {
		baseRSS[name] = statusMiB(t, pid, "VmRSS:")
	}
	baseCPU := l2IdleCPU(t, pids, idle)

	existing := 0
	for _, node := range l.Nodes {
		m, err := l2SpeakerMetrics(ctx, l, node)
		if err != nil {
			t.Fatal(err)
		}
		existing += int(m["ironlb_layer2_owned_ips"])
	}

	l2Logf("footprint: creating %d LoadBalancer Services", n)
	labPIDs := l2LabProcesses(l)
	burstBefore := l2CPUSample(labPIDs)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: l2FootprintNS}}
	if _, err := l.Kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	parallel(t, n, 16, func(i int) error {
		svc := l2IPv4Service(l2FootprintNS, fmt.Sprintf("svc-%04d", i))
		svc.Spec.AllocateLoadBalancerNodePorts = l2Ptr(false)
		_, err := l.Kube.CoreV1().Services(l2FootprintNS).Create(ctx, svc, metav1.CreateOptions{})
		return err
	})
	fp.CreateSeconds = l2Secs(time.Since(start))

	var addrs []netip.Addr
	l2Until(t, 10*time.Minute, "every Service has an address", func() (bool, string) {
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
	fp.AssignedSeconds = l2Secs(time.Since(start))

	l2Until(t, 10*time.Minute, "the speakers own every address", func() (bool, string) {
		total := 0.0
		for _, node := range l.Nodes {
			m, err := l2SpeakerMetrics(ctx, l, node)
			if err != nil {
				return false, err.Error()
			}
			fp.OwnedIPs[node.Name] = m["ironlb_layer2_owned_ips"]
			total += m["ironlb_layer2_owned_ips"]
		}
		return int(total) == n+existing, fmt.Sprintf("%v of %d", total, n+existing)
	})
	fp.AnnouncedSeconds = l2Secs(time.Since(start))

	l2Until(t, 10*time.Minute, "every Service has L2Announced=True", func() (bool, string) {
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
	fp.ConditionsSeconds = l2Secs(time.Since(start))
	burstAfter := l2CPUSample(labPIDs)
	fp.BurstCPU = map[string]float64{}
	for role := range labPIDs {
		fp.BurstCPU[role] = math.Round((burstAfter[role]-burstBefore[role])*10) / 10
	}

	// Settle: until every speaker's CPU over 10 s is back near its idle rate with three
	// Services (kube-proxy's syncs of thousands of Services and the speakers' status writes
	// are over), at most 3 minutes.
	settleStart := time.Now()
	for time.Since(settleStart) < 3*time.Minute {
		before := l2CPUSample(pids)
		time.Sleep(10 * time.Second)
		after := l2CPUSample(pids)
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
	fp.SettleSeconds = l2Secs(time.Since(settleStart))

	// A sample of the addresses: exactly one node answers each.
	rnd := slices.Clone(addrs)
	sort.Slice(rnd, func(i, j int) bool { return rnd[i].Less(rnd[j]) })
	step := max(1, len(rnd)/20)
	for i := 0; i < len(rnd); i += step {
		fp.SampleChecked++
		if macs, err := l2WhoHas(ctx, l, rnd[i]); err == nil && len(macs) == 1 {
			fp.SampleOneOwner++
		} else {
			l2Logf("footprint: %s answered by %v (%v)", rnd[i], macs, err)
		}
	}

	l2Logf("footprint: idle CPU over %s with %d Services", idle, n)
	cpu := l2IdleCPU(t, pids, idle)
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

// l2SpeakerPID finds a node's speaker process: the lab marks its processes with
// IRONLB_LAB=PREFIX and gives the speaker NODE_NAME; `ip netns exec` execs the binary, so
// the process is the speaker itself.
func l2SpeakerPID(l *lab.Lab, node string) (int, error) {
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

// l2LabProcesses finds the lab's long-running processes by role ("speaker node-1",
// "kube-proxy node-1", "kube-apiserver", "etcd", "controller") from /proc: the lab marks
// each with IRONLB_LAB=PREFIX.
func l2LabProcesses(l *lab.Lab) map[string]int {
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

// l2CPUSample returns utime+stime in seconds per node.
func l2CPUSample(pids map[string]int) map[string]float64 {
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

// l2IdleCPU returns CPU seconds per minute of each process over d.
func l2IdleCPU(t *testing.T, pids map[string]int, d time.Duration) map[string]float64 {
	t.Helper()
	before := l2CPUSample(pids)
	time.Sleep(d)
	after := l2CPUSample(pids)
	out := map[string]float64{}
	for name := range pids {
		if _, ok := after[name]; !ok {
			t.Fatalf("speaker of %s (pid %d) is gone", name, pids[name])
		}
		out[name] = math.Round((after[name]-before[name])/d.Minutes()*100) / 100
	}
	return out
}

// ---- output ----

func l2Summary(r L2Results) string {
	var parts []string
	for _, k := range r.Failover {
		parts = append(parts, fmt.Sprintf("%s p50 %.0fms p99 %.0fms (takeover p50/p99 %.0f/%.0fms)", k.Kind, k.GapP50Ms, k.GapP99Ms, k.TakeoverP50Ms, k.TakeoverP99Ms))
	}
	s := "layer2: " + strings.Join(parts, "; ")
	if fp := r.Footprint; fp != nil {
		s += fmt.Sprintf("; speaker rss %.0fMiB, idle cpu %.2fs/min (%d svcs)", fp.MaxRSSMiB, fp.MeanIdleCPU, fp.Services)
	}
	return s
}

func l2PrintTable(r L2Results) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Println()
	fmt.Printf("Layer-2 failover (%d nodes, probe every %.0f ms, %.0f ms probe timeout; gap = longest client outage)\n", r.Nodes, r.ProbeEveryMs, r.ProbeTimeoutMs)
	_, _ = fmt.Fprintln(w, "kind\ttrials\tgap p50 ms\tgap p99 ms\tgap max ms\ttakeover p50 ms\ttakeover p99 ms\ttakeover max ms\tclient sent elsewhere before\t")
	for _, k := range r.Failover {
		_, _ = fmt.Fprintf(w, "%s\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%d\t\n", k.Kind, len(k.Trials),
			k.GapP50Ms, k.GapP99Ms, k.GapMaxMs, k.TakeoverP50Ms, k.TakeoverP99Ms, k.TakeoverMaxMs, k.StaleNeighbour)
	}
	_ = w.Flush()
	fmt.Printf("Goals (reported, not asserted): graceful gap < %.0f ms: %v; node loss p99 < %.0f ms: %v\n",
		r.Goals.GracefulMs, r.Goals.GracefulMet, r.Goals.NodeLossP99Ms, r.Goals.NodeLossMet)
	if fp := r.Footprint; fp != nil {
		fmt.Println()
		fmt.Printf("Speaker footprint with %d LoadBalancer Services (assigned in %.1fs, announced in %.1fs, conditions in %.1fs; idle window %.0fs)\n",
			fp.Services, fp.AssignedSeconds, fp.AnnouncedSeconds, fp.ConditionsSeconds, fp.IdleSeconds)
		w = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		_, _ = fmt.Fprintln(w, "node\towned IPs\tRSS MiB (3 svcs)\tRSS MiB\tidle CPU s/min (3 svcs)\tidle CPU s/min\t")
		for _, s := range fp.Speakers {
			_, _ = fmt.Fprintf(w, "%s\t%.0f\t%.1f\t%.1f\t%.2f\t%.2f\t\n", s.Node, fp.OwnedIPs[s.Node], s.BaselineRSSMiB, s.RSSMiB, s.BaselineCPUPerMin, s.IdleCPUPerMinute)
		}
		_ = w.Flush()
		fmt.Printf("ARP sample: %d of %d addresses answered by exactly one node\n", fp.SampleOneOwner, fp.SampleChecked)
		var roles []string
		for role := range fp.BurstCPU {
			roles = append(roles, role)
		}
		sort.Strings(roles)
		var cpu []string
		for _, role := range roles {
			cpu = append(cpu, fmt.Sprintf("%s %.1f", role, fp.BurstCPU[role]))
		}
		fmt.Printf("CPU seconds while the %d Services were created and announced (%.1fs): %s\n", fp.Services, fp.ConditionsSeconds, strings.Join(cpu, ", "))
	}
	fmt.Printf("load average (1m) before/after: %.2f / %.2f; run took %s\n", r.LoadAverage[0], r.LoadAverage[1], r.Duration.Round(time.Second))
}

// ---- helpers (prefixed: the package's other file has its own) ----

func l2Logf(format string, args ...any) {
	fmt.Printf("%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func l2Ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/100) / 10 }

func l2Secs(d time.Duration) float64 { return math.Round(d.Seconds()*10) / 10 }

func l2Ptr[T any](v T) *T { return &v }

// l2Percentiles returns the nearest-rank p50 and p99 and the maximum (zeros for none).
func l2Percentiles(v []float64) (p50, p99, maxV float64) {
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

func l2LoadAverage() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseFloat(strings.Fields(string(data))[0], 64)
	return v
}

// l2Until polls check every second until it is done, failing the test after timeout.
func l2Until(t *testing.T, timeout time.Duration, what string, check func() (bool, string)) {
	t.Helper()
	start := time.Now()
	last := ""
	for time.Since(start) < timeout {
		done, status := check()
		if done {
			l2Logf("%s after %s", what, time.Since(start).Round(100*time.Millisecond))
			return
		}
		if status != last {
			last = status
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("timed out after %s waiting until %s: %s", timeout, what, last)
}
