package bgpcondition

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/status"
)

// DefaultMinInterval is the shortest time between two writes of one Service's condition:
// a session flapping every second costs that Service at most 60/5 = 12 writes a minute,
// and the condition written at the end of each interval is the latest answer (the states
// in between are skipped, not queued). A change after a quiet interval is written at once.
const DefaultMinInterval = 5 * time.Second

// DefaultQPS and DefaultBurst bound the condition writes of all Services together (on the
// writer's own client): a peer going down under 3000 Services is reported on all of them
// within about 150 s, and allocations keep their own budget meanwhile.
const (
	DefaultQPS   = 20
	DefaultBurst = 50
)

// Reconciler keeps one Service's ironlb.io/BGPAdvertised condition true to the BGPPeers'
// sessions, and its ironlb.io/BGPAttributes condition true to its annotations. It runs on
// the leader only, so there is one writer.
type Reconciler struct {
	// Client reads from the manager's cache.
	Client client.Client
	// Writer sends the condition writes. Give it a client with a rate limit of its own, so
	// that a peer going down under thousands of Services spends its budget, not the one
	// allocations use; nil writes with Client.
	Writer client.Client
	// Class is the loadBalancerClass served ("" for Services without one).
	Class string
	// MinInterval spaces the writes of one Service (DefaultMinInterval when zero).
	MinInterval time.Duration
	// Recorder raises the InvalidBGPAttributes event; nil raises none.
	Recorder events.EventRecorder
	// SpeakerPods selects the speaker Pods in SpeakerNamespace. When set, a node's
	// sessions count only while a Ready speaker Pod runs on it: a speaker killed without
	// a goodbye leaves its entries Established in the BGPPeers' status. Nil checks only
	// the Node's Ready condition (speakers run as processes, not Pods).
	SpeakerPods      labels.Selector
	SpeakerNamespace string

	now func() time.Time // time.Now, or a test's clock

	mu   sync.Mutex
	last map[types.NamespacedName]time.Time // when each Service's condition was last written
}

// Reconcile reads what the conditions depend on, decides them, and writes those that
// differ from the Service's, no sooner than MinInterval after the previous write.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var svc corev1.Service
	if err := r.Client.Get(ctx, req.NamespacedName, &svc); err != nil {
		if client.IgnoreNotFound(err) == nil {
			r.forget(req.NamespacedName)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	in, err := r.read(ctx, &svc)
	if err != nil {
		return reconcile.Result{}, err
	}
	var changes []change
	for _, c := range []change{
		{ironlbv1.ConditionBGPAdvertised, Decide(in)},
		{ironlbv1.ConditionBGPAttributes, DecideAttributes(&svc, r.Class)},
	} {
		if needsWrite(&svc, c) {
			changes = append(changes, c)
		}
	}
	if len(changes) == 0 {
		return reconcile.Result{}, nil
	}
	if wait := r.wait(req.NamespacedName); wait > 0 {
		return reconcile.Result{RequeueAfter: wait}, nil
	}
	return reconcile.Result{}, r.write(ctx, &svc, changes)
}

// change is a decision about one condition type of the Service.
type change struct {
	Type string
	Decision
}

// read gathers the Decide input from the cache.
func (r *Reconciler) read(ctx context.Context, svc *corev1.Service) (Input, error) {
	in := Input{Class: r.Class, Service: svc}
	var nodes corev1.NodeList
	var pools ironlbv1.IPAddressPoolList
	var advs ironlbv1.BGPAdvertisementList
	var peers ironlbv1.BGPPeerList
	var eps discoveryv1.EndpointSliceList
	for _, l := range []client.ObjectList{&nodes, &pools, &advs, &peers} {
		if err := r.Client.List(ctx, l); err != nil {
			return in, err
		}
	}
	if err := r.Client.List(ctx, &eps, client.InNamespace(svc.Namespace),
		client.MatchingLabels{discoveryv1.LabelServiceName: svc.Name}); err != nil {
		return in, err
	}
	in.Nodes, in.Pools, in.BGPAdvertisements, in.BGPPeers, in.EndpointSlices = nodes.Items, pools.Items, advs.Items, peers.Items, eps.Items
	if r.SpeakerPods != nil {
		var pods corev1.PodList
		if err := r.Client.List(ctx, &pods, client.InNamespace(r.SpeakerNamespace),
			client.MatchingLabelsSelector{Selector: r.SpeakerPods}); err != nil {
			return in, err
		}
		in.SpeakersAlive = speakersAlive(pods.Items)
	}
	return in, nil
}

// speakersAlive is the set of nodes that run a Ready speaker Pod not being deleted (a
// deleted one is stopping: it withdraws its routes, or is gone without a word).
func speakersAlive(pods []corev1.Pod) map[string]bool {
	out := map[string]bool{}
	for i := range pods {
		if p := &pods[i]; p.Spec.NodeName != "" && p.DeletionTimestamp == nil && podReady(p) {
			out[p.Spec.NodeName] = true
		}
	}
	return out
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// needsWrite reports whether the decision differs from the Service's condition. A new
// observedGeneration alone is no change, so editing a Service's spec costs no write here.
func needsWrite(svc *corev1.Service, c change) bool {
	switch c.Action {
	case Set:
		return !status.SameCondition(&svc.Status.Conditions, c.Condition)
	case Remove:
		return meta.FindStatusCondition(svc.Status.Conditions, c.Type) != nil
	}
	return false
}

// wait is how long the Service must wait before its next write (0: write now).
func (r *Reconciler) wait(key types.NamespacedName) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	last, ok := r.last[key]
	if !ok {
		return 0
	}
	interval := r.MinInterval
	if interval <= 0 {
		interval = DefaultMinInterval
	}
	return max(0, last.Add(interval).Sub(r.clock()))
}

func (r *Reconciler) forget(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.last, key)
}

func (r *Reconciler) clock() time.Time {
	if r.now != nil {
		return r.now()
	}
	return time.Now()
}

// write patches only these conditions (a strategic merge patch merges a Service's
// conditions by type, so the ones the allocator and the speakers write are kept) and
// records the time, also of a refused write: a failing API server is not hammered. A
// BGPAttributes condition turned invalid is also told by a Warning event, once per write.
func (r *Reconciler) write(ctx context.Context, svc *corev1.Service, changes []change) error {
	c := r.Writer
	if c == nil {
		c = r.Client
	}
	w := status.Writer{Client: c, Strategy: status.StrategicMergePatch, FieldManager: ironlbv1.ControllerName}
	written, err := w.Write(ctx, svc, func() {
		for _, ch := range changes {
			if ch.Action == Remove {
				meta.RemoveStatusCondition(&svc.Status.Conditions, ch.Type)
				continue
			}
			meta.SetStatusCondition(&svc.Status.Conditions, ch.Condition)
		}
	})
	if written {
		r.warnInvalid(svc, changes)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		r.last = map[types.NamespacedName]time.Time{}
	}
	r.last[client.ObjectKeyFromObject(svc)] = r.clock()
	return err
}

// warnInvalid raises the InvalidBGPAttributes event of a written invalid condition.
func (r *Reconciler) warnInvalid(svc *corev1.Service, changes []change) {
	for _, ch := range changes {
		if r.Recorder != nil && ch.Action == Set && ch.Condition.Reason == ironlbv1.ReasonInvalidBGPAttributes {
			r.Recorder.Eventf(svc, nil, corev1.EventTypeWarning, ironlbv1.ReasonInvalidBGPAttributes, ironlbv1.ActionBGP,
				"%s", ch.Condition.Message)
		}
	}
}
