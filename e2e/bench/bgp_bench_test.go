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
// Helpers shared with the other benchmarks live in their files: l2SpeakerPID, l2CPUSample,
// l2LabProcesses, l2SpeakerMetrics, l2Percentiles and envInt in l2failover_bench_test.go;
// statusMiB, parallel and percentile in controller_bench_test.go.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
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

	l := benchLab(t, lockWait)
	ctx := context.Background()
	res := &BGPResults{
		Date: time.Now().UTC().Format(time.RFC3339), CPUs: runtime.NumCPU(), GoVersion: runtime.Version(),
		Nodes: len(l.Nodes), SpeakerArgs: bgpSpeakerArgs, Method: bgpMethod,
		BFD:   fmt.Sprintf("BFDProfile rx %d ms, tx %d ms, x%d on both BGPPeers; FRR neighbors bfd (default 300/300 x3)", bgpBFDInterval, bgpBFDInterval, bgpBFDMult),
		Goals: BGPGoals{NodeLossP99Ms: 1500, NodeLossFigure: "node_loss.outage_p99_ms"},
	}
	res.LoadAverage[0] = l2LoadAverage()
	l2Logf("BGP benchmark: lab %s, %d nodes, %d CPUs; %d convergence Services, %d node-loss trials, %d scale Services",
		l.Prefix, len(l.Nodes), res.CPUs, nConv, trials, nScale)

	bfdUp := bgpSetup(t, ctx, l, res)
	pods := bgpPods(t, ctx, l)

	res.Convergence = bgpConvergence(t, ctx, l, pods, nConv, res)
	res.NodeLoss = bgpNodeLoss(t, ctx, l, pods, trials, bfdUp, res)
	if nScale > 0 {
		res.Scale = bgpScale(t, ctx, l, pods, nScale, idle, res)
	}
	res.LoadAverage[1] = l2LoadAverage()
	res.Duration = time.Since(started)
	if nl := res.NodeLoss; nl != nil && len(nl.Trials) > 0 {
		res.Goals.NodeLossMet = nl.OutageP99Ms < res.Goals.NodeLossP99Ms
	}
	res.Summary = bgpSummary(res)
	bgpPrintTable(res)
	l2Logf("wrote %s", writeJSON(t, "bgp-bench.json", res))
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
	l2Until(t, 2*time.Minute, "every node's IPv4 and IPv6 session Established", func() (bool, string) {
		bad := bgpSessionsNotUp(ctx, l, all)
		return bad == "", bad
	})
	res.Setup.EstablishedSeconds = l2Secs(time.Since(began))
	if drops := bgpDrops(ctx, l); len(drops) > 0 {
		res.Setup.Drops = drops
		msg := fmt.Sprintf("setup: at the speakers' first start %d of %d sessions went down after coming up (FRR: %v); all were Established only %.1fs after the start; speaker logs: %s",
			len(drops), len(all), drops, res.Setup.EstablishedSeconds, bgpLogEvidence(l))
		res.Problems = append(res.Problems, msg)
		l2Logf("%s", msg)
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
			l2Logf("BFD up with %d ms x%d for %d of %d node addresses: %v", bgpBFDInterval, bgpBFDMult, len(up), len(all), seen)
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
		l2Logf("router: %s %s -> 1", kv, strings.TrimSpace(string(before)))
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

// bgpDrops returns, for each of the router's node sessions that has gone down since FRR
// started, how often and FRR's last reset reason.
func bgpDrops(ctx context.Context, l *lab.Lab) map[string]string {
	out := map[string]string{}
	for a, d := range bgpDropCounts(ctx, l) {
		if d.dropped > 0 {
			out[a.String()] = fmt.Sprintf("%s: dropped %d times", l.NodeByAddr(a).Name, d.dropped)
		}
	}
	return out
}

type bgpDrop struct {
	dropped int
	reason  string
}

// bgpDropCounts returns how often each node session went down since FRR started.
func bgpDropCounts(ctx context.Context, l *lab.Lab) map[netip.Addr]bgpDrop {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out := map[netip.Addr]bgpDrop{}
	peers, err := l.BGPNeighbors(ctx)
	if err != nil {
		return out
	}
	for _, p := range peers {
		if l.NodeByAddr(p.Address) != nil {
			out[p.Address] = bgpDrop{p.ConnectionsDropped, p.LastReset}
		}
	}
	return out
}

// bgpLogEvidence counts, in each speaker's log, the BGP sessions that went back to Idle and
// the BFD-down warnings, with the first such line, so a problem report says what the
// speakers saw (the lab keeps the logs in /run/ironlb-lab/last-logs/ afterwards).
func bgpLogEvidence(l *lab.Lab) string {
	var parts []string
	for _, n := range l.Nodes {
		data, err := os.ReadFile(l.SpeakerLog(n.Name))
		if err != nil {
			parts = append(parts, fmt.Sprintf("%s: %v", n.Name, err))
			continue
		}
		idle, bfd := 0, 0
		first := ""
		for line := range strings.Lines(string(data)) {
			isIdle := strings.Contains(line, `"state":"BGP_FSM_IDLE"`)
			isBFD := strings.Contains(line, "BFD down")
			if isIdle {
				idle++
			}
			if isBFD {
				bfd++
			}
			if (isIdle || isBFD) && first == "" {
				first = strings.TrimSpace(line)
			}
		}
		parts = append(parts, fmt.Sprintf("%s: %d sessions back to Idle, %d BFD-down warnings, first: %s", n.Name, idle, bfd, first))
	}
	return strings.Join(parts, " | ")
}

// bgpSessionsNotUp says which of the router's sessions with addrs are not Established ("" if
// all are).
func bgpSessionsNotUp(ctx context.Context, l *lab.Lab, addrs []netip.Addr) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	peers, err := l.BGPNeighbors(ctx)
	if err != nil {
		return err.Error()
	}
	state := map[netip.Addr]string{}
	for _, p := range peers {
		state[p.Address] = p.State
	}
	var bad []string
	for _, a := range addrs {
		if state[a] != "Established" {
			bad = append(bad, fmt.Sprintf("%s %q", a, state[a]))
		}
	}
	return strings.Join(bad, ", ")
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

func bgpEnsureNamespace(t *testing.T, ctx context.Context, l *lab.Lab, ns string) {
	t.Helper()
	_, err := l.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
}

// ---- reading FRR ----

// bgpZebraRoutes reads the router's whole IPv4 zebra table and returns, for every selected
// BGP route inside 198.19.0.0/16, its active next hops.
func bgpZebraRoutes(ctx context.Context, l *lab.Lab) (map[netip.Prefix][]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := l.Vtysh(ctx, "show ip route json")
	if err != nil {
		return nil, err
	}
	var table map[string][]struct {
		Protocol string `json:"protocol"`
		Selected bool   `json:"selected"`
		Nexthops []struct {
			IP     string `json:"ip"`
			Active bool   `json:"active"`
		} `json:"nexthops"`
	}
	if err := json.Unmarshal([]byte(out), &table); err != nil {
		return nil, fmt.Errorf("parse show ip route json: %w", err)
	}
	large := netip.MustParsePrefix(lab.LargePoolCIDRv4)
	routes := map[netip.Prefix][]netip.Addr{}
	for key, rs := range table {
		p, err := netip.ParsePrefix(key)
		if err != nil || !large.Overlaps(p) {
			continue
		}
		for _, r := range rs {
			if r.Protocol != "bgp" || !r.Selected {
				continue
			}
			for _, nh := range r.Nexthops {
				if a, err := netip.ParseAddr(nh.IP); err == nil && nh.Active {
					routes[p] = append(routes[p], a)
				}
			}
		}
	}
	return routes, nil
}

// bgpRoutePoller reads FRR's zebra table in a loop and remembers when each prefix first
// had at least one and then `want` active next hops.
type bgpRoutePoller struct {
	want   int
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	first  map[netip.Prefix]time.Time
	all    map[netip.Prefix]time.Time
	polls  int
	began  time.Time
	last   time.Time
	errors int
	errMsg string
}

func bgpStartRoutePoller(l *lab.Lab, want int) *bgpRoutePoller {
	ctx, cancel := context.WithCancel(context.Background())
	p := &bgpRoutePoller{want: want, cancel: cancel, done: make(chan struct{}),
		first: map[netip.Prefix]time.Time{}, all: map[netip.Prefix]time.Time{}, began: time.Now()}
	go func() {
		defer close(p.done)
		for ctx.Err() == nil {
			routes, err := bgpZebraRoutes(ctx, l)
			now := time.Now()
			p.mu.Lock()
			if err != nil {
				if ctx.Err() == nil {
					p.errors++
					p.errMsg = err.Error()
				}
			} else {
				p.polls++
				p.last = now
				for pfx, hops := range routes {
					if _, ok := p.first[pfx]; !ok && len(hops) > 0 {
						p.first[pfx] = now
					}
					if _, ok := p.all[pfx]; !ok && len(hops) >= p.want {
						p.all[pfx] = now
					}
				}
			}
			p.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(bgpRoutePoll):
			}
		}
	}()
	return p
}

func (p *bgpRoutePoller) seen(pfx netip.Prefix) (first, all time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.first[pfx], p.all[pfx]
}

// stop ends the poller and returns the mean time between two reads.
func (p *bgpRoutePoller) stop() (cycle time.Duration, errors int, errMsg string) {
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.polls > 1 {
		cycle = p.last.Sub(p.began) / time.Duration(p.polls)
	}
	return cycle, p.errors, p.errMsg
}

// bgpKernelWatch follows the router kernel's route changes (`ip -n ROUTER monitor route`)
// and remembers when each /32 of the benchmark range first appeared.
type bgpKernelWatch struct {
	cmd   *exec.Cmd
	done  chan struct{}
	mu    sync.Mutex
	first map[netip.Prefix]time.Time
	lines int
}

func bgpWatchKernel(t *testing.T, l *lab.Lab) *bgpKernelWatch {
	t.Helper()
	w := &bgpKernelWatch{cmd: exec.Command("ip", "-n", l.Router.Netns, "monitor", "route"), done: make(chan struct{}), first: map[netip.Prefix]time.Time{}}
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	large := netip.MustParsePrefix(lab.LargePoolCIDRv4)
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			now := time.Now()
			line := sc.Text()
			f := strings.Fields(line)
			if len(f) == 0 || f[0] == "Deleted" || strings.HasPrefix(line, "\t") {
				continue
			}
			pfx, err := netip.ParsePrefix(f[0])
			if err != nil {
				a, err := netip.ParseAddr(f[0])
				if err != nil {
					continue
				}
				pfx = netip.PrefixFrom(a, a.BitLen())
			}
			if !large.Overlaps(pfx) {
				continue
			}
			w.mu.Lock()
			w.lines++
			if _, ok := w.first[pfx]; !ok {
				w.first[pfx] = now
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(w.stop)
	return w
}

func (w *bgpKernelWatch) seen(pfx netip.Prefix) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.first[pfx]
}

func (w *bgpKernelWatch) stop() {
	if w.cmd.Process != nil && w.cmd.ProcessState == nil {
		_ = w.cmd.Process.Kill()
		<-w.done
		_ = w.cmd.Wait()
	}
}

// bgpSummaryPeers reads `show bgp summary json`: per neighbor address and address family
// ("ipv4Unicast", "ipv6Unicast"), its state and received prefixes.
type bgpPeerCount struct {
	State  string
	PfxRcd int
}

func bgpSummaryPeers(ctx context.Context, l *lab.Lab) (map[string]map[netip.Addr]bgpPeerCount, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := l.Vtysh(ctx, "show bgp summary json")
	if err != nil {
		return nil, err
	}
	var raw map[string]struct {
		Peers map[string]struct {
			State  string `json:"state"`
			PfxRcd int    `json:"pfxRcd"`
		} `json:"peers"`
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		return nil, fmt.Errorf("parse show bgp summary json: %w", err)
	}
	res := map[string]map[netip.Addr]bgpPeerCount{}
	for af, s := range raw {
		res[af] = map[netip.Addr]bgpPeerCount{}
		for addr, p := range s.Peers {
			if a, err := netip.ParseAddr(addr); err == nil {
				res[af][a] = bgpPeerCount{State: p.State, PfxRcd: p.PfxRcd}
			}
		}
	}
	return res, nil
}

// ---- 1. convergence ----

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
	bgpEnsureNamespace(t, ctx, l, bgpNamespace)
	conv := &BGPConvergence{Services: n}
	w := bgpWatchIngress(t, l, bgpNamespace)
	poller := bgpStartRoutePoller(l, len(l.Nodes))
	kernel := bgpWatchKernel(t, l)
	l2Logf("convergence: %d Services, one at a time", n)
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
					s.AllocMs = l2Ms(alloc.Sub(created))
				}
			}
			if !alloc.IsZero() {
				a := netip.MustParseAddr(s.Address)
				first, all := poller.seen(netip.PrefixFrom(a, 32))
				if !first.IsZero() && s.FirstHopMs < 0 {
					s.FirstHopMs = l2Ms(first.Sub(alloc))
				}
				if k := kernel.seen(netip.PrefixFrom(a, 32)); !k.IsZero() && s.KernelMs < 0 {
					s.KernelMs = l2Ms(k.Sub(alloc))
				}
				// The kernel watch normally fires first; it gets a second more, so a broken
				// watch does not stall the run.
				if !all.IsZero() && (s.KernelMs >= 0 || time.Since(all) > time.Second) {
					s.AllHopsMs = l2Ms(all.Sub(alloc))
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		if s.AllHopsMs < 0 {
			conv.Missing++
			msg := fmt.Sprintf("convergence: %s (%s) had no route with %d next hops 30 s after its allocation (first hop %v ms)", name, s.Address, len(l.Nodes), s.FirstHopMs)
			l2Logf("%s", msg)
			res.Problems = append(res.Problems, msg)
		} else {
			allocs, firsts, alls = append(allocs, s.AllocMs), append(firsts, s.FirstHopMs), append(alls, s.AllHopsMs)
			if s.KernelMs >= 0 {
				kernels = append(kernels, s.KernelMs)
			}
		}
		if (i+1)%20 == 0 {
			l2Logf("convergence: %d/%d, last %s: alloc %.1f ms, kernel %.1f ms, FRR first hop %.1f ms, all hops %.1f ms", i+1, n, s.Address, s.AllocMs, s.KernelMs, s.FirstHopMs, s.AllHopsMs)
		}
		conv.Samples = append(conv.Samples, s)
		time.Sleep(50 * time.Millisecond)
	}
	cycle, errs, errMsg := poller.stop()
	kernel.stop()
	w.stop()
	if errs > 0 {
		l2Logf("convergence: %d FRR reads failed, last: %s", errs, errMsg)
	}
	conv.PollCycleMs = l2Ms(cycle)
	conv.AllocP50Ms, conv.AllocP99Ms, _ = l2Percentiles(allocs)
	conv.FirstHopP50Ms, conv.FirstHopP99Ms, conv.FirstHopMaxMs = l2Percentiles(firsts)
	conv.AllHopsP50Ms, conv.AllHopsP99Ms, conv.AllHopsMaxMs = l2Percentiles(alls)
	conv.KernelP50Ms, conv.KernelP99Ms, conv.KernelMaxMs = l2Percentiles(kernels)
	if len(kernels) < len(alls) {
		msg := fmt.Sprintf("convergence: the router's kernel route was seen for %d of %d Services (ip monitor)", len(kernels), len(alls))
		res.Problems = append(res.Problems, msg)
		l2Logf("%s", msg)
	}
	l2Logf("convergence: allocation -> router kernel p50 %.1f ms p99 %.1f ms; -> FRR first next hop p50 %.1f ms p99 %.1f ms; -> all %d p50 %.1f ms p99 %.1f ms (FRR read every %.1f ms)",
		conv.KernelP50Ms, conv.KernelP99Ms, conv.FirstHopP50Ms, conv.FirstHopP99Ms, len(l.Nodes), conv.AllHopsP50Ms, conv.AllHopsP99Ms, conv.PollCycleMs)

	// The Services go again, so the later phases count only their own prefixes.
	dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	parallel(t, len(names), 8, func(i int) error { return l.DeleteService(dctx, bgpNamespace, names[i]) })
	l2Until(t, time.Minute, "FRR to withdraw the convergence routes", func() (bool, string) {
		routes, err := bgpZebraRoutes(dctx, l)
		if err != nil {
			return false, err.Error()
		}
		return len(routes) == 0, fmt.Sprintf("%d routes left", len(routes))
	})
	return conv
}

// ---- 3. node loss ----

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
		tr.OutageMs = l2Ms(lastFail.Sub(fault))
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
	tr.LongestGapMs = l2Ms(longest)
	return deadAnswers
}

// bgpActiveHops returns the active next hops of FRR's selected route for a prefix.
func bgpActiveHops(ctx context.Context, l *lab.Lab, pfx netip.Prefix) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	hops, err := l.RouterRoutes(ctx, pfx)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, h := range hops {
		if h.Active && h.Protocol == "bgp" {
			out = append(out, h.Via)
		}
	}
	return out, nil
}

// bgpWaitWhole waits until FRR forwards pfx to every node, every session is Established and
// BFD is up for the given addresses, continuously for bgpWholeStable.
func bgpWaitWhole(ctx context.Context, l *lab.Lab, pfx netip.Prefix, bfd []netip.Addr) error {
	deadline := time.Now().Add(bgpWholeLimit)
	var okSince time.Time
	last := ""
	for time.Now().Before(deadline) {
		why := ""
		hops, err := bgpActiveHops(ctx, l, pfx)
		switch {
		case err != nil:
			why = err.Error()
		case len(hops) != len(l.Nodes):
			why = fmt.Sprintf("next hops %v", hops)
		}
		if why == "" {
			why = bgpSessionsNotUp(ctx, l, bgpNodeAddrs(l))
		}
		if why == "" {
			peers, err := l.RouterBFDPeers(ctx)
			if err != nil {
				why = err.Error()
			}
			up := map[netip.Addr]bool{}
			for _, p := range peers {
				up[p.Address] = p.Status == "up"
			}
			for _, a := range bfd {
				if !up[a] {
					why += fmt.Sprintf("BFD with %s not up; ", a)
				}
			}
		}
		if why != "" {
			okSince, last = time.Time{}, why
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if okSince.IsZero() {
			okSince = time.Now()
		}
		if time.Since(okSince) >= bgpWholeStable {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not whole after %s: %s", bgpWholeLimit, last)
}

func bgpNodeLoss(t *testing.T, ctx context.Context, l *lab.Lab, pods []*lab.Pod, trials int, bfd []netip.Addr, res *BGPResults) *BGPNodeLoss {
	t.Helper()
	target := netip.MustParseAddr(bgpTargetIP)
	pfx := netip.PrefixFrom(target, 32)
	nl := &BGPNodeLoss{Address: target.String(), ProbeEveryMs: l2Ms(bgpProbeEvery), ProbeTimeoutMs: l2Ms(bgpProbeTimeout)}
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
	l2Logf("node loss: fault-free spread over the next hops of %s: %v, %d failed", target, nl.Spread, failed)
	if len(nl.Spread) < len(l.Nodes) {
		msg := fmt.Sprintf("node loss: the probes did not spread over the %d next hops (%v): the figures only show the nodes they reached", len(l.Nodes), nl.Spread)
		res.Problems = append(res.Problems, msg)
		l2Logf("%s", msg)
	}

	var outages, gones, gaps []float64
	for i := range trials {
		victim := l.Nodes[i%len(l.Nodes)]
		tr := bgpLossTrial(t, ctx, l, pfx, victim, bfd, nodeOf)
		l2Logf("  node loss %2d/%d: %s: outage %6.1f ms, route gone %6.1f ms (read window %.0f ms), longest gap %5.1f ms, %d/%d probes failed (%d before the fault), answered after %v, cut took %.0f ms, restored in %.1fs %s",
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
	nl.OutageP50Ms, nl.OutageP99Ms, nl.OutageMaxMs = l2Percentiles(outages)
	nl.RouteGoneP50Ms, nl.RouteGoneP99Ms, nl.RouteGoneMaxMs = l2Percentiles(gones)
	nl.GapP50Ms, nl.GapP99Ms, nl.GapMaxMs = l2Percentiles(gaps)

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
	tr.CutMs = l2Ms(cut.Sub(fault))
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
		tr.RouteGoneMs = l2Ms(gone.Sub(fault))
		tr.RouteGoneResolutionMs = l2Ms(gone.Sub(prevStart))
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
	tr.RestoreSeconds = l2Secs(time.Since(restore))
	tr.Note = strings.TrimSuffix(tr.Note, "; ")
	return tr
}

// ---- 2 and 4. scale and footprint ----

func bgpScale(t *testing.T, ctx context.Context, l *lab.Lab, pods []*lab.Pod, n int, idle time.Duration, res *BGPResults) *BGPScale {
	t.Helper()
	sc := &BGPScale{Services: n, PrefixesPerSession: n, IdleSeconds: idle.Seconds()}
	base := map[string]float64{}
	for _, node := range l.Nodes {
		pid, err := l2SpeakerPID(l, node.Name)
		if err != nil {
			t.Fatal(err)
		}
		base[node.Name] = statusMiB(t, pid, "VmRSS:")
	}
	l2Logf("scale: speakers' RSS without Services (2 peers): %v MiB; stopping every speaker", base)
	for _, node := range l.Nodes {
		if err := l.StopSpeaker(node.Name); err != nil {
			t.Fatal(err)
		}
	}
	l2Until(t, time.Minute, "FRR to have no prefix from any node", func() (bool, string) {
		sum, err := bgpSummaryPeers(ctx, l)
		if err != nil {
			return false, err.Error()
		}
		total := 0
		for _, peers := range sum {
			for _, p := range peers {
				total += p.PfxRcd
			}
		}
		return total == 0, fmt.Sprintf("%d prefixes", total)
	})

	l2Logf("scale: creating %d dual-stack Services with endpoints", n)
	bgpEnsureNamespace(t, ctx, l, bgpScaleNS)
	cctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	start := time.Now()
	parallel(t, n, 16, func(i int) error {
		name := fmt.Sprintf("svc-%04d", i)
		pod := pods[i%len(pods)]
		for _, fam := range []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol} {
			if err := bgpCreateSlice(cctx, l, bgpScaleNS, name, fam, pod); err != nil {
				return err
			}
		}
		_, err := l.Kube.CoreV1().Services(bgpScaleNS).Create(cctx, bgpService(bgpScaleNS, name, true), metav1.CreateOptions{})
		return err
	})
	sc.CreateSeconds = l2Secs(time.Since(start))
	l2Until(t, 10*time.Minute, "every Service has an IPv4 and an IPv6 address", func() (bool, string) {
		list, err := l.Kube.CoreV1().Services(bgpScaleNS).List(cctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		ok := 0
		for _, s := range list.Items {
			if len(s.Status.LoadBalancer.Ingress) == 2 {
				ok++
			}
		}
		return ok == n, fmt.Sprintf("%d of %d", ok, n)
	})
	sc.AssignedSeconds = l2Secs(time.Since(start))

	// kube-proxy programs the Services meanwhile; the speaker start is timed once it is done,
	// so the figure is the speaker's and not a CPU fight (the machine is small).
	settle := time.Now()
	proxies := map[string]int{}
	for role, pid := range l2LabProcesses(l) {
		if strings.HasPrefix(role, "kube-proxy") {
			proxies[role] = pid
		}
	}
	for time.Since(settle) < 3*time.Minute {
		before := l2CPUSample(proxies)
		time.Sleep(3 * time.Second)
		after := l2CPUSample(proxies)
		busy := 0.0
		for role := range proxies {
			busy += after[role] - before[role]
		}
		if busy < 0.3 {
			break
		}
	}
	sc.KubeProxyIdleSecs = l2Secs(time.Since(settle))
	l2Logf("scale: %d Services created in %.1fs, assigned after %.1fs; kube-proxy idle after %.1fs more", n, sc.CreateSeconds, sc.AssignedSeconds, sc.KubeProxyIdleSecs)

	dropsBefore := bgpDropCounts(ctx, l)
	first := l.Nodes[0]
	sc.First = bgpTimeStart(t, ctx, l, n, []*lab.Node{first})[0]
	l2Logf("scale: %s alone: Established %.2fs, first prefix %.2fs, all %d IPv4 %.2fs, all IPv6 %.2fs (cpu %.1fs)",
		first.Name, sc.First.EstablishedSeconds, sc.First.FirstPrefixSeconds, n, sc.First.AllV4Seconds, sc.First.AllV6Seconds, sc.First.CPUSeconds)
	if len(l.Nodes) > 1 {
		sc.Others = bgpTimeStart(t, ctx, l, n, l.Nodes[1:])
		for _, s := range sc.Others {
			l2Logf("scale: %s (started with the others): Established %.2fs, all IPv4 %.2fs, all IPv6 %.2fs (cpu %.1fs)",
				s.Node, s.EstablishedSeconds, s.AllV4Seconds, s.AllV6Seconds, s.CPUSeconds)
		}
	}

	pids := map[string]int{}
	for _, node := range l.Nodes {
		pid, err := l2SpeakerPID(l, node.Name)
		if err != nil {
			t.Fatal(err)
		}
		pids[node.Name] = pid
	}
	// Settle: until every speaker used under 0.2 s of CPU in 5 s (the start's informer syncs
	// and status writes are over), at most 2 minutes.
	settle = time.Now()
	for time.Since(settle) < 2*time.Minute {
		before := l2CPUSample(pids)
		time.Sleep(5 * time.Second)
		after := l2CPUSample(pids)
		busy := false
		for name := range pids {
			if after[name]-before[name] > 0.2 {
				busy = true
			}
		}
		if !busy {
			break
		}
	}
	sc.SettleSeconds = l2Secs(time.Since(settle))
	cpu := l2IdleCPU(t, pids, idle)
	var sum float64
	for _, node := range l.Nodes {
		s := BGPSpeakerSize{
			Node: node.Name, PID: pids[node.Name], BaselineRSSMiB: base[node.Name],
			RSSMiB: statusMiB(t, pids[node.Name], "VmRSS:"), HWMMiB: statusMiB(t, pids[node.Name], "VmHWM:"),
			IdleCPUPerMinute: cpu[node.Name],
		}
		if m, err := l2SpeakerMetrics(ctx, l, node); err == nil {
			s.HeapInuseMiB = math.Round(m["go_memstats_heap_inuse_bytes"]/(1<<20)*10) / 10
			s.Goroutines = m["go_goroutines"]
		} else {
			l2Logf("scale: %s metrics: %v", node.Name, err)
		}
		sc.Speakers = append(sc.Speakers, s)
		sc.MaxRSSMiB = max(sc.MaxRSSMiB, s.RSSMiB)
		sc.MaxHWMMiB = max(sc.MaxHWMMiB, s.HWMMiB)
		sum += s.IdleCPUPerMinute
	}
	sc.MeanIdleCPU = math.Round(sum/float64(len(sc.Speakers))*100) / 100
	// No session flapped since the speakers started, and the router still has everything?
	for a, d := range bgpDropCounts(ctx, l) {
		if was := dropsBefore[a]; d.dropped > was.dropped {
			msg := fmt.Sprintf("scale: the session with %s (%s) went down %d times after its speaker started with %d Services (FRR's last reset: %s; speaker logs: %s)",
				a, l.NodeByAddr(a).Name, d.dropped-was.dropped, n, d.reason, bgpLogEvidence(l))
			res.Problems = append(res.Problems, msg)
			l2Logf("%s", msg)
		}
	}
	if sum, err := bgpSummaryPeers(ctx, l); err == nil {
		for _, node := range l.Nodes {
			if v4, v6 := sum["ipv4Unicast"][node.IPv4].PfxRcd, sum["ipv6Unicast"][node.IPv6].PfxRcd; v4 != n || v6 != n {
				msg := fmt.Sprintf("scale: after the idle window FRR has %d IPv4 and %d IPv6 prefixes from %s, want %d each", v4, v6, node.Name, n)
				res.Problems = append(res.Problems, msg)
				l2Logf("%s", msg)
			}
		}
	}
	return sc
}

// bgpTimeStart starts the speakers of nodes together and times each until FRR has n IPv4
// prefixes on its IPv4 session and n IPv6 prefixes on its IPv6 session.
func bgpTimeStart(t *testing.T, ctx context.Context, l *lab.Lab, n int, nodes []*lab.Node) []BGPStart {
	t.Helper()
	out := make([]BGPStart, len(nodes))
	for i, node := range nodes {
		out[i] = BGPStart{Node: node.Name, EstablishedSeconds: -1, FirstPrefixSeconds: -1, AllV4Seconds: -1, AllV6Seconds: -1, AllSeconds: -1}
	}
	pctx, stopPoll := context.WithCancel(ctx)
	polled := make(chan struct{})
	start := time.Now()
	var mu sync.Mutex
	go func() {
		defer close(polled)
		for pctx.Err() == nil {
			sum, err := bgpSummaryPeers(pctx, l)
			now := time.Since(start).Seconds()
			if err == nil {
				mu.Lock()
				for i, node := range nodes {
					s := &out[i]
					v4, v6 := sum["ipv4Unicast"][node.IPv4], sum["ipv6Unicast"][node.IPv6]
					if s.EstablishedSeconds < 0 && v4.State == "Established" && v6.State == "Established" {
						s.EstablishedSeconds = now
					}
					if s.FirstPrefixSeconds < 0 && v4.PfxRcd+v6.PfxRcd > 0 {
						s.FirstPrefixSeconds = now
					}
					if s.AllV4Seconds < 0 && v4.PfxRcd >= n {
						s.AllV4Seconds = now
					}
					if s.AllV6Seconds < 0 && v6.PfxRcd >= n {
						s.AllV6Seconds = now
					}
					if s.AllSeconds < 0 && s.AllV4Seconds >= 0 && s.AllV6Seconds >= 0 {
						s.AllSeconds = now
					}
				}
				mu.Unlock()
			}
			select {
			case <-pctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, node := range nodes {
		wg.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			errs[i] = l.StartSpeaker(sctx, node.Name, bgpSpeakerArgs...)
			mu.Lock()
			out[i].HealthySeconds = time.Since(start).Seconds()
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			stopPoll()
			t.Fatal(err)
		}
	}
	pids := map[string]int{}
	for _, node := range nodes {
		pid, err := l2SpeakerPID(l, node.Name)
		if err != nil {
			stopPoll()
			t.Fatal(err)
		}
		pids[node.Name] = pid
	}
	cpuAt := map[string]float64{}
	deadline := start.Add(10 * time.Minute)
	for {
		mu.Lock()
		done := 0
		for i, s := range out {
			if s.AllSeconds >= 0 {
				done++
				if _, ok := cpuAt[s.Node]; !ok {
					cpuAt[s.Node] = l2CPUSample(map[string]int{s.Node: pids[nodes[i].Name]})[s.Node]
				}
			}
		}
		mu.Unlock()
		if done == len(nodes) {
			break
		}
		if time.Now().After(deadline) {
			stopPoll()
			<-polled
			t.Fatalf("scale: FRR does not have all %d prefixes from %v after %s: %+v", n, bgpNames(nodes), time.Since(start).Round(time.Second), out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopPoll()
	<-polled
	for i := range out {
		out[i].CPUSeconds = math.Round(cpuAt[out[i].Node]*100) / 100
		for _, v := range []*float64{&out[i].HealthySeconds, &out[i].EstablishedSeconds, &out[i].FirstPrefixSeconds, &out[i].AllV4Seconds, &out[i].AllV6Seconds, &out[i].AllSeconds} {
			*v = math.Round(*v*100) / 100
		}
	}
	return out
}

func bgpNames(nodes []*lab.Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Name)
	}
	return out
}

// ---- output ----

func bgpSummary(r *BGPResults) string {
	var parts []string
	if c := r.Convergence; c != nil {
		parts = append(parts, fmt.Sprintf("alloc->route in FRR p50 %.0fms p99 %.0fms (all %d hops %.0f/%.0fms; router kernel %.0f/%.0fms)",
			c.FirstHopP50Ms, c.FirstHopP99Ms, r.Nodes, c.AllHopsP50Ms, c.AllHopsP99Ms, c.KernelP50Ms, c.KernelP99Ms))
	}
	if nl := r.NodeLoss; nl != nil {
		parts = append(parts, fmt.Sprintf("node loss (BFD %dx%d) outage p50 %.0fms p99 %.0fms, route gone p50/p99 %.0f/%.0fms",
			bgpBFDInterval, bgpBFDMult, nl.OutageP50Ms, nl.OutageP99Ms, nl.RouteGoneP50Ms, nl.RouteGoneP99Ms))
	}
	if sc := r.Scale; sc != nil {
		others := 0.0
		for _, s := range sc.Others {
			others = max(others, s.AllSeconds)
		}
		parts = append(parts, fmt.Sprintf("%d svcs advertised in %.1fs after a speaker start (%.1fs for 2 together); speaker rss %.0fMiB, idle cpu %.2fs/min",
			sc.Services, sc.First.AllSeconds, others, sc.MaxRSSMiB, sc.MeanIdleCPU))
	}
	s := "bgp: " + strings.Join(parts, "; ")
	if len(r.Problems) > 0 {
		s += fmt.Sprintf("; %d problems (see bgp-bench.json)", len(r.Problems))
	}
	return s
}

func bgpPrintTable(r *BGPResults) {
	fmt.Println()
	fmt.Printf("BGP setup: every session Established %.1fs after the speakers' first start\n", r.Setup.EstablishedSeconds)
	if c := r.Convergence; c != nil {
		fmt.Printf("BGP convergence: IP allocated -> route in FRR's zebra table, %d Services one at a time (FRR read every %.1f ms)\n", c.Services, c.PollCycleMs)
		w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		_, _ = fmt.Fprintln(w, "figure\tp50 ms\tp99 ms\tmax ms\t")
		_, _ = fmt.Fprintf(w, "create -> IP (controller)\t%.1f\t%.1f\t-\t\n", c.AllocP50Ms, c.AllocP99Ms)
		_, _ = fmt.Fprintf(w, "IP -> route in the router's kernel (ip monitor)\t%.1f\t%.1f\t%.1f\t\n", c.KernelP50Ms, c.KernelP99Ms, c.KernelMaxMs)
		_, _ = fmt.Fprintf(w, "IP -> FRR zebra: first next hop\t%.1f\t%.1f\t%.1f\t\n", c.FirstHopP50Ms, c.FirstHopP99Ms, c.FirstHopMaxMs)
		_, _ = fmt.Fprintf(w, "IP -> FRR zebra: all %d next hops\t%.1f\t%.1f\t%.1f\t\n", r.Nodes, c.AllHopsP50Ms, c.AllHopsP99Ms, c.AllHopsMaxMs)
		_ = w.Flush()
		if c.Missing > 0 {
			fmt.Printf("  %d Services never got a route with every next hop\n", c.Missing)
		}
	}
	if nl := r.NodeLoss; nl != nil {
		fmt.Println()
		fmt.Printf("BGP node loss (link cut + speaker SIGKILL, BFD %d ms x%d), %d trials; probes: a new TCP connection every %.0f ms, %.0f ms timeout, ECMP over L4\n",
			bgpBFDInterval, bgpBFDMult, len(nl.Trials), nl.ProbeEveryMs, nl.ProbeTimeoutMs)
		fmt.Printf("  fault-free spread over the next hops: %v\n", nl.Spread)
		w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		_, _ = fmt.Fprintln(w, "figure\tp50 ms\tp99 ms\tmax ms\t")
		_, _ = fmt.Fprintf(w, "outage of flows hashed to the dead node\t%.0f\t%.0f\t%.0f\t\n", nl.OutageP50Ms, nl.OutageP99Ms, nl.OutageMaxMs)
		_, _ = fmt.Fprintf(w, "FRR drops the next hop\t%.0f\t%.0f\t%.0f\t\n", nl.RouteGoneP50Ms, nl.RouteGoneP99Ms, nl.RouteGoneMaxMs)
		_, _ = fmt.Fprintf(w, "longest gap between successes\t%.0f\t%.0f\t%.0f\t\n", nl.GapP50Ms, nl.GapP99Ms, nl.GapMaxMs)
		_ = w.Flush()
		fmt.Printf("Goal (reported, not asserted): node-loss outage p99 < %.0f ms: %v\n", r.Goals.NodeLossP99Ms, r.Goals.NodeLossMet)
	}
	if sc := r.Scale; sc != nil {
		fmt.Println()
		fmt.Printf("BGP scale: %d dual-stack Services (%d IPv4 + %d IPv6 prefixes per node), created in %.1fs, assigned after %.1fs\n",
			sc.Services, sc.PrefixesPerSession, sc.PrefixesPerSession, sc.CreateSeconds, sc.AssignedSeconds)
		w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		_, _ = fmt.Fprintln(w, "speaker start\thealthy s\tEstablished s\tfirst prefix s\tall IPv4 s\tall IPv6 s\tall s\tcpu s\t")
		for i, s := range append([]BGPStart{sc.First}, sc.Others...) {
			how := "alone"
			if i > 0 {
				how = "with the other"
			}
			_, _ = fmt.Fprintf(w, "%s (%s)\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t\n", s.Node, how,
				s.HealthySeconds, s.EstablishedSeconds, s.FirstPrefixSeconds, s.AllV4Seconds, s.AllV6Seconds, s.AllSeconds, s.CPUSeconds)
		}
		_ = w.Flush()
		fmt.Printf("Speaker footprint with %d Services and 2 peers (settled after %.0fs; idle window %.0fs)\n", sc.Services, sc.SettleSeconds, sc.IdleSeconds)
		w = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		_, _ = fmt.Fprintln(w, "node\tRSS MiB (0 svcs)\tRSS MiB\tpeak RSS MiB\tGo heap MiB\tgoroutines\tidle CPU s/min\t")
		for _, s := range sc.Speakers {
			_, _ = fmt.Fprintf(w, "%s\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t%.2f\t\n", s.Node, s.BaselineRSSMiB, s.RSSMiB, s.HWMMiB, s.HeapInuseMiB, s.Goroutines, s.IdleCPUPerMinute)
		}
		_ = w.Flush()
	}
	for _, p := range r.Problems {
		fmt.Println("PROBLEM:", p)
	}
	fmt.Printf("load average (1m) before/after: %.2f / %.2f; run took %s\n", r.LoadAverage[0], r.LoadAverage[1], r.Duration.Round(time.Second))
}
