package allocator

import "slices"

// The allocator tells the reconcilers what changed in it, so that they react to the state
// they share instead of calling each other: the Service reconciler retries waiting
// Services when an address may have become free, and the pool reconciler refreshes the
// status of pools whose usage moved.

// signal is a wake-up that never blocks the sender and never piles up: one pending token
// stands for any number of changes, and the reader looks at the current state after it.
type signal chan struct{}

func newSignal() signal { return make(signal, 1) }

func (s signal) raise() {
	select {
	case s <- struct{}{}:
	default:
	}
}

// MayHaveFreed fires after any change that can let a waiting Service succeed: an address
// released, a holder leaving a shared address or changing its sharing profile, a pool
// added or edited. Read Waiting after it fires.
func (a *Allocator) MayHaveFreed() <-chan struct{} { return a.freed }

// Waiting lists, sorted, the Services whose last Assign left them without an address or
// without a family they want. Assign and Release keep it current.
func (a *Allocator) Waiting() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.waiting))
	for s := range a.waiting {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// UsageChanged fires when the usage or holders of some pool changed; TakeChangedPools
// says which.
func (a *Allocator) UsageChanged() <-chan struct{} { return a.usageChanged }

// TakeChangedPools returns, sorted, the pools whose usage, holders or shrunk Services may
// have changed since the last call, and forgets them.
func (a *Allocator) TakeChangedPools() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.touched))
	for p := range a.touched {
		out = append(out, p)
	}
	clear(a.touched)
	slices.Sort(out)
	return out
}

// Observe records that the pool object at this generation has been taken into account,
// whether it compiled or not. ObservedGeneration answers "has the allocator caught up with
// this pool object", so that a Service is not told "no pool" while a new pool is on its way.
func (a *Allocator) Observe(pool string, generation int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.observed[pool] = generation
}

// ObservedGeneration returns the generation last given to Observe for the pool.
func (a *Allocator) ObservedGeneration(pool string) (int64, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	g, ok := a.observed[pool]
	return g, ok
}

// touch marks a pool's status as stale.
func (a *Allocator) touch(pool string) {
	if pool == "" {
		return
	}
	a.touched[pool] = struct{}{}
	a.usageChanged.raise()
}

// touchContaining marks every pool containing ip: each counts it in its usage.
func (a *Allocator) touchContaining(held heldIP) {
	a.touch(held.pool)
	for name, p := range a.pools {
		if p.Addresses.Contains(held.ip) {
			a.touch(name)
		}
	}
}
