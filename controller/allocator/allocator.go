package allocator

import (
	"net/netip"
	"slices"
	"sync"

	"github.com/ironlb/ironlb/internal/ipset"
)

// Allocator holds the pools and which Service holds which IP. It is safe for
// concurrent use: the controller calls it from several workers, and one
// mutex keeps every decision consistent with every other.
type Allocator struct {
	mu sync.Mutex

	pools map[string]*poolState
	// ordered caches the pools in try order (see comparePools); nil means
	// it must be rebuilt after a pool change.
	ordered []*poolState

	// holdings maps a Service key to what it holds.
	holdings map[string]*holding
	// ips maps every held IP to its holders. It is the single source of truth
	// for "is this IP free", independent of pools, so that an IP outside every
	// pool (an orphan) is still never handed to anyone else.
	ips map[netip.Addr]*ipEntry
	// byPool counts, per attributed pool and Service, the IPs the Service
	// holds from that pool; it answers Holders and Shrunk without a scan.
	byPool map[string]map[string]int
	// byKey lists the Services holding IPs under each sharing key, so a
	// sharing request finds reusable IPs without looking at everyone.
	byKey map[string]map[string]struct{}

	// waiting, freed, touched, usageChanged and observed are what the allocator tells
	// the reconcilers (see changes.go).
	waiting      map[string]struct{}
	freed        signal
	touched      map[string]struct{}
	usageChanged signal
	observed     map[string]int64
}

// holding is what one Service holds: at most one IP per family.
type holding struct {
	profile shareProfile
	ips     []heldIP
}

// heldIP is one held address and the pool it is attributed to ("" when no
// pool contained it when it was claimed).
type heldIP struct {
	ip   netip.Addr
	pool string
}

type ipEntry struct {
	holders []string // in the order they took the IP
}

// New returns an empty Allocator.
func New() *Allocator {
	return &Allocator{
		pools:    map[string]*poolState{},
		holdings: map[string]*holding{},
		ips:      map[netip.Addr]*ipEntry{},
		byPool:   map[string]map[string]int{},
		byKey:    map[string]map[string]struct{}{},

		waiting:      map[string]struct{}{},
		freed:        newSignal(),
		touched:      map[string]struct{}{},
		usageChanged: newSignal(),
		observed:     map[string]int64{},
	}
}

// SetPool adds or replaces a pool. Holdings never move: a Service whose IP
// left the pool keeps it (see Shrunk), and the pool's free list is rebuilt
// from its new addresses minus every held IP, which costs O(held). A pool
// without a name is ignored, because "" stands for "no pool" in holdings.
func (a *Allocator) SetPool(p Pool) {
	if p.Name == "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pools[p.Name] = newPoolState(p, a.sortedHeldIPs())
	a.ordered = nil
	a.adoptOrphans()
	a.touch(p.Name)
	a.freed.raise()
}

// DeletePool forgets a pool. Its holders keep their IPs, still attributed to
// the pool's name so that Holders reports them (the controller keeps the pool
// object while they exist), and the IPs are handed to no one else.
func (a *Allocator) DeletePool(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.pools, name)
	delete(a.observed, name)
	a.ordered = nil
}

// Release frees everything the Service holds; it no longer waits either.
func (a *Allocator) Release(service string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.waiting, service)
	h := a.holdings[service]
	if h == nil {
		return
	}
	for _, held := range slices.Clone(h.ips) {
		a.detach(service, held)
	}
	a.freed.raise()
}

// Holding returns what the Service holds, if anything.
func (a *Allocator) Holding(service string) (Assignment, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	h := a.holdings[service]
	if h == nil {
		return Assignment{}, false
	}
	return h.assignment(), true
}

// Holders returns how many Services hold IPs attributed to the pool. The
// controller keeps a deleted pool's object while this is not zero.
func (a *Allocator) Holders(pool string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.byPool[pool])
}

// Usage returns the per-family counts of a pool for its status, nil for an
// unknown pool.
func (a *Allocator) Usage(pool string) map[ipset.Family]Usage {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.pools[pool]
	if p == nil {
		return nil
	}
	return p.usage()
}

// Shrunk returns, sorted, the Services holding an IP attributed to the pool
// that the pool no longer contains (after an edit, or every holder once the
// pool is deleted), so the controller can warn about them.
func (a *Allocator) Shrunk(pool string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.pools[pool]
	var out []string
	for svc := range a.byPool[pool] {
		for _, held := range a.holdings[svc].ips {
			if held.pool == pool && (p == nil || !p.Addresses.Contains(held.ip)) {
				out = append(out, svc)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// Orphans returns, sorted, the Services holding an IP that was in no pool
// when they claimed it and is in none yet. They keep it, and no one else
// gets it.
func (a *Allocator) Orphans() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.byPool[""]))
	for svc := range a.byPool[""] {
		out = append(out, svc)
	}
	slices.Sort(out)
	return out
}

func (h *holding) assignment() Assignment {
	as := Assignment{IPs: make([]netip.Addr, len(h.ips)), Pools: make([]string, len(h.ips)), Sharing: h.profile.fingerprint()}
	for i, held := range h.ips {
		as.IPs[i], as.Pools[i] = held.ip, held.pool
	}
	return as
}

// poolsInOrder returns every pool in try order.
func (a *Allocator) poolsInOrder() []*poolState {
	if a.ordered == nil {
		a.ordered = make([]*poolState, 0, len(a.pools))
		for _, p := range a.pools {
			a.ordered = append(a.ordered, p)
		}
		slices.SortFunc(a.ordered, comparePools)
	}
	return a.ordered
}

// sortedHeldIPs returns every held IP in ascending order.
func (a *Allocator) sortedHeldIPs() []netip.Addr {
	out := make([]netip.Addr, 0, len(a.ips))
	for ip := range a.ips {
		out = append(out, ip)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// ensureHolding returns the Service's holding, creating it if needed, with
// its sharing profile set to prof. Any IP it keeps has been checked against
// prof by the caller.
func (a *Allocator) ensureHolding(service string, prof shareProfile) *holding {
	h := a.holdings[service]
	if h == nil {
		h = &holding{}
		a.holdings[service] = h
	} else if !h.profile.equal(prof) {
		// Another Service may be able to share (or stop being blocked by) this one now.
		a.freed.raise()
	}
	if h.profile.key != "" {
		delete(a.byKey[h.profile.key], service)
		if len(a.byKey[h.profile.key]) == 0 {
			delete(a.byKey, h.profile.key)
		}
	}
	h.profile = prof
	if prof.key != "" {
		if a.byKey[prof.key] == nil {
			a.byKey[prof.key] = map[string]struct{}{}
		}
		a.byKey[prof.key][service] = struct{}{}
	}
	return h
}

// attach records that the Service (whose holding exists) holds held.
func (a *Allocator) attach(service string, held heldIP) {
	h := a.holdings[service]
	h.ips = append(h.ips, held)
	e := a.ips[held.ip]
	if e == nil {
		e = &ipEntry{}
		a.ips[held.ip] = e
		for _, p := range a.pools {
			p.markHeld(held.ip)
		}
	}
	e.holders = append(e.holders, service)
	a.touchContaining(held)
	if a.byPool[held.pool] == nil {
		a.byPool[held.pool] = map[string]int{}
	}
	a.byPool[held.pool][service]++
}

// detach undoes attach; the IP becomes free when its last holder leaves, and
// the holding disappears when it holds nothing. It does not signal MayHaveFreed:
// only a caller that gives up something held before (not what the same call
// just took) may free an address for someone else.
func (a *Allocator) detach(service string, held heldIP) {
	h := a.holdings[service]
	h.ips = slices.DeleteFunc(h.ips, func(x heldIP) bool { return x == held })
	e := a.ips[held.ip]
	e.holders = slices.DeleteFunc(e.holders, func(s string) bool { return s == service })
	a.touchContaining(held)
	if len(e.holders) == 0 {
		delete(a.ips, held.ip)
		for _, p := range a.pools {
			p.markFree(held.ip)
		}
	}
	if a.byPool[held.pool][service]--; a.byPool[held.pool][service] == 0 {
		delete(a.byPool[held.pool], service)
		if len(a.byPool[held.pool]) == 0 {
			delete(a.byPool, held.pool)
		}
	}
	if len(h.ips) == 0 {
		if h.profile.key != "" {
			delete(a.byKey[h.profile.key], service)
			if len(a.byKey[h.profile.key]) == 0 {
				delete(a.byKey, h.profile.key)
			}
		}
		delete(a.holdings, service)
	}
}

// claimPool picks the pool an existing IP is attributed to. hints are the pools the
// Service's ip-allocated-from-pool annotation records (one per family, comma separated),
// which say where the running controller had it: the first hint that contains the IP,
// else the first known hint of the IP's family (its pool shrank, and a running controller
// keeps the IP attributed to it, so a restart must too, or a Service that names that pool
// would lose the address on its next Assign), else the first non-conflict pool containing
// it, else the first pool containing it (by name), else "" (an orphan).
func (a *Allocator) claimPool(ip netip.Addr, hints ...string) string {
	for _, h := range hints {
		if p := a.pools[h]; p != nil && p.Addresses.Contains(ip) {
			return h
		}
	}
	for _, h := range hints {
		if p := a.pools[h]; p != nil && p.fam(ipset.FamilyOf(ip)) != nil {
			return h
		}
	}
	best := ""
	bestConflict := true
	for _, p := range a.pools {
		if !p.Addresses.Contains(ip) {
			continue
		}
		better := best == "" ||
			bestConflict && !p.Conflict ||
			bestConflict == p.Conflict && p.Name < best
		if better {
			best, bestConflict = p.Name, p.Conflict
		}
	}
	return best
}

// adoptOrphans attributes orphan IPs to a pool that now contains them, so
// that Holders and Shrunk see them from then on.
func (a *Allocator) adoptOrphans() {
	orphans := a.byPool[""]
	if len(orphans) == 0 {
		return
	}
	svcs := make([]string, 0, len(orphans))
	for svc := range orphans {
		svcs = append(svcs, svc)
	}
	slices.Sort(svcs)
	for _, svc := range svcs {
		h := a.holdings[svc]
		for i, held := range h.ips {
			if held.pool != "" {
				continue
			}
			pool := a.claimPool(held.ip)
			if pool == "" {
				continue
			}
			h.ips[i].pool = pool
			if a.byPool[""][svc]--; a.byPool[""][svc] == 0 {
				delete(a.byPool[""], svc)
			}
			if a.byPool[pool] == nil {
				a.byPool[pool] = map[string]int{}
			}
			a.byPool[pool][svc]++
			a.touch(pool)
		}
	}
	if len(a.byPool[""]) == 0 {
		delete(a.byPool, "")
	}
}
