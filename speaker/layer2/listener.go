package layer2

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// listenerKey names one protocol on one interface.
type listenerKey struct {
	iface string
	fam   family
}

// endpoint is an open socket set answering one protocol on one interface.
type endpoint interface {
	// serve reads and answers until the sockets fail or are closed.
	serve() error
	// announce sends one gratuitous ARP / unsolicited NA for ip.
	announce(ip netip.Addr) error
	// syncGroups makes the multicast memberships match ips (NDP only).
	syncGroups(ips []netip.Addr) error
	close() error
}

// Re-open backoff after a socket error. Capped low because a node that
// cannot answer is a node that drops a Service's traffic.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

var errStopped = errors.New("listener stopped")

// listener keeps one endpoint open for as long as some owned IP needs it,
// re-opening it with backoff whenever it fails.
type listener struct {
	a   *Announcer
	key listenerKey

	ep atomic.Pointer[epRef] // nil while down; read without locks by senders

	mu      sync.Mutex // serialises endpoint swaps and group syncs
	stopped bool

	stop chan struct{}
	done chan struct{}
}

// epRef boxes an endpoint for atomic.Pointer.
type epRef struct{ endpoint }

// startListener opens the endpoint once right away, so SetOwned can report
// the error and announce at once, and then keeps it open in the background.
// The listener is returned even when the first open failed.
func (a *Announcer) startListener(key listenerKey) (*listener, error) {
	l := &listener{a: a, key: key, stop: make(chan struct{}), done: make(chan struct{})}
	err := l.open()
	go l.run(err == nil)
	if err != nil {
		return l, fmt.Errorf("layer2: %s on %s: %w", key.fam.protocol(), key.iface, err)
	}
	return l, nil
}

func (f family) protocol() string {
	if f == v4 {
		return "ARP"
	}
	return "NDP"
}

// current returns the open endpoint, or nil while it is being re-opened.
func (l *listener) current() endpoint {
	if r := l.ep.Load(); r != nil {
		return r.endpoint
	}
	return nil
}

// open opens a new endpoint in the Announcer's namespace and installs it.
func (l *listener) open() error {
	var ep endpoint
	err := l.a.ns.run(func() (err error) {
		if l.key.fam == v4 {
			ep, err = openARP(l.a, l.key.iface)
		} else {
			ep, err = openNDP(l.a, l.key.iface)
		}
		return err
	})
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		_ = ep.close()
		return errStopped
	}
	if err := ep.syncGroups(l.a.ipsOn(l)); err != nil {
		l.a.log.Warn("layer2: joining multicast groups failed",
			"interface", l.key.iface, "error", err)
	}
	l.ep.Store(&epRef{ep})
	return nil
}

// run serves the endpoint and re-opens it after failures until close.
func (l *listener) run(opened bool) {
	defer close(l.done)
	log := l.a.log.With("interface", l.key.iface, "protocol", l.key.fam.protocol())
	delay := minBackoff
	failures := 0
	for {
		if !opened {
			if !l.sleep(delay) {
				return
			}
			delay = min(delay*2, maxBackoff)
			if err := l.open(); err != nil {
				if errors.Is(err, errStopped) {
					return
				}
				failures++
				// A missing interface may stay missing for long: warn
				// about once a minute, not at every attempt.
				level := slog.LevelDebug
				if failures == 1 || failures%12 == 0 {
					level = slog.LevelWarn
				}
				log.Log(context.Background(), level, "layer2: re-open failed",
					"error", err, "attempts", failures, "retry_in", delay)
				continue
			}
			log.Info("layer2: re-opened", "attempts", failures+1)
			failures = 0
			// The interface may be a new one (deleted and created again):
			// tell caches and switches where the IPs are now (unless told to send none).
			if l.a.opts.GratuitousCount > 0 {
				l.a.announceAll(l.a.claimsOn(l))
			}
		}
		opened = false

		ep := l.current()
		if ep == nil {
			continue
		}
		started := time.Now()
		err := ep.serve()
		if l.isStopped() {
			return
		}
		log.Warn("layer2: listener failed, re-opening", "error", err)
		l.mu.Lock()
		if l.current() == ep {
			l.ep.Store(nil)
		}
		l.mu.Unlock()
		_ = ep.close()
		if time.Since(started) > maxBackoff {
			delay = minBackoff
		}
	}
}

// sleep waits d, or returns false if the listener is closed meanwhile.
func (l *listener) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-l.stop:
		return false
	case <-t.C:
		return true
	}
}

func (l *listener) isStopped() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stopped
}

// syncGroups brings the endpoint's multicast memberships in line with the
// IPs owned on it now.
func (l *listener) syncGroups() {
	l.mu.Lock()
	defer l.mu.Unlock()
	ep := l.current()
	if ep == nil {
		return // open() syncs when it succeeds
	}
	if err := ep.syncGroups(l.a.ipsOn(l)); err != nil {
		l.a.log.Warn("layer2: updating multicast groups failed",
			"interface", l.key.iface, "error", err)
	}
}

// close stops the listener and waits for its goroutine to exit.
func (l *listener) close() {
	l.mu.Lock()
	l.stopped = true
	r := l.ep.Swap(nil)
	l.mu.Unlock()
	close(l.stop)
	if r != nil {
		_ = r.close()
	}
	<-l.done
}
