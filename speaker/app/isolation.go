package app

import (
	"context"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/speaker/plan"
)

// gossipView is what the isolation verdict remembers between reconciles.
type gossipView struct {
	// readySince is when this speaker first saw each speaker Pod Ready, on its own
	// clock, so that the comparison with memberlist's last-alive times needs no clock
	// agreement between nodes.
	readySince map[types.UID]time.Time
	// reason is the isolation last reported ("" when not isolated), to log and raise an
	// event only when it changes.
	reason string
	// alive is the set of live speakers, and refutations the member's count of refuted
	// verdicts about itself, at the last reconcile.
	alive       map[string]bool
	refutations uint64
}

// returned records the live speakers and this member's refutation count, and reports
// whether, since the last reconcile, a speaker that was not live is now, or this one
// refuted a verdict of suspect or dead (the first reconcile counts neither).
func (g *gossipView) returned(alive map[string][]string, refutations uint64) bool {
	first := g.alive == nil
	came := refutations != g.refutations
	now := make(map[string]bool, len(alive))
	for name := range alive {
		now[name] = true
		came = came || !g.alive[name]
	}
	g.alive, g.refutations = now, refutations
	return came && !first
}

// gossipSnapshot gathers plan.Gossip: memberlist's last-alive times, the nodes whose
// speaker rejects the key, and, when the speaker knows its Pods, since when each other
// node's speaker Pod has been Ready.
func (a *layer2Reconciler) gossipSnapshot(ctx context.Context, nodes []corev1.Node) (plan.Gossip, error) {
	g := plan.Gossip{LastAlive: a.member.LastAlive()}
	byAddr := map[netip.Addr]string{}
	for _, n := range nodes {
		for _, addr := range n.Status.Addresses {
			if ip, err := netip.ParseAddr(addr.Address); err == nil && addr.Type == corev1.NodeInternalIP {
				byAddr[ip.Unmap()] = n.Name
			}
		}
	}
	for _, p := range a.member.KeyRejected() {
		if name, ok := byAddr[p.Addr()]; ok {
			g.KeyRejected = append(g.KeyRejected, name)
		}
	}
	if !a.knowsPods {
		return g, nil
	}
	var pods corev1.PodList
	if err := a.client.List(ctx, &pods, client.InNamespace(a.namespace), client.UnsafeDisableDeepCopy); err != nil {
		return g, err
	}
	now := time.Now()
	seen := map[types.UID]time.Time{}
	g.ReadySince = map[string]time.Time{}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.Spec.NodeName == "" || pod.DeletionTimestamp != nil || !podReady(pod) {
			continue
		}
		since, ok := a.gossip.readySince[pod.UID]
		if !ok {
			since = now
		}
		seen[pod.UID] = since
		// Two speaker Pods on one node (a surge during an upgrade): the newer counts.
		if prev, ok := g.ReadySince[pod.Spec.NodeName]; !ok || since.After(prev) {
			g.ReadySince[pod.Spec.NodeName] = since
		}
	}
	a.gossip.readySince = seen
	return g, nil
}

// speakerPodChanged reports whether an update changed what gossipSnapshot reads of a
// speaker Pod: every speaker's Gossip condition write is an update of its Pod, and must
// not start a plan on every node.
func speakerPodChanged(old, updated *corev1.Pod) bool {
	return old.UID != updated.UID || old.Spec.NodeName != updated.Spec.NodeName ||
		(old.DeletionTimestamp == nil) != (updated.DeletionTimestamp == nil) || podReady(old) != podReady(updated)
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// reportIsolation logs, counts and raises an event on this node's Node object when the
// speaker becomes isolated or joins again; nothing while the verdict stays the same.
func (a *layer2Reconciler) reportIsolation(iso plan.Isolation) {
	if iso.Reason == a.gossip.reason {
		return
	}
	was := a.gossip.reason
	a.gossip.reason = iso.Reason
	node := &corev1.Node{}
	node.Name = a.nodeName
	node.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Node"))
	if iso.Reason != "" {
		a.isolated.Set(1)
		a.logger.Warn("speaker is isolated: announcing nothing on layer 2", "unreachable", iso.Unreachable, "reason", iso.Reason)
		a.recorder.Eventf(node, nil, corev1.EventTypeWarning, ironlbv1.EventSpeakerIsolated, ironlbv1.ActionAnnounce, "%s", iso.Reason)
		return
	}
	a.isolated.Set(0)
	if was != "" {
		a.logger.Info("speaker joined the other speakers: announcing again")
		a.recorder.Eventf(node, nil, corev1.EventTypeNormal, ironlbv1.EventSpeakerJoined, ironlbv1.ActionAnnounce,
			"the speaker on node %s joined the other speakers and announces again", a.nodeName)
	}
}
