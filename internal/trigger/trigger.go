// Package trigger lets code outside a controller ask it to reconcile objects, for causes that no
// watch sees: a pool edit must retry the Services still waiting for an address, and an
// allocation must refresh the status of the pool it came from. Requests are collected in a
// set and handed over after a short delay, so a burst of 3000 allocations becomes a handful
// of pool status writes instead of 3000.
package trigger

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// Trigger queues reconcile requests from outside a controller. Add never blocks.
type Trigger struct {
	delay   time.Duration
	mu      sync.Mutex
	pending map[reconcile.Request]struct{}
	kick    chan struct{}
	out     chan event.TypedGenericEvent[reconcile.Request]
}

// New returns a Trigger that hands requests over at most once per delay.
func New(delay time.Duration) *Trigger {
	return &Trigger{
		delay:   delay,
		pending: map[reconcile.Request]struct{}{},
		kick:    make(chan struct{}, 1),
		out:     make(chan event.TypedGenericEvent[reconcile.Request]),
	}
}

// Add asks for a reconcile of each named object.
func (t *Trigger) Add(names ...types.NamespacedName) {
	if len(names) == 0 {
		return
	}
	t.mu.Lock()
	for _, n := range names {
		t.pending[reconcile.Request{NamespacedName: n}] = struct{}{}
	}
	t.mu.Unlock()
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// Source is the controller-runtime source to pass to WatchesRawSource.
func (t *Trigger) Source() source.TypedSource[reconcile.Request] {
	return source.TypedChannel(t.out, handler.TypedFuncs[reconcile.Request, reconcile.Request]{
		GenericFunc: func(_ context.Context, e event.TypedGenericEvent[reconcile.Request], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			q.Add(e.Object)
		},
	})
}

// Start hands pending requests to the source until ctx ends. It is a manager Runnable.
func (t *Trigger) Start(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.kick:
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(t.delay):
		}
		t.mu.Lock()
		batch := t.pending
		t.pending = map[reconcile.Request]struct{}{}
		t.mu.Unlock()
		for req := range batch {
			select {
			case <-ctx.Done():
				return nil
			case t.out <- event.TypedGenericEvent[reconcile.Request]{Object: req}:
			}
		}
	}
}
