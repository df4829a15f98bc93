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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/status"
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

	// started is when the speaker started; see joinGrace.
	started time.Time

	mu        sync.Mutex
	owners    map[netip.Addr][]string // last owned services per IP, for foreign-reply events
	lastSplit map[string]time.Time
}

// joinGrace is how long a speaker that is still alone, while other nodes exist, waits for
// the cluster before it announces anything: otherwise a restarting speaker would briefly
// elect itself for every address and pull traffic away from the real owners.
const joinGrace = 3 * time.Second

func (a *layer2Reconciler) setup(mgr manager.Manager) error {
	a.started = time.Now()
	kick := trigger.New(10 * time.Millisecond)
	if err := mgr.Add(kick); err != nil {
		return err
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		publishInterfaces(ctx, a.member, time.Second, a.logger)
		return nil
	})); err != nil {
		return err
	}
	// Membership changes are the failover path: recompute at once.
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-a.member.Changes():
				kick.Add(everything.NamespacedName)
			}
		}
	})); err != nil {
		return err
	}
	return recomputeOnAnyChange(mgr, "layer2", kick, a, &corev1.Service{}, &discoveryv1.EndpointSlice{}, &corev1.Node{},
		&ironlbv1.IPAddressPool{}, &ironlbv1.L2Advertisement{})
}

// recomputeOnAnyChange runs r, under one reconcile key, whenever kick fires or any of the
// watched objects changes.
func recomputeOnAnyChange(mgr manager.Manager, name string, kick *trigger.Trigger, r reconcile.Reconciler, watched ...client.Object) error {
	all := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{everything}
	})
	b := ctrl.NewControllerManagedBy(mgr).Named(name).WatchesRawSource(kick.Source())
	for _, obj := range watched {
		b = b.Watches(obj, all)
	}
	return b.Complete(r)
}

// Reconcile recomputes which addresses this node answers for and applies it.
func (a *layer2Reconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	var services corev1.ServiceList
	var slicesList discoveryv1.EndpointSliceList
	var nodes corev1.NodeList
	var pools ironlbv1.IPAddressPoolList
	var advs ironlbv1.L2AdvertisementList
	for _, l := range []client.ObjectList{&services, &slicesList, &nodes, &pools, &advs} {
		if err := a.client.List(ctx, l); err != nil {
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
	if len(snap.Alive) <= 1 && len(peers) > 0 && time.Since(a.started) < joinGrace {
		return reconcile.Result{RequeueAfter: 250 * time.Millisecond}, nil
	}

	p := plan.L2(snap)
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
	a.mu.Lock()
	a.owners = p.Services
	a.mu.Unlock()
	return reconcile.Result{}, a.report(ctx, p.Conditions)
}

// report writes the L2Announced conditions this node reports. Writes happen only when a
// condition changes, so steady state costs nothing and failover does not wait for them.
func (a *layer2Reconciler) report(ctx context.Context, conds []plan.ServiceCondition) error {
	w := status.Writer{Client: a.client, Strategy: status.StrategicMergePatch}
	var firstErr error
	for _, sc := range conds {
		svc, c := sc.Service, sc.Condition
		written, err := w.Write(ctx, svc, func() { status.SetCondition(&svc.Status.Conditions, c) })
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if !written {
			continue
		}
		if c.Status == metav1.ConditionTrue {
			a.recorder.Eventf(svc, nil, corev1.EventTypeNormal, ironlbv1.ReasonAnnouncing, ironlbv1.ActionAnnounce, "%s", c.Message)
		} else {
			a.recorder.Eventf(svc, nil, corev1.EventTypeWarning, ironlbv1.EventNotAnnounced, ironlbv1.ActionAnnounce, "%s", c.Message)
		}
	}
	return firstErr
}

// foreignReply is the split-brain alarm: another MAC answers for an address this node owns.
// It raises a Warning event on the Services of that address, at most once a minute per MAC.
func (a *layer2Reconciler) foreignReply(ip netip.Addr, iface string, mac net.HardwareAddr) {
	a.mu.Lock()
	services := slices.Clone(a.owners[ip])
	if a.lastSplit == nil {
		a.lastSplit = map[string]time.Time{}
	}
	key := ip.String() + "/" + mac.String()
	recent := time.Since(a.lastSplit[key]) < time.Minute
	if !recent {
		a.lastSplit[key] = time.Now()
	}
	a.mu.Unlock()
	if recent {
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
