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
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2e/lab"
)

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
	err := untilSteady(bgpWholeLimit, bgpWholeStable, 100*time.Millisecond, func() string {
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
		return why
	})
	if err != nil {
		return fmt.Errorf("not whole after %s: %w", bgpWholeLimit, err)
	}
	return nil
}
