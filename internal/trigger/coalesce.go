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

// Window decides when a batch of events is due: once no event came for Quiet, or Max
// after the batch's first event, whichever is sooner; an urgent event makes it due at
// once. It is pure (the caller passes the time), so its rules are tested without a clock.
type Window struct {
	Quiet, Max time.Duration
	// Spacing, when positive, keeps a batch from being due sooner than Spacing times the
	// cost of the last batch (see Cost) after the last hand-over, at most MaxGap: under a
	// sustained stream of events, recomputing then takes at most 1/Spacing of the time,
	// however expensive a recomputation is. Urgent events do not wait for it.
	Spacing float64
	MaxGap  time.Duration

	first, last time.Time // of the pending batch; zero when none is pending
	urgent      bool
	handed      time.Time     // the last hand-over
	gap         time.Duration // the least time from handed to the next hand-over
}

// Cost records how long handling the last batch took.
func (w *Window) Cost(d time.Duration) {
	w.gap = min(time.Duration(w.Spacing*float64(d)), w.MaxGap)
}

// Add records an event at now.
func (w *Window) Add(now time.Time) {
	if w.first.IsZero() {
		w.first = now
	}
	w.last = now
}

// Urgent records an event at now that must not wait.
func (w *Window) Urgent(now time.Time) {
	w.Add(now)
	w.urgent = true
}

// Due reports whether the pending batch is due at now, and starts a new batch when it is.
// When it is not due, wait is how long until it will be; wait is negative when nothing is
// pending.
func (w *Window) Due(now time.Time) (due bool, wait time.Duration) {
	if w.first.IsZero() {
		return false, -1
	}
	deadline := w.last.Add(w.Quiet)
	if limit := w.first.Add(w.Max); limit.Before(deadline) {
		deadline = limit
	}
	if spaced := w.handed.Add(w.gap); !w.handed.IsZero() && spaced.After(deadline) {
		deadline = spaced
	}
	if w.urgent || !now.Before(deadline) {
		w.first, w.last, w.urgent, w.handed = time.Time{}, time.Time{}, false, now
		return true, 0
	}
	return false, deadline.Sub(now)
}

// Coalescer turns bursts of events into few reconciles: requests are collected and handed
// over when their Window is due, so 3000 Services created in a second cost a handful of
// recomputations instead of one per event, while a single change waits only Quiet.
type Coalescer struct {
	mu      sync.Mutex
	win     Window
	pending map[reconcile.Request]struct{}
	kick    chan struct{}
	out     chan event.TypedGenericEvent[reconcile.Request]
}

// NewCoalescer returns a Coalescer whose batches are due after quiet without an event,
// or max after their first event, and, once the reconciler reports what a batch cost
// (Took), no sooner than spacing times that cost after the last one (at most maxGap).
func NewCoalescer(quiet, max time.Duration, spacing float64, maxGap time.Duration) *Coalescer {
	return &Coalescer{
		win:     Window{Quiet: quiet, Max: max, Spacing: spacing, MaxGap: maxGap},
		pending: map[reconcile.Request]struct{}{},
		kick:    make(chan struct{}, 1),
		out:     make(chan event.TypedGenericEvent[reconcile.Request]),
	}
}

// Add asks for a reconcile of each named object, with the next batch.
func (c *Coalescer) Add(names ...types.NamespacedName) { c.add(false, names) }

// Now asks for a reconcile of each named object at once, handing over the pending batch
// with it: for causes that must not wait (a speaker died).
func (c *Coalescer) Now(names ...types.NamespacedName) { c.add(true, names) }

func (c *Coalescer) add(urgent bool, names []types.NamespacedName) {
	if len(names) == 0 {
		return
	}
	c.mu.Lock()
	for _, n := range names {
		c.pending[reconcile.Request{NamespacedName: n}] = struct{}{}
	}
	if urgent {
		c.win.Urgent(time.Now())
	} else {
		c.win.Add(time.Now())
	}
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Took tells the Coalescer how long the reconcile of the last batch took.
func (c *Coalescer) Took(d time.Duration) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.win.Cost(d)
	c.mu.Unlock()
}

// Source is the controller-runtime source to pass to WatchesRawSource.
func (c *Coalescer) Source() source.TypedSource[reconcile.Request] {
	return source.TypedChannel(c.out, handler.TypedFuncs[reconcile.Request, reconcile.Request]{
		GenericFunc: func(_ context.Context, e event.TypedGenericEvent[reconcile.Request], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			q.Add(e.Object)
		},
	})
}

// Start hands batches to the source when they are due, until ctx ends. It is a manager
// Runnable.
func (c *Coalescer) Start(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		c.mu.Lock()
		due, wait := c.win.Due(time.Now())
		var batch map[reconcile.Request]struct{}
		if due {
			batch, c.pending = c.pending, map[reconcile.Request]struct{}{}
		}
		c.mu.Unlock()
		for req := range batch {
			select {
			case <-ctx.Done():
				return nil
			case c.out <- event.TypedGenericEvent[reconcile.Request]{Object: req}:
			}
		}
		if due {
			continue
		}
		var fire <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.kick:
		case <-fire:
		}
	}
}
