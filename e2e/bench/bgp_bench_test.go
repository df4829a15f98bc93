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
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
	"github.com/ironlb/ironlb/internal/testenv"
)

const (
	bgpNamespace    = "bgpbench"            // convergence and node-loss Services
	bgpScaleNS      = "bgpscale"            // the scale/footprint Services
	bgpPoolV4       = "198.19.0.0/20"       // 4064 usable (x.0 and x.255 avoided), inside lab.LargePoolCIDRv4
	bgpPoolV6       = "2001:db8:ff00::/116" // 4096, inside lab.LargePoolCIDRv6
	bgpTargetIP     = "198.19.15.200"       // the node-loss Service, from the top of the pool
	bgpMyASN        = 64513
	bgpPeerASN      = 64512
	bgpBFDInterval  = 300 // ms, both directions, as FRR's default on the router side
	bgpBFDMult      = 3
	bgpRoutePoll    = 20 * time.Millisecond // pause between two reads of FRR's table
	bgpProbeEvery   = 10 * time.Millisecond
	bgpProbeTimeout = 300 * time.Millisecond
	bgpPreFault     = 500 * time.Millisecond
	bgpAfterGone    = time.Second // probing goes on this long after FRR dropped the next hop
	bgpGoneLimit    = 20 * time.Second
	bgpWholeLimit   = 2 * time.Minute
	bgpWholeStable  = time.Second
)

// bgpSpeakerArgs: BGP only, as in the BGP e2e tests (no memberlist, no ARP/NDP).
var bgpSpeakerArgs = []string{"--layer2=false"}

// BGPResults is what e2e/results/bgp-bench.json holds.
type BGPResults struct {
	Date        string          `json:"date"`
	CPUs        int             `json:"cpus"`
	GoVersion   string          `json:"go_version"`
	Nodes       int             `json:"nodes"`
	SpeakerArgs []string        `json:"speaker_args"`
	BFD         string          `json:"bfd"`
	Setup       BGPSetup        `json:"setup"`
	Convergence *BGPConvergence `json:"convergence,omitempty"`
	NodeLoss    *BGPNodeLoss    `json:"node_loss,omitempty"`
	Scale       *BGPScale       `json:"scale,omitempty"`
	Goals       BGPGoals        `json:"goals"`
	Method      BGPMethod       `json:"method"`
	Summary     string          `json:"summary"`
	LoadAverage [2]float64      `json:"load_average_1m_before_after"`
	Problems    []string        `json:"problems,omitempty"`
	Duration    time.Duration   `json:"-"`
}

// BGPSetup is the first start of the speakers in a fresh lab (FRR has never seen them).
type BGPSetup struct {
	// EstablishedSeconds: the speakers' start → every session Established.
	EstablishedSeconds float64 `json:"established_seconds"`
	// Drops lists, per session that FRR saw go down before the benchmark began, how often
	// and FRR's last reset reason.
	Drops map[string]string `json:"sessions_dropped,omitempty"`
}

// BGPGoals are the targets; the benchmark reports them and does not assert them.
type BGPGoals struct {
	NodeLossP99Ms  float64 `json:"node_loss_outage_p99_under_ms"`
	NodeLossMet    bool    `json:"node_loss_met"`
	NodeLossFigure string  `json:"node_loss_figure"`
}

// BGPMethod says what each figure measures; it is written into the JSON too.
type BGPMethod struct {
	Convergence string `json:"convergence"`
	NodeLoss    string `json:"node_loss"`
	Scale       string `json:"scale"`
}

var bgpMethod = BGPMethod{
	Convergence: `Services (IPv4, externalTrafficPolicy Cluster, one ready endpoint written before the ` +
		`Service exists) are created one at a time, each after the previous one's route had all 3 next hops. ` +
		`Allocation time = when the benchmark's watch on the Services saw status.loadBalancer.ingress set (the ` +
		`speakers learn it from the same API server at the same moment). A poller reads FRR's whole zebra table ` +
		`(vtysh "show ip route json") again 20 ms after each read finishes and diffs it; a route counts from the ` +
		`end of the first read that shows it selected with 1 (first) or 3 (all) active next hops, so figures are ` +
		`overstated by up to one poll cycle (poll_cycle_ms). The kernel figure has no polling: "ip monitor route" runs in ` +
		`the router's namespace and the benchmark timestamps each line as it arrives, so it is when zebra had installed ` +
		`the route (with its first next hop) in the router's kernel, i.e. when packets could follow it.`,
	NodeLoss: `One Service (IPv4, externalTrafficPolicy Local) with one pod behind each node: all 3 nodes advertise it ` +
		`and each node forwards only to its own pod, so the answering pod names the next hop a probe took, and a ` +
		`dead node's pod is never used by the others. The router's kernel hashes ECMP on L4 ` +
		`(fib_multipath_hash_policy=1, set by the benchmark; the default hashes only the addresses, which would send ` +
		`every probe of the one client to one node). The BGP client opens a new TCP connection (new source port) ` +
		`every 10 ms, independently of earlier probes (a probe still waiting does not delay the next), each an HTTP ` +
		`GET that fails after 300 ms; before the fault about a third of them go to each node. The fault: the node's ` +
		`switch port goes down, then its speaker is SIGKILLed (cable first, so no FIN reaches FRR and only BFD can ` +
		`tell: BFDProfile 300/300 ms x3 on both BGPPeers, FRR's BFD 300/300 x3). With ECMP only flows hashed to the ` +
		`dead node fail, so "outage" is the time from the fault to the start of the last probe that failed: how long ` +
		`new connections were still sent to the dead node (resolution ~10-30 ms: a third of the probes hash there). ` +
		`"route gone" is when FRR's zebra route for the /32 (vtysh "show ip route PREFIX json", polled back to back) ` +
		`no longer has the dead node as an active next hop, at the end of that read (route_gone_resolution_ms says how ` +
		`long that read and the one before it took: the next hop went within that window). "longest gap" is lab.Probe's figure (time between two ` +
		`successful probes with failures between them) and is small under ECMP because other flows keep succeeding. ` +
		`Trials rotate the victim over the 3 nodes; between trials the node gets its link back and a new speaker, and ` +
		`the next trial waits for 3 next hops, every session Established and BFD up. p99 is the nearest rank (with 20 ` +
		`trials, the maximum).`,
	Scale: `Dual-stack Services (externalTrafficPolicy Cluster, a ready endpoint each, no NodePorts) are created while ` +
		`every speaker is stopped and assigned by the controller; once kube-proxy is idle again, one speaker is ` +
		`started and timed from its exec until FRR's "show bgp summary json" (polled every 50 ms) shows pfxRcd = N on ` +
		`both of that node's sessions (IPv4 and IPv6; N prefixes each); then the two other speakers are started ` +
		`together and timed the same way. The footprint is VmRSS (and VmHWM, the peak) from /proc/PID/status of ` +
		`each speaker with N Services and 2 peers (the router's IPv4 and IPv6 sessions) once their CPU has settled, ` +
		`plus Go heap in use from /metrics and idle CPU over a window.`,
}

// BGPConvergence is allocation → route in FRR.
type BGPConvergence struct {
	Services    int     `json:"services"`
	PollCycleMs float64 `json:"poll_cycle_ms"`
	// AllocMs: create → IP seen by the watch (the controller's part, for reference).
	AllocP50Ms float64 `json:"alloc_p50_ms"`
	AllocP99Ms float64 `json:"alloc_p99_ms"`
	// FirstHop: IP allocated → FRR has the route with at least one next hop.
	FirstHopP50Ms float64 `json:"first_hop_p50_ms"`
	FirstHopP99Ms float64 `json:"first_hop_p99_ms"`
	FirstHopMaxMs float64 `json:"first_hop_max_ms"`
	// AllHops: IP allocated → FRR has the route with all 3 next hops (every node).
	AllHopsP50Ms float64 `json:"all_hops_p50_ms"`
	AllHopsP99Ms float64 `json:"all_hops_p99_ms"`
	AllHopsMaxMs float64 `json:"all_hops_max_ms"`
	// Kernel: IP allocated → the route in the router's kernel, from `ip monitor route` in
	// the router's namespace (events, no polling: the precise figure, minus vtysh's cost).
	KernelP50Ms float64          `json:"kernel_p50_ms"`
	KernelP99Ms float64          `json:"kernel_p99_ms"`
	KernelMaxMs float64          `json:"kernel_max_ms"`
	Missing     int              `json:"services_without_route"`
	Samples     []BGPConvergeSvc `json:"samples"`
}

// BGPConvergeSvc is one Service of the convergence run (-1: never seen).
type BGPConvergeSvc struct {
	Service    string  `json:"service"`
	Address    string  `json:"address"`
	AllocMs    float64 `json:"alloc_ms"`
	FirstHopMs float64 `json:"first_hop_ms"`
	AllHopsMs  float64 `json:"all_hops_ms"`
	KernelMs   float64 `json:"kernel_ms"`
}

// BGPNodeLoss is the node-loss run.
type BGPNodeLoss struct {
	Address        string  `json:"address"`
	ProbeEveryMs   float64 `json:"probe_interval_ms"`
	ProbeTimeoutMs float64 `json:"probe_timeout_ms"`
	// Spread counts, per node, the probes it answered in a fault-free check before the trials.
	Spread         map[string]int `json:"spread_before_trials"`
	OutageP50Ms    float64        `json:"outage_p50_ms"`
	OutageP99Ms    float64        `json:"outage_p99_ms"`
	OutageMaxMs    float64        `json:"outage_max_ms"`
	RouteGoneP50Ms float64        `json:"route_gone_p50_ms"`
	RouteGoneP99Ms float64        `json:"route_gone_p99_ms"`
	RouteGoneMaxMs float64        `json:"route_gone_max_ms"`
	GapP50Ms       float64        `json:"longest_gap_p50_ms"`
	GapP99Ms       float64        `json:"longest_gap_p99_ms"`
	GapMaxMs       float64        `json:"longest_gap_max_ms"`
	// BFDAddresses are the node addresses whose BFD session with the router was up before
	// the trials (the IPv4 ones at least).
	BFDAddresses []string       `json:"bfd_up_addresses"`
	Trials       []BGPLossTrial `json:"trials"`
}

// BGPLossTrial is one node loss.
type BGPLossTrial struct {
	Victim string `json:"victim"`
	// OutageMs: fault → start of the last failed probe (0: no probe failed).
	OutageMs float64 `json:"outage_ms"`
	// RouteGoneMs: fault → the end of the first read of FRR's route without the victim (-1:
	// not within 20 s); RouteGoneResolutionMs: from the start of the read before it, which
	// still had the victim, so the next hop went within that window.
	RouteGoneMs           float64 `json:"route_gone_ms"`
	RouteGoneResolutionMs float64 `json:"route_gone_resolution_ms"`
	// CutMs: fault → the link was down and the speaker dead (both commands returned).
	CutMs        float64 `json:"cut_ms"`
	LongestGapMs float64 `json:"longest_gap_ms"`
	Probes       int     `json:"probes"`
	Failed       int     `json:"failed_probes"`
	// FailedBefore counts failed probes before the fault (should be 0).
	FailedBefore int `json:"failed_before_fault"`
	// BeforeFault and AfterFault count, per node, the probes it answered.
	BeforeFault    map[string]int `json:"answered_before_fault"`
	AfterFault     map[string]int `json:"answered_after_fault"`
	RestoreSeconds float64        `json:"restore_seconds"`
	Note           string         `json:"note,omitempty"`
}

// BGPScale is the scale run and the footprint.
type BGPScale struct {
	Services int `json:"services"`
	// PrefixesPerSession: each node sends this many IPv4 prefixes on its IPv4 session and
	// as many IPv6 ones on its IPv6 session.
	PrefixesPerSession int     `json:"prefixes_per_session"`
	CreateSeconds      float64 `json:"create_seconds"`
	AssignedSeconds    float64 `json:"assigned_seconds"`
	KubeProxyIdleSecs  float64 `json:"kube_proxy_settle_seconds"`
	// First is the first speaker started alone; Others the two started together after it.
	First  BGPStart   `json:"first_speaker"`
	Others []BGPStart `json:"other_speakers"`
	// SettleSeconds: after the last speaker had every prefix, until the speakers' CPU settled.
	SettleSeconds float64          `json:"settle_seconds"`
	IdleSeconds   float64          `json:"idle_window_seconds"`
	Speakers      []BGPSpeakerSize `json:"speakers"`
	MaxRSSMiB     float64          `json:"max_rss_mib"`
	MaxHWMMiB     float64          `json:"max_hwm_mib"`
	MeanIdleCPU   float64          `json:"mean_idle_cpu_seconds_per_minute"`
}

// BGPStart is one speaker start with N Services waiting, timed from its exec.
type BGPStart struct {
	Node               string  `json:"node"`
	HealthySeconds     float64 `json:"healthy_seconds"`
	EstablishedSeconds float64 `json:"established_seconds"`
	FirstPrefixSeconds float64 `json:"first_prefix_seconds"`
	AllV4Seconds       float64 `json:"all_ipv4_seconds"`
	AllV6Seconds       float64 `json:"all_ipv6_seconds"`
	AllSeconds         float64 `json:"all_seconds"`
	// CPUSeconds: the speaker's CPU time from its start until FRR had everything.
	CPUSeconds float64 `json:"cpu_seconds"`
}

// BGPSpeakerSize is one speaker's footprint.
type BGPSpeakerSize struct {
	Node             string  `json:"node"`
	PID              int     `json:"pid"`
	BaselineRSSMiB   float64 `json:"rss_mib_without_services"`
	RSSMiB           float64 `json:"rss_mib"`
	HWMMiB           float64 `json:"hwm_mib"`
	HeapInuseMiB     float64 `json:"go_heap_inuse_mib"`
	Goroutines       float64 `json:"goroutines"`
	IdleCPUPerMinute float64 `json:"idle_cpu_seconds_per_minute"`
}

func TestBGPBench(t *testing.T) {
	if os.Getenv("IRONLB_BENCH") == "" {
		t.Skip("benchmark: run with make bench")
	}
	if os.Geteuid() != 0 {
		t.Skip("the BGP benchmark runs in the lab, which needs root")
	}
	nConv := envInt(t, "IRONLB_BENCH_BGP_CONVERGENCE", 100, 1)
	trials := envInt(t, "IRONLB_BENCH_BGP_TRIALS", 20, 1)
	nScale := envInt(t, "IRONLB_BENCH_BGP_SERVICES", 3000, 0)
	idle := time.Duration(envInt(t, "IRONLB_BENCH_BGP_IDLE_SECONDS", 30, 1)) * time.Second
	lockWait := time.Duration(envInt(t, "IRONLB_BENCH_LOCK_WAIT_MINUTES", 30, 1)) * time.Minute
	if nScale > 4000 {
		t.Fatalf("IRONLB_BENCH_BGP_SERVICES=%d: the pool %s has 4064 addresses", nScale, bgpPoolV4)
	}
	started := time.Now()

	l := benchLab(t, lockWait, 0)
	ctx := context.Background()
	res := &BGPResults{
		Date: time.Now().UTC().Format(time.RFC3339), CPUs: runtime.NumCPU(), GoVersion: runtime.Version(),
		Nodes: len(l.Nodes), SpeakerArgs: bgpSpeakerArgs, Method: bgpMethod,
		BFD:   fmt.Sprintf("BFDProfile rx %d ms, tx %d ms, x%d on both BGPPeers; FRR neighbors bfd (default 300/300 x3)", bgpBFDInterval, bgpBFDInterval, bgpBFDMult),
		Goals: BGPGoals{NodeLossP99Ms: 1500, NodeLossFigure: "node_loss.outage_p99_ms"},
	}
	res.LoadAverage[0] = loadAverage()
	logf("BGP benchmark: lab %s, %d nodes, %d CPUs; %d convergence Services, %d node-loss trials, %d scale Services",
		l.Prefix, len(l.Nodes), res.CPUs, nConv, trials, nScale)

	bfdUp := bgpSetup(t, ctx, l, res)
	pods := bgpPods(t, ctx, l)

	res.Convergence = bgpConvergence(t, ctx, l, pods, nConv, res)
	res.NodeLoss = bgpNodeLoss(t, ctx, l, pods, trials, bfdUp, res)
	if nScale > 0 {
		res.Scale = bgpScale(t, ctx, l, pods, nScale, idle, res)
	}
	res.LoadAverage[1] = loadAverage()
	res.Duration = time.Since(started)
	if nl := res.NodeLoss; nl != nil && len(nl.Trials) > 0 {
		res.Goals.NodeLossMet = nl.OutageP99Ms < res.Goals.NodeLossP99Ms
	}
	res.Summary = bgpSummary(res)
	bgpPrintTable(res)
	logf("wrote %s", testenv.WriteResult(t, "bgp-bench.json", res))
	// TestMain (controller_bench_test.go) prints `summary` after every test; appending keeps
	// this line the last one the test binary prints.
	summary = strings.TrimSpace(summary + "\n" + res.Summary)
	fmt.Println(res.Summary)
}

// bgpSetup creates the pool, the BFD profile, both BGPPeers and the advertisement, starts
// the controller and the speakers, and waits until every session is Established and BFD is
// up. It returns the node addresses whose BFD session came up (the IPv4 ones at least).
func bgpSetup(t *testing.T, ctx context.Context, l *lab.Lab, res *BGPResults) []netip.Addr {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	i32 := func(v int32) *int32 { return &v }
	peer := func(name string, addr netip.Addr) *ironlbv1.BGPPeer {
		return &ironlbv1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: ironlbv1.BGPPeerSpec{
			MyASN: bgpMyASN, PeerASN: bgpPeerASN, PeerAddress: addr.String(), BFDProfile: "bench",
			ConnectTime: &metav1.Duration{Duration: 2 * time.Second},
		}}
	}
	objs := []client.Object{
		&ironlbv1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "bgpbench"}, Spec: ironlbv1.IPAddressPoolSpec{
			Addresses: []ironlbv1.AddressRange{bgpPoolV4, bgpPoolV6}, AvoidBuggyIPs: true}},
		&ironlbv1.BFDProfile{ObjectMeta: metav1.ObjectMeta{Name: "bench"}, Spec: ironlbv1.BFDProfileSpec{
			ReceiveInterval: i32(bgpBFDInterval), TransmitInterval: i32(bgpBFDInterval), DetectMultiplier: i32(bgpBFDMult)}},
		peer("router4", l.Router.IPv4),
		peer("router6", l.Router.IPv6),
		&ironlbv1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "bgpbench"}},
	}
	for _, o := range objs {
		if err := l.Client.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	if err := l.StartController(ctx); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	for _, n := range l.Nodes {
		if err := l.StartSpeaker(ctx, n.Name, bgpSpeakerArgs...); err != nil {
			t.Fatal(err)
		}
	}
	all := bgpNodeAddrs(l)
	until(t, 2*time.Minute, "every node's IPv4 and IPv6 session Established", func() (bool, string) {
		bad := bgpSessionsNotUp(ctx, l, all)
		return bad == "", bad
	})
	res.Setup.EstablishedSeconds = secs(time.Since(began))
	if drops := bgpDrops(ctx, l); len(drops) > 0 {
		res.Setup.Drops = drops
		msg := fmt.Sprintf("setup: at the speakers' first start %d of %d sessions went down after coming up (FRR: %v); all were Established only %.1fs after the start; speaker logs: %s",
			len(drops), len(all), drops, res.Setup.EstablishedSeconds, bgpLogEvidence(l))
		res.Problems = append(res.Problems, msg)
		logf("%s", msg)
	}
	// BFD: the IPv4 sessions must have it (the node-loss figure depends on it); the IPv6
	// ones are waited for a while and then taken as they are.
	var up []netip.Addr
	deadline := time.Now().Add(45 * time.Second)
	for {
		peers, err := l.RouterBFDPeers(ctx)
		up = up[:0]
		var seen []string
		for _, p := range peers {
			if l.NodeByAddr(p.Address) == nil {
				continue
			}
			seen = append(seen, fmt.Sprintf("%s %s rx=%s tx=%s x%d", p.Address, p.Status, p.RemoteReceiveInterval, p.RemoteTransmitInterval, p.RemoteDetectMultiplier))
			if p.Status == "up" && p.RemoteTransmitInterval == bgpBFDInterval*time.Millisecond && p.RemoteDetectMultiplier == bgpBFDMult {
				up = append(up, p.Address)
			}
		}
		if len(up) == len(all) || time.Now().After(deadline) {
			v4 := 0
			for _, a := range up {
				if a.Is4() {
					v4++
				}
			}
			if v4 != len(l.Nodes) {
				t.Fatalf("FRR's BFD sessions with the nodes' IPv4 addresses are not all up with %d ms x%d: %v (%v)", bgpBFDInterval, bgpBFDMult, seen, err)
			}
			logf("BFD up with %d ms x%d for %d of %d node addresses: %v", bgpBFDInterval, bgpBFDMult, len(up), len(all), seen)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	// ECMP over L4: without it the router hashes only the addresses, and every probe of the
	// one BGP client would take the same next hop.
	for _, kv := range []string{"net.ipv4.fib_multipath_hash_policy", "net.ipv6.fib_multipath_hash_policy"} {
		before, _ := exec.Command("ip", "netns", "exec", l.Router.Netns, "sysctl", "-n", kv).Output()
		if out, err := exec.Command("ip", "netns", "exec", l.Router.Netns, "sysctl", "-w", kv+"=1").CombinedOutput(); err != nil {
			t.Fatalf("router %s: sysctl -w %s=1: %v: %s", l.Router.Netns, kv, err, out)
		}
		logf("router: %s %s -> 1", kv, strings.TrimSpace(string(before)))
	}
	return slices.Clone(up)
}

// bgpPods starts one pod behind each node.
func bgpPods(t *testing.T, ctx context.Context, l *lab.Lab) []*lab.Pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var pods []*lab.Pod
	for _, n := range l.Nodes {
		p, err := l.StartPod(ctx, n.Name, "bgpb-"+n.Name, map[string]string{"app": "bgpbench"})
		if err != nil {
			t.Fatal(err)
		}
		pods = append(pods, p)
	}
	return pods
}

func bgpNodeAddrs(l *lab.Lab) []netip.Addr {
	var out []netip.Addr
	for _, n := range l.Nodes {
		out = append(out, n.IPv4, n.IPv6)
	}
	return out
}

// bgpService is a LoadBalancer Service without a selector (the benchmark writes its
// EndpointSlices) and without NodePorts (3000 Services would not fit the NodePort range).
func bgpService(ns, name string, dual bool) *corev1.Service {
	policy := corev1.IPFamilyPolicySingleStack
	families := []corev1.IPFamily{corev1.IPv4Protocol}
	if dual {
		policy = corev1.IPFamilyPolicyRequireDualStack
		families = append(families, corev1.IPv6Protocol)
	}
	no := false
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, IPFamilyPolicy: &policy, IPFamilies: families,
			AllocateLoadBalancerNodePorts: &no,
			Ports: []corev1.ServicePort{{
				Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(lab.PodPort),
			}},
		},
	}
}

// bgpCreateSlice writes a Service's EndpointSlice of one family with the pods as ready
// endpoints, named and labelled like the lab's own (so lab.DeleteService removes it). It
// may be written before the Service exists: the speakers match slices by label.
func bgpCreateSlice(ctx context.Context, l *lab.Lab, ns, svc string, fam corev1.IPFamily, pods ...*lab.Pod) error {
	yes := true
	port, proto, portName := int32(lab.PodPort), corev1.ProtocolTCP, "http"
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: svc + "-" + strings.ToLower(string(fam)), Labels: map[string]string{
			discoveryv1.LabelServiceName: svc, discoveryv1.LabelManagedBy: lab.EndpointSliceManager}},
		AddressType: discoveryv1.AddressType(fam),
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Protocol: &proto, Port: &port}},
	}
	for _, p := range pods {
		a := p.IPv4
		if fam == corev1.IPv6Protocol {
			a = p.IPv6
		}
		node := p.Node.Name
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{a.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: &yes, Serving: &yes},
			NodeName:   &node,
		})
	}
	_, err := l.Kube.DiscoveryV1().EndpointSlices(ns).Create(ctx, slice, metav1.CreateOptions{})
	return err
}
