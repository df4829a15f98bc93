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
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2e/lab"
)

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
			tr.TakeoverMs = msTenths(time.Since(start))
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
	tr.MembersMs = l2MembersConverged(l, old.Name, start, deadline)
	tr.GapMs, tr.Gaps, tr.Failures, tr.Probes = msTenths(res.Longest), len(res.Gaps), res.Failures, res.Failures+res.Successes
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
	err := untilSteady(l2WholeLimit, l2WholeStable, 200*time.Millisecond, func() string {
		why := l2MembersMissing(ctx, l)
		if why == "" {
			macs, err := l2WhoHas(ctx, l, tg.addr)
			if err != nil || len(macs) != 1 || macs[0] != tg.owner.MAC {
				why = fmt.Sprintf("%s answered by %v (%v), want %s", tg.addr, macs, err, tg.owner.Name)
			}
		}
		return why
	})
	if err != nil {
		t.Fatalf("the cluster is not whole again after %s: %v", l2WholeLimit, err)
	}
}

// l2MembersMissing says which speaker does not count every node as a live member ("" when
// all do). The speakers are scraped all at once, so a 50-node lab is checked in about the
// time of one scrape.
func l2MembersMissing(ctx context.Context, l *lab.Lab) string {
	why := make([]string, len(l.Nodes))
	var wg sync.WaitGroup
	for i, n := range l.Nodes {
		wg.Go(func() {
			m, err := speakerMetrics(ctx, l, n)
			switch {
			case err != nil:
				why[i] = fmt.Sprintf("%s metrics: %v", n.Name, err)
			case m["ironlb_memberlist_members"] != float64(len(l.Nodes)):
				why[i] = fmt.Sprintf("%s sees %v members", n.Name, m["ironlb_memberlist_members"])
			}
		})
	}
	wg.Wait()
	for _, w := range why {
		if w != "" {
			return w
		}
	}
	return ""
}

// l2WaitMembers waits until every speaker counts every node as a member and returns how
// long after since that was.
func l2WaitMembers(t *testing.T, ctx context.Context, l *lab.Lab, since time.Time) time.Duration {
	t.Helper()
	deadline := time.Now().Add(l2WholeLimit)
	last := ""
	for time.Now().Before(deadline) {
		if last = l2MembersMissing(ctx, l); last == "" {
			return time.Since(since)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the speakers do not all count %d members after %s: %s", len(l.Nodes), l2WholeLimit, last)
	return 0
}

// l2MembersConverged reads the surviving speakers' logs for when each logged victim as
// failed or left after start, waiting until deadline for the last one, and returns the
// latest of those times after start in ms (-1 when some speaker never logged it). The
// logs, not the metrics, so that measuring does not load the machine during the failover.
func l2MembersConverged(l *lab.Lab, victim string, start, deadline time.Time) float64 {
	for {
		latest, all := time.Duration(0), true
		for _, n := range l.Nodes {
			if n.Name == victim {
				continue
			}
			at, ok := memberGoneAt(l.SpeakerLog(n.Name), victim, start)
			if !ok {
				all = false
				break
			}
			latest = max(latest, at.Sub(start))
		}
		if all {
			return msTenths(latest)
		}
		if time.Now().After(deadline) {
			return -1
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// memberGoneAt finds the first "member failed" or "member left" line about node in a
// speaker's JSON log at or after since. The speaker's logger carries its own node as
// "node" too; the event's attribute comes last, and a JSON decoder keeps the last key.
func memberGoneAt(path, node string, since time.Time) (time.Time, bool) {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}, false
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(`"member failed"`)) && !bytes.Contains(line, []byte(`"member left"`)) {
			continue
		}
		var rec struct {
			Time time.Time `json:"time"`
			Node string    `json:"node"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.Node == node && !rec.Time.Before(since) {
			return rec.Time, true
		}
	}
	return time.Time{}, false
}
