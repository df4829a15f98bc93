package app

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/status"
	"github.com/ironlb/ironlb/internal/trigger"
	"github.com/ironlb/ironlb/speaker/bgp"
	"github.com/ironlb/ironlb/speaker/plan"
)

// statusOnly asks the BGP reconciler to refresh the BGPPeer status from the last plan,
// without planning again: the periodic refresh of session counters needs nothing else.
var statusOnly = reconcile.Request{NamespacedName: types.NamespacedName{Name: "status"}}

// bgpReconciler keeps the node's BGP sessions and routes in step with the API objects and
// reports each session in its BGPPeer's status.
type bgpReconciler struct {
	nodeName  string
	class     string
	namespace string
	speaker   *bgp.Speaker
	client    client.Client
	recorder  events.EventRecorder
	logger    *slog.Logger
	kick      *trigger.Coalescer

	applier *status.Applier // this node's part of each BGPPeer's status
	// resolved are the peers of the last plan, for the periodic status refresh.
	resolved []plan.Peer
	// cordon times the cordon of this node, for the graceful shutdown of its routes.
	cordon plan.CordonClock

	mu     sync.Mutex
	lastUp map[string]bool // whether each session was Established, for SessionDown events
	sent   map[string]int  // prefixes sent per peer as last reported (see report)
}

func (b *bgpReconciler) setup(mgr manager.Manager) error {
	b.applier = status.NewApplier(b.client, ironlbv1.SpeakerFieldManager(b.nodeName))
	b.kick = trigger.NewCoalescer(batchQuiet, batchMax, batchSpacing, batchMaxGap)
	if err := mgr.Add(b.kick); err != nil {
		return err
	}
	// Session counters (prefixes sent) change without an event: refresh the status now
	// and then, cheaply: only the status is rebuilt (from the last plan), and only
	// changes are written.
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				b.kick.Add(statusOnly.NamespacedName)
			}
		}
	})); err != nil {
		return err
	}
	watched := []client.Object{&corev1.Service{}, &discoveryv1.EndpointSlice{}, &corev1.Node{},
		&ironlbv1.IPAddressPool{}, &ironlbv1.BGPAdvertisement{}, &ironlbv1.BGPPeer{}, &ironlbv1.BFDProfile{}}
	if b.namespace != "" {
		watched = append(watched, &corev1.Secret{})
	}
	return recomputeOnAnyChange(mgr, "bgp", b.kick, b, nil, watched...)
}

// sessionChanged is the speaker's callback on a session state change.
func (b *bgpReconciler) sessionChanged() {
	if b.kick != nil {
		b.kick.Add(everything.NamespacedName)
	}
}

// Reconcile recomputes this node's sessions and routes, applies them, and reports status.
// Like the layer-2 reconcile it reads the cache without copying it: nothing here writes
// to what it read (status goes out by server-side apply of bodies built apart).
func (b *bgpReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	if req == statusOnly && b.resolved != nil {
		var peers ironlbv1.BGPPeerList
		if err := b.client.List(ctx, &peers, client.UnsafeDisableDeepCopy); err != nil {
			return reconcile.Result{}, err
		}
		return reconcile.Result{}, b.report(ctx, peers.Items, b.resolved, true)
	}
	start := time.Now()
	defer func() { b.kick.Took(time.Since(start)) }()
	var services corev1.ServiceList
	var slicesList discoveryv1.EndpointSliceList
	var nodes corev1.NodeList
	var pools ironlbv1.IPAddressPoolList
	var advs ironlbv1.BGPAdvertisementList
	var peers ironlbv1.BGPPeerList
	var profiles ironlbv1.BFDProfileList
	var secrets corev1.SecretList
	lists := []client.ObjectList{&services, &slicesList, &nodes, &pools, &advs, &peers, &profiles}
	for _, l := range lists {
		if err := b.client.List(ctx, l, client.UnsafeDisableDeepCopy); err != nil {
			return reconcile.Result{}, err
		}
	}
	if b.namespace != "" {
		if err := b.client.List(ctx, &secrets, client.InNamespace(b.namespace), client.UnsafeDisableDeepCopy); err != nil {
			return reconcile.Result{}, err
		}
	}
	now := time.Now()
	b.cordon = b.cordon.Observe(nodes.Items, b.nodeName, now)
	p := plan.BGP(plan.Snapshot{Node: b.nodeName, Class: b.class, Namespace: b.namespace,
		Services: services.Items, EndpointSlices: slicesList.Items, Nodes: nodes.Items, Pools: pools.Items,
		BGPAdvertisements: advs.Items, BGPPeers: peers.Items, BFDProfiles: profiles.Items, Secrets: secrets.Items,
		Now: now, CordonedSince: b.cordon.Since()})
	applyErr := b.speaker.Apply(ctx, p.Config)
	if applyErr != nil {
		b.logger.Warn("applying BGP configuration", "error", applyErr)
	}
	b.resolved = p.Peers
	statusErr := b.report(ctx, peers.Items, p.Peers, false)
	if applyErr != nil {
		return reconcile.Result{}, applyErr
	}
	var res reconcile.Result
	if !p.Recheck.IsZero() {
		// A graceful shutdown runs out with no event to say so: plan again then.
		res.RequeueAfter = max(time.Until(p.Recheck), 0) + 10*time.Millisecond
	}
	return res, statusErr
}

// report writes this node's entry in each BGPPeer's status with server-side apply, under
// a field manager per node, so speakers never overwrite each other's entries. An entry
// is removed when the peer no longer selects the node.
//
// The count of prefixes sent moves with every route added, so during a burst of Services
// each plan would write every BGPPeer again: it is refreshed only by the periodic status
// refresh (counters true), and the other reports keep the count last written.
func (b *bgpReconciler) report(ctx context.Context, all []ironlbv1.BGPPeer, resolved []plan.Peer, counters bool) error {
	states := b.speaker.Sessions(ctx)
	if counters {
		states = b.speaker.States(ctx)
	}
	b.mu.Lock()
	if b.sent == nil {
		b.sent = map[string]int{}
	}
	for name, st := range states {
		if counters {
			b.sent[name] = st.Advertised
			continue
		}
		st.Advertised = b.sent[name]
		states[name] = st
	}
	b.mu.Unlock()
	selected := map[string]plan.Peer{}
	for _, r := range resolved {
		selected[r.Object().Name] = r
	}
	var firstErr error
	for i := range all {
		peer := &all[i]
		r, ok := selected[peer.Name]
		var body map[string]any
		if ok {
			entry, cond := b.peerStatus(peer, r, states[peer.Name])
			body = map[string]any{"nodes": []any{entry}, "conditions": []any{cond}}
			b.sessionEvents(peer, r, states[peer.Name])
		} else if !slices.ContainsFunc(peer.Status.Nodes, func(n ironlbv1.PeerNodeStatus) bool { return n.Node == b.nodeName }) {
			continue // nothing of ours to remove
		}
		if body == nil {
			body = map[string]any{} // gives up this node's entry and condition
		}
		target := &ironlbv1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: peer.Name}}
		if _, err := b.applier.Apply(ctx, target, body); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// peerStatus builds this node's status entry and the Ready condition for a peer.
func (b *bgpReconciler) peerStatus(peer *ironlbv1.BGPPeer, r plan.Peer, st bgp.State) (map[string]any, map[string]any) {
	entry := map[string]any{"node": b.nodeName, "state": "Idle"}
	cond := metav1.Condition{Type: ironlbv1.ConditionReady, Status: metav1.ConditionTrue, Reason: ironlbv1.ReasonConfigured,
		Message: "the configuration is usable; see status.nodes for each node's session"}
	reason, problem := r.Problem()
	switch {
	case problem != "":
		entry["message"] = problem
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, reason, problem
	default:
		entry["state"] = st.Session
		if !st.Since.IsZero() {
			entry["since"] = metav1.NewTime(st.Since).UTC().Format(time.RFC3339)
		}
		entry["prefixesSent"] = st.Advertised
		if notes := r.Notes(); len(notes) > 0 {
			cond.Message = strings.Join(notes, "; ")
		}
		if st.Session != "Established" {
			entry["message"] = fmt.Sprintf("the session to %s is not established (state %s); if it stays so, check that the router has this node as a neighbor with AS %d, the password on both sides, and that the router is reachable (one hop away unless ebgpMultiHop)",
				peer.Spec.PeerAddress, st.Session, peer.Spec.MyASN)
		}
	}
	// Keep the transition time of an unchanged condition, so speakers agree on the value.
	cond.LastTransitionTime = metav1.Now()
	if prev := meta.FindStatusCondition(peer.Status.Conditions, ironlbv1.ConditionReady); prev != nil &&
		prev.Status == cond.Status && prev.Reason == cond.Reason {
		cond.LastTransitionTime = prev.LastTransitionTime
	}
	c := map[string]any{"type": cond.Type, "status": cond.Status, "reason": cond.Reason, "message": cond.Message,
		"lastTransitionTime": cond.LastTransitionTime.UTC().Format(time.RFC3339), "observedGeneration": peer.Generation}
	return entry, c
}

// sessionEvents raises SessionDown when a session that was Established is no longer.
func (b *bgpReconciler) sessionEvents(peer *ironlbv1.BGPPeer, r plan.Peer, st bgp.State) {
	up := r.Session() != nil && st.Session == "Established"
	b.mu.Lock()
	if b.lastUp == nil {
		b.lastUp = map[string]bool{}
	}
	was := b.lastUp[peer.Name]
	b.lastUp[peer.Name] = up
	b.mu.Unlock()
	if was && !up {
		b.recorder.Eventf(peer, nil, corev1.EventTypeWarning, ironlbv1.EventSessionDown, ironlbv1.ActionBGP,
			"node %s: the BGP session to %s went down (now %s)", b.nodeName, peer.Spec.PeerAddress, st.Session)
	}
}

// goodbyeTimeout bounds the removal of this node's BGPPeer status entries at shutdown,
// well inside the speaker Pod's grace period (10 s in the chart), which also covers the
// layer-2 hand-over.
const goodbyeTimeout = 3 * time.Second

// goodbye gives up this node's entries in the BGPPeers' status once its sessions are
// closed, so that the controller's ironlb.io/BGPAdvertised condition stops counting the
// node at once instead of believing an Established state that no session backs any more.
// It reads the BGPPeers from the API server (reader), the manager's cache being stopped.
// Best effort: a speaker that cannot reach the API server in time leaves its entries,
// and the controller then goes by the speaker Pod's and the Node's readiness.
func (b *bgpReconciler) goodbye(reader client.Reader) {
	ctx, cancel := context.WithTimeout(context.Background(), goodbyeTimeout)
	defer cancel()
	var peers ironlbv1.BGPPeerList
	if err := reader.List(ctx, &peers); err != nil {
		b.logger.Warn("removing this node's BGPPeer status entries at shutdown", "error", err)
		return
	}
	for i := range peers.Items {
		peer := &peers.Items[i]
		if !slices.ContainsFunc(peer.Status.Nodes, func(n ironlbv1.PeerNodeStatus) bool { return n.Node == b.nodeName }) {
			continue
		}
		target := &ironlbv1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: peer.Name}}
		if _, err := b.applier.Apply(ctx, target, map[string]any{}); err != nil {
			b.logger.Warn("removing this node's BGPPeer status entry at shutdown", "peer", peer.Name, "error", err)
		}
	}
}
