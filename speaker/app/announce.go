package app

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/trigger"
	"github.com/ironlb/ironlb/speaker/layer2"
	"github.com/ironlb/ironlb/speaker/membership"
	"github.com/ironlb/ironlb/speaker/plan"
)

// everything is the one reconcile key: any change recomputes every announcement, which for
// thousands of Services takes milliseconds and keeps the logic in one obvious place.
var everything = reconcile.Request{NamespacedName: types.NamespacedName{Name: "all"}}

// layer2Reconciler keeps the addresses this node answers ARP/NDP for in step with the API
// objects and memberlist, and reports the L2Announced condition.
type layer2Reconciler struct {
	nodeName string
	class    string
	member   *membership.Member
	l2       *layer2.Announcer
	client   client.Client
	recorder events.EventRecorder
	logger   interface {
		Info(string, ...any)
		Warn(string, ...any)
	}
	port int
	// unannounced counts the layer-2 addresses no node answers for, as this speaker sees
	// them (every speaker computes the same decision, so any one of them can alert).
	unannounced prometheus.Gauge

	// isolated is 1 while this speaker is cut off from speakers that are up.
	isolated prometheus.Gauge
	// namespace holds the speaker Pods; knowsPods is true when the speaker watches them.
	namespace string
	knowsPods bool

	// peersSince is when the speaker first knew its peers from the API; see joinGrace.
	peersSince time.Time
	// gossip remembers what the isolation verdict needs across reconciles.
	gossip gossipView
	// conditions writes the L2Announced conditions the plans want, outside the reconcile.
	conditions *conditionWriter
	// gossipCond writes this speaker's memberlist view on its own Pod (nil: no Pod name).
	gossipCond *gossipWriter
	// kick batches the events that start a plan; it is told what each plan cost.
	kick *trigger.Coalescer

	mu        sync.Mutex
	owners    map[netip.Addr][]string  // last owned services per IP, for foreign-reply events
	lastSplit map[netip.Addr]time.Time // last split-brain alarm per owned address
}

// splitBrainEvery is the least time between two split-brain alarms for one address.
const splitBrainEvery = time.Minute

// recordSplit notes an alarm for ip at now, first dropping what no longer needs keeping
// (alarms older than splitBrainEvery, addresses this node no longer owns), so the record
// never holds more than the owned addresses.
func recordSplit(record map[netip.Addr]time.Time, ip netip.Addr, now time.Time, owned map[netip.Addr][]string) map[netip.Addr]time.Time {
	if record == nil {
		record = map[netip.Addr]time.Time{}
	}
	for a, t := range record {
		if _, ok := owned[a]; !ok || now.Sub(t) >= splitBrainEvery {
			delete(record, a)
		}
	}
	record[ip] = now
	return record
}

// joinGrace is how long a speaker that is still alone, while other nodes exist, waits for
// the cluster before it announces anything: otherwise a restarting speaker would briefly
// elect itself for every address and pull traffic away from the real owners. It counts
// from when the speaker first knew its peers (its caches synced and it called SetPeers),
// not from process start: a speaker whose caches take longer than the grace to fill (many
// Services) would otherwise claim everything on its first reconcile.
const joinGrace = 3 * time.Second

func (a *layer2Reconciler) setup(mgr manager.Manager) error {
	kick := trigger.NewCoalescer(batchQuiet, batchMax, batchSpacing, batchMaxGap)
	a.kick = kick
	if err := mgr.Add(kick); err != nil {
		return err
	}
	a.conditions = newConditionWriter(a.client, a.recorder)
	if err := mgr.Add(a.conditions); err != nil {
		return err
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		publishInterfaces(ctx, a.member, time.Second, a.logger)
		return nil
	})); err != nil {
		return err
	}
	// Membership changes are the failover path: recompute at once, not with the batch.
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-a.member.Changes():
				kick.Now(everything.NamespacedName)
			}
		}
	})); err != nil {
		return err
	}
	watched := []client.Object{&corev1.Service{}, &discoveryv1.EndpointSlice{}, &corev1.Node{},
		&ironlbv1.IPAddressPool{}, &ironlbv1.L2Advertisement{}}
	if a.knowsPods {
		watched = append(watched, &corev1.Pod{})
	}
	return recomputeOnAnyChange(mgr, "layer2", kick, a, a.conditionsChanged, watched...)
}

// conditionsChanged hands a Service whose conditions changed to the conditions writer,
// which writes the wanted one again if another writer replaced it.
func (a *layer2Reconciler) conditionsChanged(old, updated client.Object) {
	o, ok1 := old.(*corev1.Service)
	n, ok2 := updated.(*corev1.Service)
	if ok1 && ok2 && !equality.Semantic.DeepEqual(o.Status.Conditions, n.Status.Conditions) {
		a.conditions.Recheck(client.ObjectKeyFromObject(n))
	}
}

// Watched API objects change in bursts (thousands of Services created at once, each then
// given an address and a condition): their events are batched, and a batch is recomputed
// once no event came for batchQuiet, or batchMax after its first event.
// Under a sustained stream, batches are also kept batchSpacing times the cost of the last
// plan apart (at most batchMaxGap), so a stream of events lasting minutes (a burst against
// a busy API server) spends at most a twentieth of a CPU on plans. Membership changes
// wait for none of this.
const (
	batchQuiet   = 20 * time.Millisecond
	batchMax     = 200 * time.Millisecond
	batchSpacing = 20
	batchMaxGap  = 2 * time.Second
)

// recomputeOnAnyChange runs r, under one reconcile key, whenever kick hands over a batch;
// every change of a watched object that can change a plan (see planInputChanged) is added
// to kick's batch. onUpdate, when set, is also told of every update, so the L2 conditions
// writer can look again at a Service whose conditions someone changed.
func recomputeOnAnyChange(mgr manager.Manager, name string, kick *trigger.Coalescer, r reconcile.Reconciler,
	onUpdate func(old, updated client.Object), watched ...client.Object) error {
	add := func() { kick.Add(everything.NamespacedName) }
	all := handler.TypedFuncs[client.Object, reconcile.Request]{
		CreateFunc: func(context.Context, event.CreateEvent, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add()
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if onUpdate != nil {
				onUpdate(e.ObjectOld, e.ObjectNew)
			}
			if planInputChanged(e.ObjectOld, e.ObjectNew) {
				add()
			}
		},
		DeleteFunc: func(context.Context, event.DeleteEvent, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add()
		},
		GenericFunc: func(context.Context, event.GenericEvent, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add()
		},
	}
	b := ctrl.NewControllerManagedBy(mgr).Named(name).WatchesRawSource(kick.Source())
	for _, obj := range watched {
		b = b.Watches(obj, all)
	}
	return b.Complete(r)
}

// planInputChanged reports whether an update can change a plan: for Services, Nodes and
// speaker Pods, whether what the plans read of them changed (their status writes,
// heartbeats and Gossip conditions do not); for the other kinds, always.
func planInputChanged(old, updated client.Object) bool {
	switch o := old.(type) {
	case *corev1.Service:
		n, ok := updated.(*corev1.Service)
		return !ok || plan.ServiceChanged(o, n)
	case *corev1.Node:
		n, ok := updated.(*corev1.Node)
		return !ok || plan.NodeChanged(o, n)
	case *corev1.Pod:
		n, ok := updated.(*corev1.Pod)
		return !ok || speakerPodChanged(o, n)
	}
	return true
}

// Reconcile recomputes which addresses this node answers for and applies it. It reads the
// cache without copying it (a copy of thousands of Services per plan was most of a
// plan's cost): the plan is pure and nothing here writes to what it read; the conditions
// writer reads its own copy before it changes one.
func (a *layer2Reconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	start := time.Now()
	defer func() { a.kick.Took(time.Since(start)) }()
	var services corev1.ServiceList
	var slicesList discoveryv1.EndpointSliceList
	var nodes corev1.NodeList
	var pools ironlbv1.IPAddressPoolList
	var advs ironlbv1.L2AdvertisementList
	for _, l := range []client.ObjectList{&services, &slicesList, &nodes, &pools, &advs} {
		if err := a.client.List(ctx, l, client.UnsafeDisableDeepCopy); err != nil {
			return reconcile.Result{}, err
		}
	}
	snap := plan.Snapshot{Node: a.nodeName, Class: a.class, Services: services.Items, EndpointSlices: slicesList.Items,
		Nodes: nodes.Items, Pools: pools.Items, L2Advertisements: advs.Items, Alive: map[string][]string{}}
	for n, meta := range a.member.AliveMeta() {
		snap.Alive[n] = decodeInterfaces(meta)
	}
	peers := plan.MemberlistPeers(snap, a.port)
	a.member.SetPeers(peers)
	if len(peers) > 0 && a.peersSince.IsZero() {
		a.peersSince = time.Now()
	}
	// Alone while other nodes exist: still joining, or cut off from them.
	alone := len(snap.Alive) <= 1 && len(peers) > 0
	if alone && time.Since(a.peersSince) < joinGrace {
		return reconcile.Result{RequeueAfter: 250 * time.Millisecond}, nil
	}
	var err error
	if snap.Gossip, err = a.gossipSnapshot(ctx, nodes.Items); err != nil {
		return reconcile.Result{}, err
	}

	p := plan.L2(snap)
	a.reportIsolation(p.Isolation)
	if a.gossipCond != nil {
		a.gossipCond.Set(p.Gossip)
	}
	a.unannounced.Set(float64(p.Unannounced))
	owned := map[netip.Addr][]string{}
	var suitable []string
	for ip, ifaces := range p.Owned {
		if len(ifaces) == 0 {
			// The advertisement names no interface: answer on every suitable one.
			if suitable == nil {
				var err error
				if suitable, err = layer2.Suitable(); err != nil {
					a.logger.Warn("listing interfaces", "error", err)
				}
			}
			ifaces = suitable
		}
		owned[ip] = ifaces
	}
	if err := a.l2.SetOwned(owned); err != nil {
		a.logger.Warn("some addresses could not be announced", "error", err)
	}
	if a.gossip.returned(snap.Alive, a.member.Refutations()) {
		// A speaker came back, or the others had this one for dead (it was frozen, or a
		// partition healed): meanwhile another node may have announced addresses this
		// one owns, and clients hold that node's MAC.
		a.l2.Reannounce()
	}
	a.mu.Lock()
	a.owners = p.Services
	a.mu.Unlock()
	var again reconcile.Result
	if alone {
		// Alone: whether a peer rejects the key is learnt by the rejoin loop, which
		// signals nothing, so look again soon.
		again.RequeueAfter = time.Second
	} else if p.Gossip.Status != corev1.ConditionTrue {
		// Missing speakers: a key rejection is learnt by the rejoin loop, which signals
		// nothing, and the Gossip condition should name it.
		again.RequeueAfter = 5 * time.Second
	}
	// The conditions are written by their own worker: steady state writes nothing, and
	// neither failover nor the next plan waits for the API server.
	a.conditions.Set(p.Conditions)
	return again, nil
}

// foreignReply is the split-brain alarm: another MAC answers for an address this node owns.
// It raises a Warning event on the Services of that address, at most once a minute per
// address whatever the MAC, so replies spoofed from random MACs neither flood events nor
// grow memory: the record holds only owned addresses alarmed within the last minute.
func (a *layer2Reconciler) foreignReply(ip netip.Addr, iface string, mac net.HardwareAddr) {
	now := time.Now()
	a.mu.Lock()
	services := slices.Clone(a.owners[ip])
	recent := now.Sub(a.lastSplit[ip]) < splitBrainEvery
	if !recent && len(services) > 0 {
		a.lastSplit = recordSplit(a.lastSplit, ip, now, a.owners)
	}
	a.mu.Unlock()
	if recent || len(services) == 0 {
		return
	}
	a.logger.Warn("another node answers for an address this node owns", "ip", ip, "interface", iface, "mac", mac.String())
	for _, key := range services {
		ns, name, _ := strings.Cut(key, "/")
		ref := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		ref.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Service"))
		a.recorder.Eventf(ref, nil, corev1.EventTypeWarning, ironlbv1.EventSplitBrain, ironlbv1.ActionAnnounce,
			"MAC %s also answers for %s on %s while node %s owns it", mac, ip, iface, a.nodeName)
	}
}
