package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/controller/bgpcondition"
	"github.com/ironlb/ironlb/e2e/lab"
	"github.com/ironlb/ironlb/internal/testenv"
)

// TestBGPAdvertisedForgetsKilledSpeakerPods: with the chart's --speaker-pod-selector, the
// controller stops counting a node in a Service's ironlb.io/BGPAdvertised condition as soon
// as its speaker Pod is not Ready, though the speaker had no chance to remove its
// Established entries from the BGPPeers' status.
//
//   - SIGKILL of the speaker's process (OOM kill, crash): the router's sessions with the
//     node drop at once; the kubelet marks the Pod not Ready and restarts the container.
//   - SIGKILL again: the container now waits out the kubelet's crash back-off (10 s), with
//     no speaker to rewrite the node's stale Established entries meanwhile.
//   - Deleting the speaker Pod (SIGTERM; the DaemonSet makes a new one).
//
// After each, a watch of the Service must see the condition stop counting the node within
// 5 s, and then count it again once its speaker is back. A restarted container is back
// within a second or two, shorter than --bgp-condition-interval, so each step starts a full
// interval after the condition's last write (else the outage could end before the next
// write is due, and the condition rightly never change). The times are logged (and written
// to e2e/results/cluster-bgp-stale.json with IRONLB_BENCH=1).
func TestBGPAdvertisedForgetsKilledSpeakerPods(t *testing.T) {
	l := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	applyDemo(ctx, t, l, "bgp")
	exposeWeb(ctx, t, l, "bgp")
	victim := l.Nodes[0]
	t.Logf("before: %s", waitAdvertisedBy(ctx, t, l, len(l.Nodes)))
	everyNode := fmt.Sprintf("advertised by %d nodes ", len(l.Nodes))
	notReady := "; speaker on node " + victim.Name + " is not ready"
	results := map[string]float64{}
	step := func(what string, act func()) *metav1.Condition {
		t.Helper()
		time.Sleep(bgpcondition.DefaultMinInterval + time.Second)
		w := watchBGPCondition(ctx, t, l, "bgp", "web")
		defer w.stop()
		start := time.Now()
		act()
		eventually(t, 20*time.Second, "the router's sessions with "+victim.Name+" down", func() error {
			return sessionsDown(ctx, l, victim)
		})
		routerDown := time.Since(start)
		// The victim is named as not counted: another node's change (a kubelet heartbeat
		// missed on a loaded machine makes its Node NotReady for a moment) is not the
		// answer to this step.
		at, c := w.waitFor(t, 30*time.Second, func(c *metav1.Condition) bool {
			return c != nil && !strings.HasPrefix(c.Message, everyNode) && notCounted(c.Message, victim.Name)
		})
		took := at.Sub(start)
		t.Logf("%s: the router's sessions with %s down after %v; BGPAdvertised stopped counting it after %v: %s %s: %s",
			what, victim.Name, routerDown.Round(time.Millisecond), took.Round(time.Millisecond), c.Status, c.Reason, c.Message)
		results[what+": router down (s)"], results[what+": condition (s)"] = routerDown.Seconds(), took.Seconds()
		if took > 5*time.Second {
			t.Errorf("%s: the condition stopped counting %s %v after, want within 5 s", what, victim.Name, took)
		}
		if c.Status != metav1.ConditionTrue || !strings.HasPrefix(c.Message, "advertised by ") {
			t.Errorf("%s: the condition is %s %s: %s; want True, counting the other nodes", what, c.Status, c.Reason, c.Message)
		}
		waitAdvertisedBy(ctx, t, l, len(l.Nodes))
		return c
	}
	step("SIGKILL", func() { killSpeakerProcess(t, victim) })
	if c := step("SIGKILL again, into the crash back-off", func() { killSpeakerProcess(t, victim) }); !strings.Contains(c.Message, notReady) {
		t.Errorf("during the crash back-off the condition does not say why %s is not counted: %s", victim.Name, c.Message)
	}
	step("Pod deleted", func() {
		kubectl(ctx, t, l, "-n", lab.ControllerNamespace, "delete", "pod", speakerPodOn(ctx, t, l, victim.Name), "--wait=false")
	})
	if testenv.BenchEnabled() {
		t.Logf("wrote %s", testenv.WriteResult(t, "cluster-bgp-stale.json", results))
	}
}

// waitAdvertisedBy waits until bgp/web's BGPAdvertised condition is True and counts n nodes.
func waitAdvertisedBy(ctx context.Context, t *testing.T, l *lab.Lab, n int) string {
	t.Helper()
	var msg string
	eventually(t, 2*time.Minute, fmt.Sprintf("bgp/web advertised by %d nodes", n), func() error {
		svc, err := l.Kube.CoreV1().Services("bgp").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		c := meta.FindStatusCondition(svc.Status.Conditions, ironlbv1.ConditionBGPAdvertised)
		if c == nil || c.Status != metav1.ConditionTrue || !strings.HasPrefix(c.Message, fmt.Sprintf("advertised by %d nodes ", n)) {
			return fmt.Errorf("condition %+v", c)
		}
		msg = c.Message
		return nil
	})
	return msg
}

// sessionsDown checks that no session of the router with the node's addresses is
// Established.
func sessionsDown(ctx context.Context, l *lab.Lab, n *lab.Node) error {
	peers, err := l.BGPNeighbors(ctx)
	if err != nil {
		return err
	}
	for _, p := range peers {
		if (p.Address == n.IPv4 || p.Address == n.IPv6) && p.State == "Established" {
			return fmt.Errorf("the router's session with %s (%s) is Established", p.Address, n.Name)
		}
	}
	return nil
}

// killSpeakerProcess sends SIGKILL to the speaker container's process on the node: the
// ironlb-speaker process in the node's network namespace (the speaker uses host
// networking).
func killSpeakerProcess(t *testing.T, n *lab.Node) {
	t.Helper()
	want, err := os.Stat(filepath.Join("/run/netns", n.Netns))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != "ironlb-speaker" {
			continue
		}
		if ns, err := os.Stat(filepath.Join("/proc", e.Name(), "ns", "net")); err == nil && os.SameFile(ns, want) {
			pids = append(pids, pid)
		}
	}
	if len(pids) != 1 {
		t.Fatalf("found %d ironlb-speaker processes in %s's network namespace (%v), want 1", len(pids), n.Name, pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

// conditionWatch records, from a watch of one Service, each new BGPAdvertised condition
// with the time it was seen.
type conditionWatch struct {
	mu      sync.Mutex
	seen    []*metav1.Condition
	at      []time.Time
	stopped chan struct{}
	stop    func()
}

func watchBGPCondition(ctx context.Context, t *testing.T, l *lab.Lab, ns, name string) *conditionWatch {
	t.Helper()
	wi, err := l.Kube.CoreV1().Services(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	w := &conditionWatch{stopped: make(chan struct{})}
	w.stop = func() { wi.Stop(); <-w.stopped }
	go func() {
		defer close(w.stopped)
		for ev := range wi.ResultChan() {
			svc, ok := ev.Object.(*corev1.Service)
			if !ok {
				continue
			}
			c := meta.FindStatusCondition(svc.Status.Conditions, ironlbv1.ConditionBGPAdvertised)
			w.mu.Lock()
			if n := len(w.seen); n == 0 || fmt.Sprint(w.seen[n-1]) != fmt.Sprint(c) {
				w.seen, w.at = append(w.seen, c), append(w.at, time.Now())
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// waitFor waits until a condition seen by the watch satisfies ok and returns the first
// such condition and when it was seen.
func (w *conditionWatch) waitFor(t *testing.T, timeout time.Duration, ok func(*metav1.Condition) bool) (time.Time, *metav1.Condition) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		for i, c := range w.seen {
			if ok(c) {
				at := w.at[i]
				w.mu.Unlock()
				return at, c
			}
		}
		w.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var b strings.Builder
	for i, c := range w.seen {
		fmt.Fprintf(&b, "\n  %s %+v", w.at[i].Format(time.RFC3339Nano), c)
	}
	t.Fatalf("no BGPAdvertised condition as wanted within %v; seen:%s", timeout, b.String())
	return time.Time{}, nil
}

// notCounted tells whether a BGPAdvertised message says node is not counted: its Node is
// not Ready or its speaker is not ready.
func notCounted(msg, node string) bool {
	return strings.Contains(msg, "node "+node+" is not Ready") || strings.Contains(msg, "speaker on node "+node+" is not ready")
}
