package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/controller/bgpcondition"
	"github.com/ironlb/ironlb/e2e/lab"
	"github.com/ironlb/ironlb/internal/testenv"
)

// TestBGPAdvertisedCondition: the controller's ironlb.io/BGPAdvertised condition follows
// what FRR has. True naming every node and both peers once the router has the routes;
// naming the node whose sessions the router shut; False when the router shuts them all;
// True again after. Then the router flaps every session for a minute and a watch counts
// the condition writes: at most one per --bgp-condition-interval (5 s) and Service.
func TestBGPAdvertisedCondition(t *testing.T) {
	l := bgpLab(t, lab.Options{}, func(l *lab.Lab) []client.Object {
		return []client.Object{
			bgpPool("bgp", "198.18.104.0/24", "2001:db8:100:4::/64"),
			&ironlbv1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "bgp"}},
			bgpPeer("router4", l.NodeASN(), l.Router.ASN, l.Router.IPv4),
			bgpPeer("router6", l.NodeASN(), l.Router.ASN, l.Router.IPv6),
		}
	})
	svc, _, v4, v6 := bgpService(t, l, "web", "", "", l.Nodes[0].Name)
	peers := fmt.Sprintf("2 peers (router4 %s, router6 %s)", l.Router.IPv4, l.Router.IPv6)
	n1 := l.Nodes[0]
	ctx := context.Background()
	router := fmt.Sprintf("router bgp %d", l.Router.ASN)
	shut := func(no bool, nodes ...*lab.Node) {
		t.Helper()
		lines := []string{router}
		for _, n := range nodes {
			for _, a := range []string{n.IPv4.String(), n.IPv6.String()} {
				line := "neighbor " + a + " shutdown"
				if no {
					line = "no " + line
				}
				lines = append(lines, line)
			}
		}
		if err := l.RouterConfigure(ctx, lines...); err != nil {
			t.Fatal(err)
		}
	}
	defer shut(true, l.Nodes...)

	waitNextHops(t, l, host(v4), 30*time.Second, l.Nodes...)
	waitNextHops(t, l, host(v6), 30*time.Second, l.Nodes...)
	waitBGPCondition(t, l, svc, 20*time.Second, metav1.ConditionTrue, ironlbv1.ReasonAdvertised,
		fmt.Sprintf("advertised by 3 nodes to %s: %s", peers, strings.Join(names(l.Nodes...), ", ")))

	shut(false, n1)
	waitNextHops(t, l, host(v4), 20*time.Second, l.Nodes[1:]...)
	waitBGPCondition(t, l, svc, 20*time.Second, metav1.ConditionTrue, ironlbv1.ReasonAdvertised,
		fmt.Sprintf("advertised by 2 of 3 nodes to %s: %s; no Established session on %s", peers, strings.Join(names(l.Nodes[1:]...), ", "), n1.Name))

	shut(false, l.Nodes...)
	waitNextHops(t, l, host(v4), 20*time.Second)
	waitBGPCondition(t, l, svc, 20*time.Second, metav1.ConditionFalse, ironlbv1.ReasonNoEstablishedSession,
		fmt.Sprintf("3 nodes should advertise it (%s), but none has an Established session to %s; see the BGPPeers' status.nodes", strings.Join(names(l.Nodes...), ", "), peers))

	shut(true, l.Nodes...)
	waitNextHops(t, l, host(v4), 30*time.Second, l.Nodes...)
	waitBGPCondition(t, l, svc, 30*time.Second, metav1.ConditionTrue, ironlbv1.ReasonAdvertised,
		fmt.Sprintf("advertised by 3 nodes to %s: %s", peers, strings.Join(names(l.Nodes...), ", ")))

	// A minute of flapping: every session down, then up, every 3 s.
	count := countConditionWrites(t, l, svc)
	start := time.Now()
	toggles := 0
	for time.Since(start) < time.Minute {
		shut(toggles%2 == 1, l.Nodes...)
		toggles++
		time.Sleep(3 * time.Second)
	}
	elapsed := time.Since(start)
	writes := count()
	perMinute := float64(writes) / elapsed.Minutes()
	limit := int(elapsed/bgpcondition.DefaultMinInterval) + 1
	t.Logf("flapping: %d router toggles in %v, %d condition writes (%.1f a minute; the bound is %d)", toggles, elapsed.Round(time.Second), writes, perMinute, limit)
	t.Logf("wrote %s", testenv.WriteResult(t, "bgp-condition-flap.json", map[string]any{
		"durationSeconds": elapsed.Seconds(), "routerToggles": toggles, "conditionWrites": writes,
		"writesPerMinute": perMinute, "minIntervalSeconds": bgpcondition.DefaultMinInterval.Seconds(), "boundWrites": limit,
	}))
	if writes > limit {
		t.Errorf("%d condition writes in %v of flapping, more than one per %v", writes, elapsed, bgpcondition.DefaultMinInterval)
	}
	if writes < 2 {
		t.Errorf("%d condition writes in %v of flapping: the condition did not follow the sessions", writes, elapsed)
	}
	shut(true, l.Nodes...)
	waitBGPCondition(t, l, svc, 40*time.Second, metav1.ConditionTrue, ironlbv1.ReasonAdvertised,
		fmt.Sprintf("advertised by 3 nodes to %s: %s", peers, strings.Join(names(l.Nodes...), ", ")))
}

// waitBGPCondition waits for the Service's BGPAdvertised condition to have status,
// reason and message.
func waitBGPCondition(t *testing.T, l *lab.Lab, svc *corev1.Service, timeout time.Duration, status metav1.ConditionStatus, reason, message string) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("%s %s %s %q", ironlbv1.ConditionBGPAdvertised, status, reason, message), func() error {
		var s corev1.Service
		if err := l.Client.Get(context.Background(), client.ObjectKeyFromObject(svc), &s); err != nil {
			return err
		}
		c := meta.FindStatusCondition(s.Status.Conditions, ironlbv1.ConditionBGPAdvertised)
		if c == nil || c.Status != status || c.Reason != reason || c.Message != message {
			return fmt.Errorf("condition is %+v", c)
		}
		return nil
	})
}

// countConditionWrites counts, from a watch, the updates of the Service that change its
// BGPAdvertised condition, until the returned function is called.
func countConditionWrites(t *testing.T, l *lab.Lab, svc *corev1.Service) func() int {
	t.Helper()
	w, err := l.Kube.CoreV1().Services(svc.Namespace).Watch(context.Background(),
		metav1.ListOptions{FieldSelector: "metadata.name=" + svc.Name})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n, last := 0, ""
	first := true
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			s, ok := ev.Object.(*corev1.Service)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			c := fmt.Sprint(meta.FindStatusCondition(s.Status.Conditions, ironlbv1.ConditionBGPAdvertised))
			mu.Lock()
			if !first && c != last {
				n++
			}
			first, last = false, c
			mu.Unlock()
		}
	}()
	return func() int {
		w.Stop()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}
