package app

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/speaker/plan"
)

// gossipWriteEvery is the least time between two writes of the Gossip condition: a
// flapping member changes the view many times a second, and the condition is for people
// and the plugin, not for failover, so the writes are coalesced to the last view.
const gossipWriteEvery = 3 * time.Second

// gossipWriter writes ConditionGossip on this speaker's own Pod, outside the reconcile
// (failover never waits for the API server), only when its status, reason or message
// changes, and at most once per gossipWriteEvery, always in its newest form. It patches
// without reading the Pod (the speaker may only list its Pods when it watches them): a
// strategic merge patch of pods/status merges conditions by type, so the kubelet's
// conditions are kept, and the chart's admission policy refuses any other change by the
// speaker's ServiceAccount.
type gossipWriter struct {
	client client.Client
	pod    types.NamespacedName
	owner  string // field manager
	every  time.Duration
	logger interface {
		Info(string, ...any)
		Warn(string, ...any)
	}
	wake chan struct{}

	mu      sync.Mutex
	want    plan.GossipCondition
	written plan.GossipCondition // last accepted by the API server
	since   metav1.Time          // when the written status last changed
}

func newGossipWriter(c client.Client, pod types.NamespacedName, owner string, logger interface {
	Info(string, ...any)
	Warn(string, ...any)
}) *gossipWriter {
	return &gossipWriter{client: c, pod: pod, owner: owner, every: gossipWriteEvery, logger: logger, wake: make(chan struct{}, 1)}
}

// Set makes c the condition to write; the worker writes it unless it is already written.
func (w *gossipWriter) Set(c plan.GossipCondition) {
	w.mu.Lock()
	changed := c != w.want
	w.want = c
	w.mu.Unlock()
	if changed {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// Start writes until ctx ends. It is a manager Runnable.
func (w *gossipWriter) Start(ctx context.Context) error {
	var last time.Time
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.wake:
		}
		for {
			// Coalesce: what changes while this waits is written once, in its last form.
			if !sleepCtx(ctx, w.every*time.Duration(1<<min(failures, 4))-time.Since(last)) {
				return nil
			}
			w.mu.Lock()
			c, done := w.want, w.want == w.written
			w.mu.Unlock()
			if done {
				break
			}
			last = time.Now()
			if err := w.write(ctx, c); err != nil {
				if failures == 0 && ctx.Err() == nil {
					w.logger.Warn("cannot write the Gossip condition on this speaker's Pod; retrying", "pod", w.pod.String(), "error", err)
				}
				failures++
				continue
			}
			failures = 0
		}
	}
}

// write patches the condition onto the Pod and records it as written.
func (w *gossipWriter) write(ctx context.Context, c plan.GossipCondition) error {
	w.mu.Lock()
	since := w.since
	if c.Status != w.written.Status || since.IsZero() {
		since = metav1.Now()
	}
	w.mu.Unlock()
	body, err := gossipPatch(c, since)
	if err != nil {
		return err
	}
	pod := &corev1.Pod{}
	pod.Namespace, pod.Name = w.pod.Namespace, w.pod.Name
	if err := w.client.Status().Patch(ctx, pod, client.RawPatch(types.StrategicMergePatchType, body), client.FieldOwner(w.owner)); err != nil {
		return err
	}
	w.mu.Lock()
	w.written, w.since = c, since
	w.mu.Unlock()
	return nil
}

// gossipPatch is the strategic merge patch that sets ConditionGossip and nothing else.
func gossipPatch(c plan.GossipCondition, since metav1.Time) ([]byte, error) {
	cond := corev1.PodCondition{Type: ironlbv1.ConditionGossip, Status: c.Status, Reason: c.Reason, Message: c.Message,
		LastTransitionTime: since}
	return json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.PodCondition{cond}}})
}

// sleepCtx waits d (nothing when d <= 0) and reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
