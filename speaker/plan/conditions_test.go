package plan_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/speaker/election"
	"github.com/ironlb/ironlb/speaker/plan"
)

// wasAnnounced gives a Service the L2Announced condition a speaker wrote earlier.
func wasAnnounced() svcOpt {
	return func(s *corev1.Service) {
		s.Status.Conditions = []metav1.Condition{{Type: ironlbv1.ConditionL2Announced, Status: metav1.ConditionTrue,
			Reason: ironlbv1.ReasonAnnouncing, Message: "node a answers ARP/NDP for 198.18.0.1"}}
	}
}

// TestL2ConditionsTellTheTruth checks the condition each Service gets, from the one node
// that reports it: never a True for an address no node answers, never a stale True left
// behind when the Service stops being announced.
func TestL2ConditionsTellTheTruth(t *testing.T) {
	cases := []struct {
		name string
		snap plan.Snapshot
		// want is the status ("True", "False", "removed") and a substring of the reason
		// and message; "" means no condition is reported at all.
		want, contains string
	}{
		{
			name:     "announced: True naming the node",
			snap:     plan.Snapshot{Services: []corev1.Service{svc("ns/web", []string{"198.18.0.1"})}},
			want:     "True",
			contains: "answers ARP/NDP for 198.18.0.1",
		},
		{
			name:     "kept after its pool shrank: still announced, True",
			snap:     plan.Snapshot{Services: []corev1.Service{svc("ns/web", []string{"198.19.0.1"}, fromPool("main"), wasAnnounced())}},
			want:     "True",
			contains: "answers ARP/NDP for 198.19.0.1",
		},
		{
			name:     "no eligible node: False",
			snap:     plan.Snapshot{Services: []corev1.Service{svc("ns/web", []string{"198.18.0.1"}, local())}},
			want:     "False",
			contains: ironlbv1.ReasonNoEligibleNode,
		},
		{
			name: "every node cordoned under excludeCordonedNodes: False, counting the cordoned nodes",
			snap: plan.Snapshot{Nodes: []corev1.Node{node("a", cordoned), node("b", cordoned), node("c", cordoned)},
				L2Advertisements: []ironlbv1.L2Advertisement{l2("drain", excludeCordoned)},
				Services:         []corev1.Service{svc("ns/web", []string{"198.18.0.1"})}},
			want:     "False",
			contains: "no eligible node: 3 node(s) is cordoned",
		},
		{
			name: "advertisement deleted: False, NotAdvertised",
			snap: plan.Snapshot{L2Advertisements: []ironlbv1.L2Advertisement{},
				Services: []corev1.Service{svc("ns/web", []string{"198.18.0.1"}, wasAnnounced())}},
			want:     "False",
			contains: ironlbv1.ReasonNotAdvertised,
		},
		{
			name: "pool deleted: False, NotAdvertised",
			snap: plan.Snapshot{Pools: []ironlbv1.IPAddressPool{},
				Services: []corev1.Service{svc("ns/web", []string{"198.18.0.1"}, fromPool("main"), wasAnnounced())}},
			want:     "False",
			contains: ironlbv1.ReasonNotAdvertised,
		},
		{
			name: "changed to ClusterIP: removed",
			snap: plan.Snapshot{Services: []corev1.Service{svc("ns/web", []string{"198.18.0.1"}, ofType(corev1.ServiceTypeClusterIP), wasAnnounced())}},
			want: "removed",
		},
		{
			name: "address released: removed",
			snap: plan.Snapshot{Services: []corev1.Service{svc("ns/web", nil, wasAnnounced())}},
			want: "removed",
		},
		{
			name: "another class: left alone for its own load balancer",
			snap: plan.Snapshot{Services: []corev1.Service{svc("ns/web", []string{"198.18.0.1"}, class("other.io/lb"), wasAnnounced())}},
			want: "",
		},
		{
			name: "served only by BGP, never announced: no layer-2 condition",
			snap: plan.Snapshot{L2Advertisements: []ironlbv1.L2Advertisement{},
				Services: []corev1.Service{svc("ns/web", []string{"198.18.0.1"})}},
			want: "",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			snap := withDefaults(c.snap)
			// The reporter of ns/web is the election winner among the live nodes.
			snap.Node = election.Owner("ns/web", []string{"a", "b", "c"})
			got := plan.L2(snap).Conditions
			for _, other := range []string{"a", "b", "c"} {
				if other == snap.Node {
					continue
				}
				o := snap
				o.Node = other
				if n := len(plan.L2(o).Conditions); n != 0 {
					t.Errorf("node %s also reports %d condition(s): one writer per Service", other, n)
				}
			}
			if c.want == "" {
				if len(got) != 0 {
					t.Fatalf("conditions %+v, want none", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("conditions %+v, want one", got)
			}
			sc := got[0]
			status := string(sc.Condition.Status)
			if sc.Remove {
				status = "removed"
			}
			if status != c.want || sc.Condition.Type != ironlbv1.ConditionL2Announced ||
				!strings.Contains(sc.Condition.Reason+" "+sc.Condition.Message, c.contains) {
				t.Errorf("condition %+v (remove=%v), want %s containing %q", sc.Condition, sc.Remove, c.want, c.contains)
			}
		})
	}
}
