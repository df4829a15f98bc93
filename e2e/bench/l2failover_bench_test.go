package bench

// The layer-2 benchmark: failover as a client sees it, and the speaker's footprint with
// thousands of announced addresses, measured the way design.md ("Performance: how it is
// measured") says, in the lab (e2e/lab): real speakers, kube-proxy and ARP on a bridge.
//
// Run it with `IRONLB_BENCH=1 go test -count=1 -v -timeout 60m -run L2 ./e2e/bench/`.
// Optional: IRONLB_BENCH_TRIALS (trials per failure kind, default 20),
// IRONLB_BENCH_L2_SERVICES (Services for the footprint, default 3000; 0 skips it),
// IRONLB_BENCH_IDLE_SECONDS (how long idle CPU is measured, default 60),
// IRONLB_BENCH_NODES (lab nodes, default 3, at most lab.MaxNodes: past node-15 the scale
// plan's nodes host no pods, so the endpoints stay on node-1 to node-3; the result goes to
// l2-bench-NODESn.json when it is not 3),
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
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
	"github.com/ironlb/ironlb/internal/testenv"
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
	Date      string `json:"date"`
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	Nodes     int    `json:"nodes"`
	// JoinSeconds: from starting the speakers until every one counted every node.
	JoinSeconds    float64       `json:"join_seconds"`
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
	// MembersP50Ms ... run from the fault until the last surviving speaker logged the
	// node as failed or left: memberlist's convergence.
	MembersP50Ms float64 `json:"members_converged_p50_ms,omitempty"`
	MembersP99Ms float64 `json:"members_converged_p99_ms,omitempty"`
	MembersMaxMs float64 `json:"members_converged_max_ms,omitempty"`
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
	// MembersMs: until every surviving speaker had logged the node as failed or left (-1:
	// some never did within l2FailoverLimit).
	MembersMs float64 `json:"members_converged_ms"`
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
	nodes := envInt(t, "IRONLB_BENCH_NODES", 3, 1)
	started := time.Now()

	l := benchLab(t, 0, nodes)
	ctx := context.Background()
	res := L2Results{
		Date: time.Now().UTC().Format(time.RFC3339), CPUs: runtime.NumCPU(), GoVersion: runtime.Version(),
		Nodes: len(l.Nodes), ProbeEveryMs: msTenths(l2ProbeEvery), ProbeTimeoutMs: msTenths(min(max(20*l2ProbeEvery, 100*time.Millisecond), time.Second)),
		SpeakerArgs: speakerArgs, Method: l2Method,
		Goals: L2Goals{GracefulMs: 200, NodeLossP99Ms: 1000},
	}
	res.LoadAverage[0] = loadAverage()
	logf("layer-2 benchmark: lab %s, %d nodes, %d trials per kind, %d CPUs, speaker flags %q", l.Prefix, len(l.Nodes), trials, res.CPUs, speakerArgs)

	speakersStarted := l2Setup(t, ctx, l, speakerArgs)
	res.JoinSeconds = secs(l2WaitMembers(t, ctx, l, speakersStarted))
	logf("every speaker counts %d members %.1f s after the speakers were started", len(l.Nodes), res.JoinSeconds)
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
			logf("  %-8s trial %2d/%d: %s -> %s, longest gap %6.1f ms, takeover %6.1f ms, %d/%d probes failed, restored in %.1fs%s %s",
				f.kind, i+1, trials, tr.From, tr.To, tr.GapMs, tr.TakeoverMs, tr.Failures, tr.Probes, tr.WholeSeconds, stale, tr.Note)
			kind.Trials = append(kind.Trials, tr)
		}
		var gaps, takeovers, members []float64
		for _, tr := range kind.Trials {
			if tr.ClientBefore != "" {
				kind.StaleNeighbour++
			}
			gaps = append(gaps, tr.GapMs)
			if tr.TakeoverMs >= 0 {
				takeovers = append(takeovers, tr.TakeoverMs)
			}
			if tr.MembersMs >= 0 {
				members = append(members, tr.MembersMs)
			}
		}
		kind.GapP50Ms, kind.GapP99Ms, kind.GapMaxMs = percentiles(gaps)
		kind.TakeoverP50Ms, kind.TakeoverP99Ms, kind.TakeoverMaxMs = percentiles(takeovers)
		kind.MembersP50Ms, kind.MembersP99Ms, kind.MembersMaxMs = percentiles(members)
		res.Failover = append(res.Failover, kind)
	}

	if nServices > 0 {
		res.Footprint = l2MeasureFootprint(t, ctx, l, nServices, idle)
	}
	res.LoadAverage[1] = loadAverage()
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
	name := "l2-bench.json"
	if len(l.Nodes) != 3 {
		name = fmt.Sprintf("l2-bench-%dn.json", len(l.Nodes))
	}
	logf("wrote %s", testenv.WriteResult(t, name, res))
	// TestMain (controller_bench_test.go) prints `summary` after all tests and the API
	// server are done; appending keeps this line the last one the test binary prints.
	summary = strings.TrimSpace(summary + "\n" + res.Summary)
	fmt.Println(res.Summary)
}

// l2Setup creates the pool and the advertisement and starts the controller and a speaker
// on every node; it returns when it began starting them.
func l2Setup(t *testing.T, ctx context.Context, l *lab.Lab, speakerArgs []string) time.Time {
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
	started := time.Now()
	if err := l.StartIronlb(ctx, speakerArgs...); err != nil {
		t.Fatal(err)
	}
	return started
}

// l2Targets starts one pod on each of node-1 to node-3 (or fewer nodes) and creates one
// Service for each of three owners (every node of a 3-node lab; in a larger one the
// first, the middle and the last node), each with an address that owner wins, and points
// each Service at the pods of the other nodes only.
func l2Targets(t *testing.T, ctx context.Context, l *lab.Lab) []*l2Target {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var names []string
	for _, n := range l.Nodes {
		names = append(names, n.Name)
	}
	pods := map[string]*lab.Pod{}
	for _, n := range l.Nodes[:min(3, len(l.Nodes))] {
		p, err := l.StartPod(ctx, n.Name, "l2bench-"+n.Name, map[string]string{"app": "l2bench"})
		if err != nil {
			t.Fatal(err)
		}
		pods[n.Name] = p
	}
	owners := l.Nodes
	if len(owners) > 3 {
		owners = []*lab.Node{l.Nodes[0], l.Nodes[len(l.Nodes)/2], l.Nodes[len(l.Nodes)-1]}
	}
	// Addresses from the top of the pool (the footprint's Services fill it from the bottom),
	// one won by each owner under rendezvous hashing with every node alive.
	// 198.19.12.1-198.19.15.254 has about a thousand addresses: a 50-node lab finds an
	// address for each of its three owners there but with odds of about 1 in 10^8.
	want := map[string]netip.Addr{}
	for third := byte(15); third >= 12 && len(want) < len(owners); third-- {
		for host := 254; host > 0 && len(want) < len(owners); host-- {
			a := netip.AddrFrom4([4]byte{198, 19, third, byte(host)})
			o := election.Owner(a.String(), names)
			if _, taken := want[o]; !taken && slices.ContainsFunc(owners, func(n *lab.Node) bool { return n.Name == o }) {
				want[o] = a
			}
		}
	}
	var targets []*l2Target
	for _, n := range owners {
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
			if p := pods[m.Name]; p != nil && m.Name != tg.owner.Name {
				eps = append(eps, p)
				want = append(want, p.Name)
			}
		}
		if err := l.SetEndpoints(ctx, svc, lab.Ready(eps...)); err != nil {
			t.Fatal(err)
		}
		l2WaitReach(t, ctx, l, tg.addr, want, 30*time.Second)
		logf("target %s: %s announced by %s (hash winner %s), endpoints %v", svc.Name, tg.addr, tg.owner.Name, n.Name, want)
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
