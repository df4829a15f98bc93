package plan_test

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/speaker/plan"
)

// TestGossipView: the condition a speaker writes on its Pod counts the speakers it sees
// among those it expects, names the missing ones, and tells the last one alive (Alone)
// from one cut off from speakers that are up (CannotJoin) and from a key mismatch.
func TestGossipView(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	later := t0.Add(10 * time.Second)
	ready := func(names ...string) map[string]time.Time {
		m := map[string]time.Time{}
		for _, n := range names {
			m[n] = t0
		}
		return m
	}
	withIP := func(names ...string) []corev1.Node {
		out := nodes(names...)
		for i := range out {
			out[i].Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "198.18.0.1"}}
		}
		return out
	}
	cases := []struct {
		name   string
		snap   plan.Snapshot
		status corev1.ConditionStatus
		reason string
		msg    string
	}{
		{
			name:   "every Ready speaker is live",
			snap:   plan.Snapshot{Node: "a", Alive: alive("a", "b", "c"), Gossip: plan.Gossip{ReadySince: ready("a", "b", "c")}},
			status: corev1.ConditionTrue, reason: ironlbv1.ReasonAllJoined, msg: "3 of 3 speakers: a, b, c",
		},
		{
			name: "a node without a Ready speaker Pod is not expected",
			snap: plan.Snapshot{Node: "a", Nodes: withIP("a", "b", "c"), Alive: alive("a", "b"),
				Gossip: plan.Gossip{ReadySince: ready("a", "b")}},
			status: corev1.ConditionTrue, reason: ironlbv1.ReasonAllJoined, msg: "2 of 2 speakers: a, b",
		},
		{
			name:   "a live speaker whose Pod is not Ready yet counts",
			snap:   plan.Snapshot{Node: "a", Alive: alive("a", "b"), Gossip: plan.Gossip{ReadySince: ready("a")}},
			status: corev1.ConditionTrue, reason: ironlbv1.ReasonAllJoined, msg: "2 of 2 speakers: a, b",
		},
		{
			name:   "one Ready speaker not live: partial, named",
			snap:   plan.Snapshot{Node: "a", Alive: alive("a", "b"), Gossip: plan.Gossip{ReadySince: ready("a", "b", "c")}},
			status: corev1.ConditionFalse, reason: ironlbv1.ReasonPartial, msg: "2 of 3 speakers: a, b; missing: c",
		},
		{
			name:   "no Pod information: every node with an InternalIP is expected",
			snap:   plan.Snapshot{Node: "a", Nodes: append(withIP("a", "b", "c"), node("no-ip")), Alive: alive("a", "c")},
			status: corev1.ConditionFalse, reason: ironlbv1.ReasonPartial, msg: "2 of 3 speakers: a, c; missing: b",
		},
		{
			name: "alone, the others last reached after they became Ready: alone (they may be down)",
			snap: plan.Snapshot{Node: "c", Alive: alive("c"), Gossip: plan.Gossip{ReadySince: ready("a", "b", "c"),
				LastAlive: map[string]time.Time{"a": later, "b": later, "c": later}}},
			status: corev1.ConditionFalse, reason: ironlbv1.ReasonAlone,
			msg: "1 of 3 speakers: c; alone, not reached: a, b (down, or the memberlist port is blocked)",
		},
		{
			name: "alone, the others Ready and never reached: cannot join",
			snap: plan.Snapshot{Node: "c", Alive: alive("c"), Gossip: plan.Gossip{ReadySince: ready("a", "b", "c"),
				LastAlive: map[string]time.Time{"c": later}}},
			status: corev1.ConditionFalse, reason: ironlbv1.ReasonCannotJoin,
			msg: "1 of 3 speakers: c; cannot join a, b, whose speakers are Ready (is the memberlist port blocked?): announcing nothing on layer 2",
		},
		{
			name: "a peer rejects the key while another is live",
			snap: plan.Snapshot{Node: "a", Alive: alive("a", "b"), Gossip: plan.Gossip{ReadySince: ready("a", "b", "c"),
				KeyRejected: []string{"c"}}},
			status: corev1.ConditionFalse, reason: ironlbv1.ReasonKeyRejected,
			msg: "2 of 3 speakers: a, b; gossip key rejected by or from c (every speaker must mount the same memberlist Secret)",
		},
		{
			name:   "alone on a one-node cluster: all joined",
			snap:   plan.Snapshot{Node: "a", Nodes: withIP("a"), Alive: alive("a")},
			status: corev1.ConditionTrue, reason: ironlbv1.ReasonAllJoined, msg: "1 of 1 speakers: a",
		},
		{
			name: "memberlist not yet listing this node: it still counts itself",
			snap: plan.Snapshot{Node: "a", Alive: alive(), Gossip: plan.Gossip{ReadySince: ready("a", "b"),
				LastAlive: map[string]time.Time{"b": later}}},
			status: corev1.ConditionFalse, reason: ironlbv1.ReasonAlone,
			msg: "1 of 2 speakers: a; alone, not reached: b (down, or the memberlist port is blocked)",
		},
	}
	var many []string
	for i := range 14 {
		many = append(many, fmt.Sprintf("n%02d", i))
	}
	cases = append(cases, struct {
		name   string
		snap   plan.Snapshot
		status corev1.ConditionStatus
		reason string
		msg    string
	}{
		name:   "a large cluster: ten names, then a count",
		snap:   plan.Snapshot{Node: "n00", Alive: alive(many...), Gossip: plan.Gossip{ReadySince: ready(many...)}},
		status: corev1.ConditionTrue, reason: ironlbv1.ReasonAllJoined,
		msg: "14 of 14 speakers: n00, n01, n02, n03, n04, n05, n06, n07, n08, n09 and 4 more",
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := plan.L2(c.snap).Gossip
			if got.Status != c.status || got.Reason != c.reason || got.Message != c.msg {
				t.Errorf("got %s %s %q\nwant %s %s %q", got.Status, got.Reason, got.Message, c.status, c.reason, c.msg)
			}
		})
	}
}
