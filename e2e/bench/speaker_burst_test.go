package bench

// The speaker burst benchmark (issue #16): what a burst of LoadBalancer Services costs each
// speaker when both modes serve them, in the lab (e2e/lab): three nodes, real speakers
// (memberlist, ARP/NDP, embedded GoBGP peering with FRR), one pool that an L2Advertisement
// and a BGPAdvertisement both select, and one ready endpoint per Service so BGP advertises
// every address too.
//
// Run it with `IRONLB_BENCH=1 go test -count=1 -v -timeout 40m -run TestSpeakerBurstBench ./e2e/bench/`.
// Optional: IRONLB_BENCH_BURST_SERVICES (default 3000), IRONLB_BENCH_IDLE_SECONDS (idle
// window after the burst, default 60), IRONLB_BENCH_SPEAKER_ARGS (extra speaker flags),
// IRONLB_BENCH_BURST_RESULT (the file name in e2e/results/, default speaker-burst.json),
// IRONLB_BENCH_PPROF (a folder: node-1's speaker is started with --pprof-bind-address and
// CPU profiles of it over the burst and over the idle window are written there), IRONLB_BENCH_LOCK_WAIT_MINUTES
// (default 30) and IRONLB_BENCH_LOGS (a folder the lab's logs are copied to).

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
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
	"github.com/ironlb/ironlb/internal/testenv"
)

const (
	burstNS        = "burst"
	burstPool      = "198.19.0.0/20" // 4064 usable, inside lab.LargePoolCIDRv4
	burstPprofPort = 7476
)

// BurstResults is what e2e/results/speaker-burst.json holds.
type BurstResults struct {
	Date        string   `json:"date"`
	Commit      string   `json:"commit"`
	CPUs        int      `json:"cpus"`
	GoVersion   string   `json:"go_version"`
	Nodes       int      `json:"nodes"`
	Services    int      `json:"services"`
	SpeakerArgs []string `json:"speaker_args,omitempty"`
	// CreateSeconds: creating the Services and their EndpointSlices; then, from the first
	// create, until every Service had an address, until every Service carried
	// L2Announced=True, until the speakers together owned every address, and until the
	// router had every prefix from every node.
	CreateSeconds     float64        `json:"create_seconds"`
	AssignedSeconds   float64        `json:"assigned_seconds"`
	ConditionsSeconds float64        `json:"conditions_seconds"`
	OwnedSeconds      float64        `json:"owned_seconds"`
	RoutesSeconds     float64        `json:"routes_seconds"`
	BurstSeconds      float64        `json:"burst_seconds"`
	SettleSeconds     float64        `json:"settle_seconds"`
	IdleSeconds       float64        `json:"idle_window_seconds"`
	Speakers          []BurstSpeaker `json:"speakers"`
	// OtherBurstCPU is the CPU seconds of the other lab processes over the burst.
	OtherBurstCPU map[string]float64 `json:"other_burst_cpu_seconds"`
	MaxBurstCPU   float64            `json:"max_speaker_burst_cpu_seconds"`
	MaxPeakRSSMiB float64            `json:"max_speaker_peak_rss_mib"`
	MaxIdleCPU    float64            `json:"max_speaker_idle_cpu_seconds_per_minute"`
	Goals         BurstGoals         `json:"goals"`
	Method        string             `json:"method"`
	Summary       string             `json:"summary"`
}

// BurstSpeaker is one speaker's cost.
type BurstSpeaker struct {
	Node string `json:"node"`
	// BurstCPU is utime+stime from the first create until the router had every route.
	BurstCPU   float64 `json:"burst_cpu_seconds"`
	PeakRSSMiB float64 `json:"peak_rss_mib"` // VmHWM: the most it ever held
	RSSMiB     float64 `json:"rss_mib"`      // VmRSS after the idle window
	IdleCPU    float64 `json:"idle_cpu_seconds_per_minute"`
	OwnedIPs   float64 `json:"owned_ips"`
	// BurstWrites and IdleWrites are the speaker's API requests other than reads, by
	// method (client-go's rest_client_requests_total): PATCH are status writes (Service
	// conditions, BGPPeer status), POST mostly events.
	BurstWrites map[string]float64 `json:"burst_api_writes"`
	IdleWrites  map[string]float64 `json:"idle_api_writes"`
	// IdleGratuitous counts gratuitous ARPs / unsolicited NAs sent in the idle window (the
	// --refresh-interval re-announcements; nothing else should send any).
	IdleGratuitous float64 `json:"idle_gratuitous_packets"`
}

// BurstGoals are the targets; the benchmark reports them and does not assert them.
type BurstGoals struct {
	BurstCPU    float64 `json:"burst_cpu_under_seconds"`
	RSSMiB      float64 `json:"rss_under_mib"`
	IdleCPU     float64 `json:"idle_cpu_under_seconds_per_minute"`
	BurstCPUMet bool    `json:"burst_cpu_met"`
	RSSMet      bool    `json:"rss_met"`
	IdleCPUMet  bool    `json:"idle_cpu_met"`
	IdleNoWrite bool    `json:"no_idle_api_write"`
}

const burstMethod = `One IPAddressPool (198.19.0.0/20) selected by one L2Advertisement and one BGPAdvertisement; ` +
	`each node's speaker runs both modes and peers with FRR over IPv4 (no BFD). Each Service is IPv4, ` +
	`externalTrafficPolicy Cluster, without NodePorts, with an EndpointSlice naming one ready pod ` +
	`(the pods of the three nodes in turn), created by 16 parallel clients; slice first, then Service. ` +
	`CPU is utime+stime from /proc/PID/stat, from just before the first create until every Service had ` +
	`its address and L2Announced=True, the speakers owned every address and FRR had every prefix from ` +
	`every node. API writes are the speaker's own client-go request counters (every method but GET). ` +
	`Idle is measured after the speakers' CPU over 10 s fell under 0.2 s (at most 3 minutes).`

func TestSpeakerBurstBench(t *testing.T) {
	if os.Getenv("IRONLB_BENCH") == "" {
		t.Skip("benchmark: run with make bench")
	}
	if os.Geteuid() != 0 {
		t.Skip("the speaker burst benchmark runs in the lab, which needs root")
	}
	n := envInt(t, "IRONLB_BENCH_BURST_SERVICES", 3000, 1)
	idle := time.Duration(envInt(t, "IRONLB_BENCH_IDLE_SECONDS", 60, 1)) * time.Second
	lockWait := time.Duration(envInt(t, "IRONLB_BENCH_LOCK_WAIT_MINUTES", 30, 0)) * time.Minute
	name := os.Getenv("IRONLB_BENCH_BURST_RESULT")
	if name == "" {
		name = "speaker-burst.json"
	}
	pprofDir := os.Getenv("IRONLB_BENCH_PPROF")
	speakerArgs := strings.Fields(os.Getenv("IRONLB_BENCH_SPEAKER_ARGS"))

	l := benchLab(t, lockWait, 0)
	ctx := context.Background()
	res := &BurstResults{
		Date: time.Now().UTC().Format(time.RFC3339), Commit: gitCommit(), CPUs: runtime.NumCPU(), GoVersion: runtime.Version(),
		Nodes: len(l.Nodes), Services: n, SpeakerArgs: speakerArgs, IdleSeconds: idle.Seconds(), Method: burstMethod,
		Goals: BurstGoals{BurstCPU: 5, RSSMiB: 80, IdleCPU: 0.5},
	}
	pods := burstSetup(t, ctx, l, speakerArgs, pprofDir != "")
	burstRun(t, ctx, l, pods, res, pprofDir)
	burstIdle(t, ctx, l, res, pprofDir)

	res.Summary = burstSummary(res)
	logf("wrote %s", testenv.WriteResult(t, name, res))
	summary = strings.TrimSpace(summary + "\n" + res.Summary)
	fmt.Println(res.Summary)
}

// burstSetup creates the pool, both advertisements and the router's BGPPeer, starts the
// controller and the speakers, waits for every IPv4 session, and starts one pod per node.
func burstSetup(t *testing.T, ctx context.Context, l *lab.Lab, speakerArgs []string, pprof bool) []*lab.Pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	objs := []client.Object{
		&ironlbv1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "burst"}, Spec: ironlbv1.IPAddressPoolSpec{
			Addresses: []ironlbv1.AddressRange{burstPool}, AvoidBuggyIPs: true}},
		&ironlbv1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "burst"}},
		&ironlbv1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "burst"}},
		&ironlbv1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "router4"}, Spec: ironlbv1.BGPPeerSpec{
			MyASN: bgpMyASN, PeerASN: bgpPeerASN, PeerAddress: l.Router.IPv4.String(),
			ConnectTime: &metav1.Duration{Duration: 2 * time.Second}}},
	}
	for _, o := range objs {
		if err := l.Client.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	// Without leader election: under the burst the lab's API server can be slow enough for
	// the controller to miss a lease renewal and exit, which would end the benchmark.
	if err := l.StartController(ctx, "--leader-elect=false"); err != nil {
		t.Fatal(err)
	}
	for i, node := range l.Nodes {
		args := slices.Clone(speakerArgs)
		if pprof && i == 0 {
			args = append(args, "--pprof-bind-address="+net.JoinHostPort(node.IPv4.String(), strconv.Itoa(burstPprofPort)))
		}
		if err := l.StartSpeaker(ctx, node.Name, args...); err != nil {
			t.Fatal(err)
		}
	}
	var v4 []netip.Addr
	for _, node := range l.Nodes {
		v4 = append(v4, node.IPv4)
	}
	until(t, 2*time.Minute, "every node's IPv4 session Established", func() (bool, string) {
		bad := bgpSessionsNotUp(ctx, l, v4)
		return bad == "", bad
	})
	return bgpPods(t, ctx, l)
}

// burstRun creates the Services and waits until both modes serve every one of them,
// measuring each speaker's CPU and API writes meanwhile.
func burstRun(t *testing.T, ctx context.Context, l *lab.Lab, pods []*lab.Pod, res *BurstResults, pprofDir string) {
	t.Helper()
	n := res.Services
	procs := labProcesses(l)
	writesBefore := burstWrites(t, ctx, l)
	var profileDone chan error
	if pprofDir != "" {
		profileDone = burstProfile(l, pprofDir, "burst", time.Minute)
	}
	logf("burst: creating %d Services with their EndpointSlices", n)
	cpuBefore := cpuSample(procs)
	ensureNamespace(t, ctx, l.Kube.CoreV1(), burstNS)
	start := time.Now()
	parallel(t, n, 16, func(i int) error {
		svc := fmt.Sprintf("svc-%04d", i)
		if err := bgpCreateSlice(ctx, l, burstNS, svc, corev1.IPv4Protocol, pods[i%len(pods)]); err != nil {
			return err
		}
		_, err := l.Kube.CoreV1().Services(burstNS).Create(ctx, bgpService(burstNS, svc, false), metav1.CreateOptions{})
		return err
	})
	res.CreateSeconds = secs(time.Since(start))
	services := func() []corev1.Service {
		list, err := l.Kube.CoreV1().Services(burstNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Logf("listing Services: %v", err)
			return nil
		}
		return list.Items
	}
	until(t, 10*time.Minute, "every Service has an address", func() (bool, string) {
		got := 0
		for _, s := range services() {
			if len(s.Status.LoadBalancer.Ingress) > 0 {
				got++
			}
		}
		return got == n, fmt.Sprintf("%d of %d", got, n)
	})
	res.AssignedSeconds = secs(time.Since(start))
	until(t, 10*time.Minute, "every Service has L2Announced=True", func() (bool, string) {
		got := 0
		for _, s := range services() {
			if c := findCondition(s.Status.Conditions, ironlbv1.ConditionL2Announced); c != nil && c.Status == metav1.ConditionTrue {
				got++
			}
		}
		return got == n, fmt.Sprintf("%d of %d", got, n)
	})
	res.ConditionsSeconds = secs(time.Since(start))
	until(t, 10*time.Minute, "the speakers own every address", func() (bool, string) {
		total := 0.0
		for _, node := range l.Nodes {
			m, err := speakerMetrics(ctx, l, node)
			if err != nil {
				return false, err.Error()
			}
			total += m["ironlb_layer2_owned_ips"]
		}
		return int(total) == n, fmt.Sprintf("%v of %d", total, n)
	})
	res.OwnedSeconds = secs(time.Since(start))
	until(t, 10*time.Minute, "the router has every prefix from every node", func() (bool, string) {
		sum, err := bgpSummaryPeers(ctx, l)
		if err != nil {
			return false, err.Error()
		}
		var counts []string
		done := true
		for _, node := range l.Nodes {
			got := sum["ipv4Unicast"][node.IPv4].PfxRcd
			done = done && got == n
			counts = append(counts, fmt.Sprintf("%s %d", node.Name, got))
		}
		return done, strings.Join(counts, ", ")
	})
	res.RoutesSeconds = secs(time.Since(start))
	cpuAfter := cpuSample(procs)
	res.BurstSeconds = secs(time.Since(start))
	writesAfter := burstWrites(t, ctx, l)
	if profileDone != nil {
		if err := <-profileDone; err != nil {
			t.Logf("profile: %v", err)
		}
	}
	res.OtherBurstCPU = map[string]float64{}
	for role := range procs {
		d := math.Round((cpuAfter[role]-cpuBefore[role])*100) / 100
		if node, ok := strings.CutPrefix(role, "speaker "); ok {
			res.Speakers = append(res.Speakers, BurstSpeaker{Node: node, BurstCPU: d, BurstWrites: diffWrites(writesBefore[node], writesAfter[node])})
			res.MaxBurstCPU = max(res.MaxBurstCPU, d)
			continue
		}
		res.OtherBurstCPU[role] = d
	}
	slices.SortFunc(res.Speakers, func(a, b BurstSpeaker) int { return strings.Compare(a.Node, b.Node) })
	for _, s := range res.Speakers {
		logf("burst: speaker %s: %.2f CPU-s, writes %v", s.Node, s.BurstCPU, s.BurstWrites)
	}
}

// burstIdle waits until the speakers are quiet, then measures their idle CPU, writes and
// packets over the idle window, and their memory.
func burstIdle(t *testing.T, ctx context.Context, l *lab.Lab, res *BurstResults, pprofDir string) {
	t.Helper()
	pids := map[string]int{}
	for _, node := range l.Nodes {
		pid, err := speakerPID(l, node.Name)
		if err != nil {
			t.Fatal(err)
		}
		pids[node.Name] = pid
	}
	settle := time.Now()
	for time.Since(settle) < 3*time.Minute {
		before := cpuSample(pids)
		time.Sleep(10 * time.Second)
		after := cpuSample(pids)
		busy := false
		for name := range pids {
			busy = busy || after[name]-before[name] > 0.2
		}
		if !busy {
			break
		}
	}
	res.SettleSeconds = secs(time.Since(settle))
	logf("idle: settled after %.0fs; measuring %s", res.SettleSeconds, time.Duration(res.IdleSeconds)*time.Second)
	writesBefore := burstWrites(t, ctx, l)
	garpBefore := burstGratuitous(t, ctx, l)
	var profileDone chan error
	if pprofDir != "" {
		profileDone = burstProfile(l, pprofDir, "idle", time.Duration(res.IdleSeconds)*time.Second)
	}
	cpu := idleCPU(t, pids, time.Duration(res.IdleSeconds)*time.Second)
	if profileDone != nil {
		if err := <-profileDone; err != nil {
			t.Errorf("idle profile: %v", err)
		}
	}
	writesAfter := burstWrites(t, ctx, l)
	garpAfter := burstGratuitous(t, ctx, l)
	res.Goals.IdleNoWrite = true
	for i := range res.Speakers {
		s := &res.Speakers[i]
		pid := pids[s.Node]
		s.IdleCPU = cpu[s.Node]
		s.PeakRSSMiB = statusMiB(t, pid, "VmHWM:")
		s.RSSMiB = statusMiB(t, pid, "VmRSS:")
		s.IdleWrites = diffWrites(writesBefore[s.Node], writesAfter[s.Node])
		s.IdleGratuitous = garpAfter[s.Node] - garpBefore[s.Node]
		m, err := speakerMetrics(ctx, l, l.Node(s.Node))
		if err == nil {
			s.OwnedIPs = m["ironlb_layer2_owned_ips"]
		}
		res.MaxPeakRSSMiB = max(res.MaxPeakRSSMiB, s.PeakRSSMiB)
		res.MaxIdleCPU = max(res.MaxIdleCPU, s.IdleCPU)
		res.Goals.IdleNoWrite = res.Goals.IdleNoWrite && len(s.IdleWrites) == 0
		logf("idle: speaker %s: %.2f CPU-s/min, peak RSS %.1f MiB, RSS %.1f MiB, writes %v, gratuitous %v",
			s.Node, s.IdleCPU, s.PeakRSSMiB, s.RSSMiB, s.IdleWrites, s.IdleGratuitous)
	}
	res.Goals.BurstCPUMet = res.MaxBurstCPU < res.Goals.BurstCPU
	res.Goals.RSSMet = res.MaxPeakRSSMiB < res.Goals.RSSMiB
	res.Goals.IdleCPUMet = res.MaxIdleCPU < res.Goals.IdleCPU
}

// burstWrites reads every speaker's API requests other than GET, by method.
func burstWrites(t *testing.T, ctx context.Context, l *lab.Lab) map[string]map[string]float64 {
	t.Helper()
	out := map[string]map[string]float64{}
	for _, node := range l.Nodes {
		byMethod, err := speakerRequests(ctx, l, node)
		if err != nil {
			t.Fatalf("reading the speaker metrics of %s: %v", node.Name, err)
		}
		out[node.Name] = byMethod
	}
	return out
}

// speakerRequests sums a speaker's rest_client_requests_total by method, GET left out.
func speakerRequests(ctx context.Context, l *lab.Lab, n *lab.Node) (map[string]float64, error) {
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
		if !strings.HasPrefix(line, "rest_client_requests_total{") {
			continue
		}
		_, rest, _ := strings.Cut(line, `method="`)
		method, _, _ := strings.Cut(rest, `"`)
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil || method == "GET" || method == "" {
			continue
		}
		out[method] += v
	}
	return out, sc.Err()
}

func diffWrites(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for m, v := range after {
		if d := v - before[m]; d > 0 {
			out[m] = d
		}
	}
	return out
}

func burstGratuitous(t *testing.T, ctx context.Context, l *lab.Lab) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, node := range l.Nodes {
		m, err := speakerMetrics(ctx, l, node)
		if err != nil {
			t.Fatalf("reading the speaker metrics of %s: %v", node.Name, err)
		}
		out[node.Name] = m["ironlb_layer2_gratuitous_sent_total"]
	}
	return out
}

// burstProfile takes a CPU profile of node-1's speaker for the given time, from the L2
// client, into dir/speaker-PHASE-node-1.pprof.
func burstProfile(l *lab.Lab, dir, phase string, d time.Duration) chan error {
	done := make(chan error, 1)
	node := l.Nodes[0]
	path := filepath.Join(dir, "speaker-"+phase+"-"+node.Name+".pprof")
	url := "http://" + net.JoinHostPort(node.IPv4.String(), strconv.Itoa(burstPprofPort)) + "/debug/pprof/profile?seconds=" + strconv.Itoa(int(d.Seconds()))
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
		defer cancel()
		// nsenter, not `ip netns exec` (host.RunIn), which runs curl in a mount namespace
		// of its own.
		out, err := exec.CommandContext(ctx, "nsenter", "--net=/var/run/netns/"+l.L2Client.Netns,
			"curl", "-sS", "--fail", "--noproxy", "*", "-o", path, url).CombinedOutput()
		if err != nil {
			err = fmt.Errorf("%w: %s", err, out)
		} else {
			logf("profile of %s's speaker written to %s", node.Name, path)
		}
		done <- err
	}()
	return done
}

func findCondition(conds []metav1.Condition, typ string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

func gitCommit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func burstSummary(r *BurstResults) string {
	var cpu, writes []string
	for _, s := range r.Speakers {
		cpu = append(cpu, fmt.Sprintf("%.1f", s.BurstCPU))
		total := 0.0
		for _, v := range s.BurstWrites {
			total += v
		}
		writes = append(writes, fmt.Sprintf("%.0f", total))
	}
	return fmt.Sprintf("speaker burst (%s): %d Services on %d nodes (L2+BGP), all served in %.0fs: speaker CPU %s s (goal < %.0f: %v), "+
		"peak RSS %.0f MiB (goal < %.0f: %v), idle %.2f s/min (goal < %.1f: %v), API writes %s in the burst, none idle: %v",
		r.Commit, r.Services, r.Nodes, r.BurstSeconds, strings.Join(cpu, "/"), r.Goals.BurstCPU, r.Goals.BurstCPUMet,
		r.MaxPeakRSSMiB, r.Goals.RSSMiB, r.Goals.RSSMet, r.MaxIdleCPU, r.Goals.IdleCPU, r.Goals.IdleCPUMet,
		strings.Join(writes, "/"), r.Goals.IdleNoWrite)
}
