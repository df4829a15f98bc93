package layer2

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

	"golang.org/x/time/rate"
)

// ErrClosed is returned by SetOwned after Close.
var ErrClosed = errors.New("layer2: announcer closed")

// Announcer answers ARP/NDP for the addresses this node currently owns.
//
// It is bound to the network namespace of the thread that called New: every
// socket it opens, now or after an error, is opened there.
type Announcer struct {
	opts    Options
	log     *slog.Logger
	metrics *Metrics
	ns      *netnsHandle

	// setMu serialises SetOwned and Close. It guards listeners and closed,
	// and is the only writer of owned.
	setMu     sync.Mutex
	listeners map[listenerKey]*listener
	closed    bool

	// mu guards owned. Every packet that speaks for an IP is sent while
	// holding mu for reading, right after checking that the IP is still
	// owned, so once SetOwned has swapped the map no packet for a removed IP
	// can leave any more.
	mu    sync.RWMutex
	owned map[claimKey]*claim

	done chan struct{}  // closed by Close: stops refresh and takeover bursts
	wg   sync.WaitGroup // refresh and takeover-burst goroutines

	// pacer bounds gratuitous packets per second (Options.GratuitousRate); nil: no bound.
	pacer *rate.Limiter
}

// claimKey is one owned IP on one interface.
type claimKey struct {
	ip    netip.Addr
	iface string
}

// claim is one owned IP on one interface, and the listener answering for it.
// A new claim is made each time the IP appears, so a takeover burst can tell
// that the IP it announces was dropped (and maybe re-added) meanwhile.
type claim struct {
	key claimKey
	l   *listener
}

// New returns an Announcer that owns nothing yet.
func New(o Options) *Announcer {
	o = o.withDefaults()
	a := &Announcer{
		opts:      o,
		log:       o.Logger,
		metrics:   o.Metrics,
		ns:        pinNetns(),
		listeners: map[listenerKey]*listener{},
		owned:     map[claimKey]*claim{},
		done:      make(chan struct{}),
	}
	if o.GratuitousRate > 0 {
		// A burst of a tenth of a second's worth lets a small takeover go out at once.
		a.pacer = rate.NewLimiter(rate.Limit(o.GratuitousRate), max(1, int(o.GratuitousRate/10)))
	}
	if o.RefreshInterval > 0 {
		a.wg.Add(1)
		go a.refresh()
	}
	return a
}

// SetOwned replaces the desired state: each owned IP with the interfaces to
// answer on. An IP that appears on an interface (takeover) gets its first
// gratuitous packet before SetOwned returns and the rest in the background.
// An IP that disappears is not answered any more once SetOwned returns.
// Interfaces are opened as IPs need them and closed when no IP uses them.
//
// Errors are about single entries (an invalid IP, an IP without interfaces)
// or interfaces that could not be opened (yet). Everything else is applied
// anyway, and an interface that failed to open is retried in the background
// (the error is returned once, by the call that first needed it), so the
// caller may log the error and carry on.
func (a *Announcer) SetOwned(owned map[netip.Addr][]string) error {
	a.setMu.Lock()
	defer a.setMu.Unlock()
	if a.closed {
		return ErrClosed
	}

	want, errs := validate(owned)

	// Open what the new state needs before it takes effect, so that the
	// first gratuitous packets can go out at once.
	for k := range want {
		lk := listenerKey{iface: k.iface, fam: familyOf(k.ip)}
		if a.listeners[lk] == nil {
			l, err := a.startListener(lk)
			a.listeners[lk] = l
			if err != nil {
				errs = append(errs, err)
			}
		}
	}

	next := make(map[claimKey]*claim, len(want))
	var added []*claim
	ips := map[netip.Addr]bool{}
	for k := range want {
		ips[k.ip] = true
		if c := a.owned[k]; c != nil {
			next[k] = c
			continue
		}
		c := &claim{key: k, l: a.listeners[listenerKey{iface: k.iface, fam: familyOf(k.ip)}]}
		next[k] = c
		added = append(added, c)
	}

	a.mu.Lock()
	a.owned = next
	a.mu.Unlock()
	a.metrics.setOwned(len(ips))

	// Multicast memberships follow the new state; then idle interfaces close.
	for lk, l := range a.listeners {
		if !listenerUsed(next, lk) {
			l.close()
			delete(a.listeners, lk)
			continue
		}
		if lk.fam == v6 {
			l.syncGroups()
		}
	}

	if len(added) > 0 && a.opts.GratuitousCount > 0 {
		a.announceAll(added)
		if a.opts.GratuitousCount > 1 {
			a.wg.Add(1)
			go a.takeoverBurst(added)
		}
	}
	return errors.Join(errs...)
}

// validate turns the caller's map into claim keys and collects what is wrong
// with single entries.
func validate(owned map[netip.Addr][]string) (map[claimKey]bool, []error) {
	want := map[claimKey]bool{}
	var errs []error
	for ip, ifaces := range owned {
		orig := ip
		ip = ip.Unmap()
		switch {
		case !ip.IsValid():
			errs = append(errs, errors.New("layer2: invalid IP address"))
			continue
		case ip.Zone() != "":
			errs = append(errs, fmt.Errorf("layer2: %s: zoned addresses cannot be announced", orig))
			continue
		case ip.IsUnspecified() || ip.IsMulticast() || ip.IsLoopback() || ip.IsLinkLocalUnicast():
			errs = append(errs, fmt.Errorf("layer2: %s: not a unicast address that can be announced", orig))
			continue
		case len(ifaces) == 0:
			errs = append(errs, fmt.Errorf("layer2: %s: no interface to answer on", orig))
			continue
		}
		for _, name := range ifaces {
			if name == "" {
				errs = append(errs, fmt.Errorf("layer2: %s: empty interface name", orig))
				continue
			}
			want[claimKey{ip: ip, iface: name}] = true
		}
	}
	return want, errs
}

func listenerUsed(owned map[claimKey]*claim, lk listenerKey) bool {
	for k := range owned {
		if k.iface == lk.iface && familyOf(k.ip) == lk.fam {
			return true
		}
	}
	return false
}

// Close stops answering for every IP, closes all sockets and waits for all
// goroutines to exit. It does not announce anything: the node that takes over
// sends its own gratuitous packets.
func (a *Announcer) Close() error {
	a.setMu.Lock()
	defer a.setMu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true

	a.mu.Lock()
	a.owned = map[claimKey]*claim{}
	a.mu.Unlock()
	a.metrics.setOwned(0)

	close(a.done)
	for lk, l := range a.listeners {
		l.close()
		delete(a.listeners, lk)
	}
	a.wg.Wait()
	a.ns.close()
	return nil
}

// sendIfOwned runs send only if ip is owned on iface, and keeps the state
// locked while it does, so that SetOwned cannot drop the IP in between.
func (a *Announcer) sendIfOwned(ip netip.Addr, iface string, send func() error) (owned bool, err error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.owned[claimKey{ip: ip, iface: iface}] == nil {
		return false, nil
	}
	return true, send()
}

// isOwned reports whether ip is owned on iface right now.
func (a *Announcer) isOwned(ip netip.Addr, iface string) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.owned[claimKey{ip: ip, iface: iface}] != nil
}

// ipsOn lists the IPs a listener answers for.
func (a *Announcer) ipsOn(l *listener) []netip.Addr {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var ips []netip.Addr
	for k, c := range a.owned {
		if c.l == l {
			ips = append(ips, k.ip)
		}
	}
	return ips
}

// claimsOn lists the claims a listener answers for.
func (a *Announcer) claimsOn(l *listener) []*claim {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var cs []*claim
	for _, c := range a.owned {
		if c.l == l {
			cs = append(cs, c)
		}
	}
	return cs
}
