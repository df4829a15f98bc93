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

	// signal and names, when set (see Follow), add names() to the batch each time signal
	// fires; names is read after the delay, so it sees the latest state.
	signal <-chan struct{}
	names  func() []types.NamespacedName
}

// Follow returns a Trigger that, each time signal fires, asks for a reconcile of the
// objects names returns at that moment (after the delay). A signal that fires while a
// batch is being handed over is kept for the next batch, so no change is missed.
func Follow(delay time.Duration, signal <-chan struct{}, names func() []types.NamespacedName) *Trigger {
	t := New(delay)
	t.signal, t.names = signal, names
	return t
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
		signalled := false
		select {
		case <-ctx.Done():
			return nil
		case <-t.kick:
		case <-t.signal: // nil unless Follow: never fires
			signalled = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(t.delay):
		}
		select {
		case <-t.signal:
			signalled = true
		default:
		}
		if signalled {
			t.Add(t.names()...)
			// Add kicked for this very batch; drop that kick so it does not start an
			// empty round.
			select {
			case <-t.kick:
			default:
			}
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
