package plan

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
)

// GossipCondition is this speaker's memberlist view, reported on its own Pod as
// ConditionGossip so that `kubectl ironlb status` (and `kubectl describe pod`) shows what
// each speaker sees without reading its logs or metrics.
type GossipCondition struct {
	Status  corev1.ConditionStatus
	Reason  string
	Message string
}

// GossipView says who this speaker sees among the speakers it expects. Expected are the
// nodes whose speaker Pod is Ready, when the speaker watches its Pods (a node without a
// speaker is not missing), else every node with an InternalIP, the nodes it tries to
// join; this node always counts. iso is the isolation verdict of the same snapshot: it
// tells a speaker cut off from speakers that are up (CannotJoin, KeyRejected) from one
// that is merely the last alive (Alone).
func (s Snapshot) GossipView(iso Isolation) GossipCondition {
	expected := map[string]bool{s.Node: true}
	if s.Gossip.ReadySince != nil {
		for n := range s.Gossip.ReadySince {
			expected[n] = true
		}
	} else {
		for _, n := range s.Nodes {
			for _, a := range n.Status.Addresses {
				if a.Type == corev1.NodeInternalIP {
					expected[n.Name] = true
				}
			}
		}
	}
	live := map[string]bool{s.Node: true}
	for n := range s.Alive {
		live[n], expected[n] = true, true
	}
	var missing []string
	for n := range expected {
		if !live[n] {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	rejected := map[string]bool{}
	var rejecting []string
	for _, n := range s.Gossip.KeyRejected {
		if !live[n] && !rejected[n] {
			rejected[n] = true
			rejecting = append(rejecting, n)
		}
	}
	sort.Strings(rejecting)
	seen := sortedKeys(live)
	head := fmt.Sprintf("%d of %d speakers: %s", len(seen), len(expected), nameList(seen))
	switch {
	case len(missing) == 0 && len(rejecting) == 0:
		return GossipCondition{corev1.ConditionTrue, ironlbv1.ReasonAllJoined, head}
	case len(rejecting) > 0:
		return GossipCondition{corev1.ConditionFalse, ironlbv1.ReasonKeyRejected, fmt.Sprintf(
			"%s; gossip key rejected by or from %s (every speaker must mount the same memberlist Secret)",
			head, nameList(rejecting))}
	case iso.Reason != "":
		return GossipCondition{corev1.ConditionFalse, ironlbv1.ReasonCannotJoin, fmt.Sprintf(
			"%s; cannot join %s, whose speakers are Ready (is the memberlist port blocked?): announcing nothing on layer 2",
			head, nameList(iso.Unreachable))}
	case len(seen) == 1:
		return GossipCondition{corev1.ConditionFalse, ironlbv1.ReasonAlone, fmt.Sprintf(
			"%s; alone, not reached: %s (down, or the memberlist port is blocked)", head, nameList(missing))}
	}
	return GossipCondition{corev1.ConditionFalse, ironlbv1.ReasonPartial, fmt.Sprintf(
		"%s; missing: %s", head, nameList(missing))}
}

// maxNames is the most node names a Gossip message lists in one place: the condition is
// for reading, and in a large cluster it would otherwise hold every node's name and be
// rewritten whole on each change.
const maxNames = 10

// nameList joins sorted names, the first maxNames of them and a count of the rest.
func nameList(names []string) string {
	if len(names) <= maxNames {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:maxNames], ", "), len(names)-maxNames)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
