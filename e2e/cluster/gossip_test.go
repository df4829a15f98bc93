package cluster

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
)

// TestGossipConditionOnSpeakerPods: every speaker Pod of the chart-installed cluster
// carries the ironlb.io/Gossip condition, written by the speaker itself (with the chart's
// RBAC, under its admission policy), saying it sees all three speakers. With one node's
// memberlist port blocked, the others say which speaker is missing and the blocked one
// says it is alone; `kubectl ironlb status` shows both; opening the port restores True.
func TestGossipConditionOnSpeakerPods(t *testing.T) {
	l := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := pluginRunner(ctx, t, l)
	var names []string
	for _, n := range l.Nodes {
		names = append(names, n.Name)
	}
	sort.Strings(names)
	all := fmt.Sprintf("%d of %d speakers: %s", len(names), len(names), strings.Join(names, ", "))

	allJoined := func() error {
		return eachGossip(ctx, l, func(node string, c gossipCondition) error {
			// A speaker Pod that becomes Ready only after the port is blocked reads, to
			// the blocked speaker, as one up and never reached (CannotJoin): start from
			// Ready Pods, so the blocked one sees the others go, as after a failure.
			if !c.Ready {
				return fmt.Errorf("the speaker Pod on %s is not Ready", node)
			}
			if c.Status != corev1.ConditionTrue || c.Reason != ironlbv1.ReasonAllJoined || c.Message != all {
				return fmt.Errorf("%s: %s %s %q, want True %s %q", node, c.Status, c.Reason, c.Message, ironlbv1.ReasonAllJoined, all)
			}
			return nil
		})
	}
	eventually(t, time.Minute, "every speaker reports "+all, allJoined)
	status := run("status")
	t.Logf("kubectl ironlb status\n%s", status)
	for _, n := range names {
		if !strings.Contains(speakerLine(status, n), "True: "+all) {
			t.Errorf("status: node %s's GOSSIP is not %q:\n%s", n, "True: "+all, status)
		}
	}

	blocked := l.Nodes[len(l.Nodes)-1].Name
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = l.UnblockMemberlist(ctx, blocked)
	})
	if err := l.BlockMemberlist(ctx, blocked, 7946); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "the others miss "+blocked+", which is alone", func() error {
		return eachGossip(ctx, l, func(node string, c gossipCondition) error {
			if node == blocked {
				if c.Status != corev1.ConditionFalse || (c.Reason != ironlbv1.ReasonAlone && c.Reason != ironlbv1.ReasonCannotJoin) ||
					!strings.HasPrefix(c.Message, fmt.Sprintf("1 of %d speakers: %s;", len(names), blocked)) {
					return fmt.Errorf("blocked %s: %s %s %q, want False Alone or CannotJoin, seeing itself alone", node, c.Status, c.Reason, c.Message)
				}
				return nil
			}
			if c.Status != corev1.ConditionFalse || c.Reason != ironlbv1.ReasonPartial || !strings.HasSuffix(c.Message, "; missing: "+blocked) {
				return fmt.Errorf("%s: %s %s %q, want False Partial missing %s", node, c.Status, c.Reason, c.Message, blocked)
			}
			return nil
		})
	})
	status = run("status")
	t.Logf("kubectl ironlb status with %s's memberlist port blocked\n%s", blocked, status)
	for _, n := range names {
		line := speakerLine(status, n)
		want := "False (Partial): "
		if n == blocked {
			want = "False (Alone): "
			if strings.Contains(line, "False (CannotJoin): ") {
				want = "False (CannotJoin): "
			}
		}
		if !strings.Contains(line, want) || n != blocked && !strings.Contains(line, "missing: "+blocked) {
			t.Errorf("status: node %s's line %q, want %q (and the missing node named):\n%s", n, line, want, status)
		}
	}

	if err := l.UnblockMemberlist(ctx, blocked); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "every speaker reports "+all+" again", allJoined)
}

// gossipCondition is a speaker Pod's Gossip condition, and whether the Pod is Ready.
type gossipCondition struct {
	*corev1.PodCondition
	Ready bool
}

// eachGossip runs check on the Gossip condition of every node's speaker Pod, and fails
// when a node has no speaker Pod or the Pod no condition.
func eachGossip(ctx context.Context, l *lab.Lab, check func(node string, c gossipCondition) error) error {
	pods, err := l.PodsOf(ctx, lab.ControllerNamespace, "app.kubernetes.io/component=speaker")
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		seen[p.Spec.NodeName] = true
		var cond *corev1.PodCondition
		for j := range p.Status.Conditions {
			if p.Status.Conditions[j].Type == ironlbv1.ConditionGossip {
				cond = &p.Status.Conditions[j]
			}
		}
		if cond == nil {
			return fmt.Errorf("speaker Pod %s on %s has no %s condition", p.Name, p.Spec.NodeName, ironlbv1.ConditionGossip)
		}
		if err := check(p.Spec.NodeName, gossipCondition{cond, podReady(p)}); err != nil {
			return err
		}
	}
	for _, n := range l.Nodes {
		if !seen[n.Name] {
			return fmt.Errorf("no speaker Pod on %s", n.Name)
		}
	}
	return nil
}
