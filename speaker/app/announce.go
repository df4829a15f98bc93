package app

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/trigger"
	"github.com/ironlb/ironlb/speaker/election"
	"github.com/ironlb/ironlb/speaker/eligibility"
	"github.com/ironlb/ironlb/speaker/layer2"
	"github.com/ironlb/ironlb/speaker/membership"
)

// ConditionL2Announced is the Service condition that names the node answering ARP/NDP for
// the Service's addresses, or says why none does.
const ConditionL2Announced = "ironlb.io/L2Announced"

// everything is the one reconcile key: any change recomputes every announcement, which for
// thousands of Services takes milliseconds and keeps the logic in one obvious place.
var everything = reconcile.Request{NamespacedName: types.NamespacedName{Name: "all"}}

type announcer struct {
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

func (a *announcer) setup(mgr manager.Manager) error {
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
func (a *announcer) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	var snap eligibility.Snapshot
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
	snap.Services, snap.EndpointSlices, snap.Nodes = services.Items, slicesList.Items, nodes.Items
	snap.Pools, snap.L2Advertisements, snap.Class = pools.Items, advs.Items, a.class
	snap.Alive = map[string][]string{}
	var alive []string
	for n, meta := range a.member.AliveMeta() {
		snap.Alive[n] = decodeInterfaces(meta)
		alive = append(alive, n)
	}
	slices.Sort(alive)
	peers := a.peers(nodes.Items)
	a.member.SetPeers(peers)
	if len(alive) <= 1 && len(peers) > 0 && time.Since(a.started) < joinGrace {
		return reconcile.Result{RequeueAfter: 250 * time.Millisecond}, nil
	}

	decisions := eligibility.Decide(snap)
	a.unannounced.Set(float64(countUnannounced(decisions)))
	owned := map[netip.Addr][]string{}
	owners := map[netip.Addr][]string{}
	var suitable []string
	for _, d := range decisions {
		if d.Node != a.nodeName {
			continue
		}
		ifaces := d.Interfaces
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
		owned[d.IP] = ifaces
		owners[d.IP] = d.Services
	}
	if err := a.l2.SetOwned(owned); err != nil {
		a.logger.Warn("some addresses could not be announced", "error", err)
	}
	a.mu.Lock()
	a.owners = owners
	a.mu.Unlock()
	return reconcile.Result{}, a.report(ctx, services.Items, decisions, alive)
}

func countUnannounced(decisions []eligibility.Announcement) int {
	n := 0
	for _, d := range decisions {
		if d.Node == "" {
			n++
		}
	}
	return n
}

// peers lists the memberlist addresses of the other nodes, from their Node addresses.
func (a *announcer) peers(nodes []corev1.Node) []string {
	var out []string
	for _, n := range nodes {
		if n.Name == a.nodeName {
			continue
		}
		for _, addr := range n.Status.Addresses {
			if addr.Type == corev1.NodeInternalIP {
				out = append(out, net.JoinHostPort(addr.Address, strconv.Itoa(a.port)))
			}
		}
	}
	return out
}

// report writes the L2Announced condition. Every speaker computes the same decisions, so
// one speaker per Service (chosen like an owner, among the live speakers, by the Service's
// name) writes the whole condition: one writer means no two speakers overwrite each other
// when a dual-stack Service's addresses are announced by different nodes. Writes happen
// only when the condition changes, so steady state costs nothing and failover does not
// wait for them.
func (a *announcer) report(ctx context.Context, services []corev1.Service, decisions []eligibility.Announcement, alive []string) error {
	byKey := map[string]*corev1.Service{}
	for i := range services {
		byKey[services[i].Namespace+"/"+services[i].Name] = &services[i]
	}
	perService := map[string][]eligibility.Announcement{}
	for _, d := range decisions {
		for _, key := range d.Services {
			perService[key] = append(perService[key], d)
		}
	}
	var firstErr error
	for key, anns := range perService {
		svc := byKey[key]
		if svc == nil || election.Owner(key, alive) != a.nodeName {
			continue
		}
		c := announcedCondition(anns)
		c.ObservedGeneration = svc.Generation
		if err := a.writeCondition(ctx, svc, c); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// announcedCondition sums up a Service's announcements: True when every address has a
// node, else False with the reason for each address left out.
func announcedCondition(anns []eligibility.Announcement) metav1.Condition {
	c := metav1.Condition{Type: ConditionL2Announced, Status: metav1.ConditionTrue, Reason: "Announcing"}
	var parts []string
	for _, d := range anns {
		if d.Node == "" {
			c.Status, c.Reason = metav1.ConditionFalse, "NoEligibleNode"
			parts = append(parts, fmt.Sprintf("%s is not announced: %s", d.IP, d.Reason))
			continue
		}
		on := "every suitable interface"
		if len(d.Interfaces) > 0 {
			on = strings.Join(d.Interfaces, ", ")
		}
		parts = append(parts, fmt.Sprintf("node %s answers ARP/NDP for %s on %s", d.Node, d.IP, on))
	}
	c.Message = strings.Join(parts, "; ")
	return c
}

func (a *announcer) writeCondition(ctx context.Context, svc *corev1.Service, c metav1.Condition) error {
	prev := meta.FindStatusCondition(svc.Status.Conditions, c.Type)
	if prev != nil && prev.Status == c.Status && prev.Reason == c.Reason && prev.Message == c.Message {
		return nil
	}
	orig := svc.DeepCopy()
	meta.SetStatusCondition(&svc.Status.Conditions, c)
	if err := a.client.Status().Patch(ctx, svc, client.StrategicMergeFrom(orig)); err != nil {
		return client.IgnoreNotFound(err)
	}
	if c.Status == metav1.ConditionTrue {
		a.recorder.Eventf(svc, nil, corev1.EventTypeNormal, "Announcing", "Announce", "%s", c.Message)
	} else {
		a.recorder.Eventf(svc, nil, corev1.EventTypeWarning, "NotAnnounced", "Announce", "%s", c.Message)
	}
	return nil
}

// foreignReply is the split-brain alarm: another MAC answers for an address this node owns.
// It raises a Warning event on the Services of that address, at most once a minute per MAC.
func (a *announcer) foreignReply(ip netip.Addr, iface string, mac net.HardwareAddr) {
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
		a.recorder.Eventf(ref, nil, corev1.EventTypeWarning, "SplitBrain", "Announce",
			"MAC %s also answers for %s on %s while node %s owns it", mac, ip, iface, a.nodeName)
	}
}
