package report

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/controller/allocator"
	"github.com/ironlb/ironlb/controller/nodeaddr"
	"github.com/ironlb/ironlb/internal/ipset"
	"github.com/ironlb/ironlb/internal/lbservice"
	"github.com/ironlb/ironlb/speaker/plan"
)

// Explanation answers "what happens to this Service".
type Explanation struct {
	Service    string          `json:"service"`
	Type       string          `json:"type"`
	Class      string          `json:"loadBalancerClass,omitempty"`
	Addresses  []AddressReport `json:"addresses,omitempty"`
	Allocation string          `json:"allocation"`
	Pending    *Pending        `json:"pending,omitempty"`
	L2         []L2Owner       `json:"l2,omitempty"`
	L2Notes    []string        `json:"l2Notes,omitempty"`
	BGP        []BGPRoute      `json:"bgp,omitempty"`
	// BGPCondition is the controller's ironlb.io/BGPAdvertised condition, as
	// "Status Reason: message" (empty when the Service has none).
	BGPCondition string `json:"bgpCondition,omitempty"`
	// BGPAttributes is the controller's ironlb.io/BGPAttributes condition (the Service's
	// own communities and localPref annotations), the same way.
	BGPAttributes string        `json:"bgpAttributes,omitempty"`
	BGPNotes      []string      `json:"bgpNotes,omitempty"`
	TrafficPolicy string        `json:"externalTrafficPolicy"`
	TrafficNotes  []string      `json:"trafficNotes"`
	Events        []EventReport `json:"events,omitempty"`
}

// AddressReport is one external address and its pool.
type AddressReport struct {
	IP   string `json:"ip"`
	Pool string `json:"pool,omitempty"`
	// Node is true for a node's InternalIP (node-address fallback), which is no pool's.
	Node bool `json:"nodeAddress,omitempty"`
}

// Pending says why a Service has no address (or not all of them) and what to change.
type Pending struct {
	Reason    string `json:"reason"`
	Message   string `json:"message"`
	Explained Reason `json:"explanation"`
}

// BGPRoute is one prefix one node advertises for the Service, and the sessions it goes on.
type BGPRoute struct {
	Node     string        `json:"node"`
	Prefix   string        `json:"prefix"`
	Sessions []PeerSession `json:"sessions"`
}

// PeerSession is the state of one node's session to one peer.
type PeerSession struct {
	Peer  string `json:"peer"`
	State string `json:"state"`
	Since string `json:"since,omitempty"`
}

// EventReport is one recent event of the Service.
type EventReport struct {
	Age     string `json:"age"`
	Type    string `json:"type"`
	Reason  string `json:"reason"`
	From    string `json:"from"`
	Message string `json:"message"`
}

// BuildExplanation explains one Service from the snapshot and its details.
func BuildExplanation(s *Snapshot, d *ServiceDetail, now time.Time) Explanation {
	svc := d.Service
	e := Explanation{Service: svc.Namespace + "/" + svc.Name, Type: string(svc.Spec.Type),
		TrafficPolicy: string(svc.Spec.ExternalTrafficPolicy)}
	if svc.Spec.LoadBalancerClass != nil {
		e.Class = *svc.Spec.LoadBalancerClass
	}
	e.Events = events(d.Events, now)
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		e.Allocation = fmt.Sprintf("not a LoadBalancer Service (type %s): ironlb gives addresses only to type: LoadBalancer; set spec.type: LoadBalancer", svc.Spec.Type)
		return e
	}
	sets := poolSets(s.Pools)
	pools := map[string]bool{}
	onNodes := nodeaddr.InUse(svc)
	for _, ip := range IngressIPs(svc.Status.LoadBalancer.Ingress) {
		if onNodes {
			e.Addresses = append(e.Addresses, AddressReport{IP: ip.String(), Node: true})
			continue
		}
		pool := PoolOf(ip, svc.Annotations[ironlbv1.AnnotationAllocatedFromPool], sets)
		e.Addresses = append(e.Addresses, AddressReport{IP: ip.String(), Pool: pool})
		if pool != "" {
			pools[pool] = true
		}
	}
	e.Allocation, e.Pending = allocation(svc)
	switch {
	case onNodes:
		// Node addresses are reachable already: the advertisements do not apply.
		e.L2Notes = []string{"node addresses: nothing is announced with ARP/NDP; " + NodeAddresses.Meaning}
		e.BGPNotes = []string{"node addresses: nothing is advertised by BGP"}
	case len(e.Addresses) > 0:
		e.L2, e.L2Notes = layer2(s, svc, pools)
		e.BGP, e.BGPNotes = bgp(s, d, pools)
		e.BGPCondition = conditionText(svc, ironlbv1.ConditionBGPAdvertised)
		e.BGPAttributes = conditionText(svc, ironlbv1.ConditionBGPAttributes)
	}
	e.TrafficNotes = traffic(svc, d.EndpointSlices)
	return e
}

func poolSets(pools []ironlbv1.IPAddressPool) map[string]ipset.Set {
	sets := map[string]ipset.Set{}
	for _, p := range pools {
		entries := make([]string, len(p.Spec.Addresses))
		for i, a := range p.Spec.Addresses {
			entries[i] = string(a)
		}
		if set, err := ipset.Parse(entries); err == nil {
			sets[p.Name] = set
		}
	}
	return sets
}

// allocation reads the controller's IPAllocated condition.
func allocation(svc *corev1.Service) (string, *Pending) {
	c := meta.FindStatusCondition(svc.Status.Conditions, ironlbv1.ConditionIPAllocated)
	switch {
	case c == nil && !lbservice.IsOurs(svc, ""):
		return fmt.Sprintf("spec.loadBalancerClass is %q: the default ironlb controller serves only Services without a class; an ironlb controller started with --load-balancer-class=%s, or another load balancer, must serve it", *svc.Spec.LoadBalancerClass, *svc.Spec.LoadBalancerClass), nil
	case c == nil:
		return "no " + ironlbv1.ConditionIPAllocated + " condition: the ironlb controller has not handled this Service yet; is it running? (kubectl get pods -A -l app.kubernetes.io/name=ironlb)", nil
	case c.Status == metav1.ConditionTrue && c.Reason == ironlbv1.ReasonNodeAddresses:
		return "node addresses: " + c.Message, nil
	case c.Status == metav1.ConditionTrue:
		if _, waiting, ok := strings.Cut(c.Message, "; still waiting: "); ok {
			reason := reasonIn(waiting)
			return "partly allocated: " + c.Message, &Pending{Reason: reason, Message: waiting, Explained: Explain(reason)}
		}
		return "allocated: " + c.Message, nil
	}
	return "pending: " + c.Reason, &Pending{Reason: c.Reason, Message: c.Message, Explained: Explain(c.Reason)}
}

// reasonIn finds the reason of a partial allocation from its message: after "still
// waiting" the controller writes the missing family's message, not its reason, so the
// message's opening (see controller/allocator/errors.go) tells which it is.
func reasonIn(msg string) string {
	openings := []struct{ text, reason string }{
		{"No free ", string(allocator.PoolExhausted)},
		{"No IPAddressPool can", string(allocator.NoMatchingPool)},
		{"cannot share IP", string(allocator.SharingConflict)},
		{"is already used by Service", string(allocator.RequestedIPInUse)},
		{"Requested IP ", string(allocator.RequestedIPNotInPool)},
	}
	for _, o := range openings {
		if strings.Contains(msg, o.text) {
			return o.reason
		}
	}
	return string(allocator.FamilyUnavailable)
}

func layer2(s *Snapshot, svc *corev1.Service, pools map[string]bool) ([]L2Owner, []string) {
	owners, problems := L2Owners(svc)
	var notes []string
	notes = append(notes, problems...)
	selecting := advertisementsFor(svc, pools, s.Pools, func(yield func(string, ironlbv1.PoolSelection, ironlbv1.TargetSelection)) {
		for _, a := range s.L2Advertisements {
			yield(a.Name, a.Spec.PoolSelection, a.Spec.TargetSelection)
		}
	})
	switch {
	case len(selecting) == 0:
		notes = append(notes, "no L2Advertisement selects its pool(s) and this Service: not announced with ARP/NDP")
	case len(owners) == 0 && len(problems) == 0:
		notes = append(notes, fmt.Sprintf("selected by L2Advertisement %s, but no speaker has reported an %s condition yet: is a speaker running?", strings.Join(selecting, ", "), ironlbv1.ConditionL2Announced))
	}
	return owners, notes
}

// advertisementsFor names the advertisements that select one of the pools and the Service.
func advertisementsFor(svc *corev1.Service, pools map[string]bool, all []ironlbv1.IPAddressPool,
	each func(func(string, ironlbv1.PoolSelection, ironlbv1.TargetSelection))) []string {
	var out []string
	each(func(name string, ps ironlbv1.PoolSelection, ts ironlbv1.TargetSelection) {
		for i := range all {
			if pools[all[i].Name] && ps.Selects(&all[i]) && ironlbv1.MatchesAnySelector(ts.ServiceSelectors, svc.Labels) {
				out = append(out, name)
				return
			}
		}
	})
	return out
}

// bgp computes, with the speaker's own planning code, the prefixes each node advertises
// for the Service, and reads the session states from the BGPPeers' status.
func bgp(s *Snapshot, d *ServiceDetail, pools map[string]bool) ([]BGPRoute, []string) {
	svc := d.Service
	selecting := advertisementsFor(svc, pools, s.Pools, func(yield func(string, ironlbv1.PoolSelection, ironlbv1.TargetSelection)) {
		for _, a := range s.BGPAdvertisements {
			yield(a.Name, a.Spec.PoolSelection, a.Spec.TargetSelection)
		}
	})
	if len(selecting) == 0 {
		return nil, []string{"no BGPAdvertisement selects its pool(s) and this Service: not advertised by BGP"}
	}
	class := ""
	if svc.Spec.LoadBalancerClass != nil {
		class = *svc.Spec.LoadBalancerClass
	}
	var routes []BGPRoute
	for _, node := range s.Nodes {
		snap := plan.Snapshot{Node: node.Name, Class: class, Services: []corev1.Service{*svc}, EndpointSlices: d.EndpointSlices,
			Nodes: s.Nodes, Pools: s.Pools, BGPAdvertisements: s.BGPAdvertisements}
		for _, p := range plan.Prefixes(snap) {
			routes = append(routes, BGPRoute{Node: node.Name, Prefix: p.Prefix.String(), Sessions: sessions(s.BGPPeers, p, &node)})
		}
	}
	if len(routes) == 0 {
		return nil, []string{fmt.Sprintf("selected by BGPAdvertisement %s, but no node advertises it: no node is eligible (no ready endpoint, or with externalTrafficPolicy: Local none on an eligible node, or the nodeSelectors match no ready node)", strings.Join(selecting, ", "))}
	}
	return routes, nil
}

// sessions lists the peers a node sends a prefix to and their session state on that
// node. Which peers is the speaker's own rule (plan.PeersFor: the advertisement's peers,
// the peers' nodeSelectors, and one address family per session unless
// dualStackAddressFamily), so explain never names a peer the speaker does not send to.
func sessions(peers []ironlbv1.BGPPeer, prefix plan.Prefix, node *corev1.Node) []PeerSession {
	var out []PeerSession
	for _, p := range plan.PeersFor(peers, prefix, node) {
		ps := PeerSession{Peer: p.Name, State: "not reported"}
		for _, n := range p.Status.Nodes {
			if n.Node == node.Name {
				ps.State = n.State
				if n.Since != nil {
					ps.Since = n.Since.UTC().Format(time.RFC3339)
				}
			}
		}
		out = append(out, ps)
	}
	return out
}

// conditionText reads one of the controller's BGP conditions as "Status Reason: message":
// BGPAdvertised says whether the routes below reach a peer with the session up,
// BGPAttributes whether the Service's own attribute annotations are applied.
func conditionText(svc *corev1.Service, condType string) string {
	c := meta.FindStatusCondition(svc.Status.Conditions, condType)
	if c == nil {
		return ""
	}
	return fmt.Sprintf("%s %s: %s", c.Status, c.Reason, c.Message)
}

// traffic explains the externalTrafficPolicy.
func traffic(svc *corev1.Service, eps []discoveryv1.EndpointSlice) []string {
	if svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		return []string{"Cluster: every announcing node accepts the traffic and kube-proxy forwards it to a ready pod on any node; pods see a node's address as the source, not the client's"}
	}
	var nodes []string
	for _, s := range eps {
		for _, ep := range s.Endpoints {
			ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			if ready && ep.NodeName != nil && !slices.Contains(nodes, *ep.NodeName) {
				nodes = append(nodes, *ep.NodeName)
			}
		}
	}
	sort.Strings(nodes)
	notes := []string{"Local: only nodes with a ready pod of this Service announce it (layer 2 elects one of them, BGP advertises from each of them); pods see the client's own address"}
	if len(nodes) == 0 {
		return append(notes, "no node has a ready local endpoint now, so no node announces the address and traffic to it fails until a pod is ready")
	}
	return append(notes, "nodes with a ready local endpoint: "+strings.Join(nodes, ", "))
}

func events(list []corev1.Event, now time.Time) []EventReport {
	sort.Slice(list, func(i, j int) bool { return eventTime(&list[i]).Before(eventTime(&list[j])) })
	if len(list) > 10 {
		list = list[len(list)-10:]
	}
	var out []EventReport
	for i := range list {
		ev := &list[i]
		from := ev.ReportingController
		if from == "" {
			from = ev.Source.Component
		}
		t := eventTime(ev)
		out = append(out, EventReport{Age: ageOf(t, now), Type: ev.Type, Reason: ev.Reason, From: from, Message: ev.Message})
	}
	return out
}

func eventTime(ev *corev1.Event) time.Time {
	switch {
	case ev.Series != nil && !ev.Series.LastObservedTime.IsZero():
		return ev.Series.LastObservedTime.Time
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	}
	return ev.CreationTimestamp.Time
}

func ageOf(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	mt := metav1.NewTime(t)
	return age(&mt, now)
}
