package membership

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// SetPeers replaces the addresses of the other speakers, as found by the caller from
// the API: "ip:port", or a bare IP meaning the configured port. The rejoin loop joins
// every peer that is not a live member, right away and then every RejoinInterval, so
// the cluster forms, and re-forms after a partition heals or a speaker restarts. This
// member's own address is skipped, so the caller may pass every speaker. Addresses that
// do not parse are logged and skipped.
func (m *Member) SetPeers(addrs []string) {
	peers := make([]netip.AddrPort, 0, len(addrs))
	seen := make(map[netip.AddrPort]bool, len(addrs))
	for _, s := range addrs {
		p, err := parsePeer(s, m.cfg.Port)
		if err != nil {
			m.log.Warn("ignoring peer address", "addr", s, "err", err)
			continue
		}
		if p == m.self || seen[p] {
			continue
		}
		seen[p] = true
		peers = append(peers, p)
	}
	m.peersMu.Lock()
	m.peers = peers
	m.peersMu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// parsePeer parses "ip:port" or "ip" (with defPort).
func parsePeer(s string, defPort int) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Port() == 0 {
			return netip.AddrPort{}, fmt.Errorf("port 0 in %q", s)
		}
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a.Unmap(), uint16(defPort)), nil
	}
	return netip.AddrPort{}, fmt.Errorf("%q is not an ip:port or an IP address", s)
}

// rejoinLoop joins missing peers on SetPeers and every RejoinInterval until stopped.
// memberlist never contacts a node again once it has been declared dead for a while,
// so without this loop two halves of a healed partition would stay apart forever.
func (m *Member) rejoinLoop() {
	defer close(m.loopDone)
	t := time.NewTicker(m.cfg.RejoinInterval)
	defer t.Stop()
	failing := make(map[netip.AddrPort]bool) // peers whose last join failed, to log changes only
	for {
		select {
		case <-m.stop:
			return
		case <-m.kick:
		case <-t.C:
		}
		m.rejoin(failing)
	}
}

// rejoin joins, in parallel, every peer that is not a live member. Each join is
// bounded by TCPTimeout, so one unreachable peer does not hold up the others.
func (m *Member) rejoin(failing map[netip.AddrPort]bool) {
	m.peersMu.Lock()
	peers := m.peers
	m.peersMu.Unlock()
	live := m.events.liveAddrs()

	var missing []netip.AddrPort
	wanted := make(map[netip.AddrPort]bool, len(peers))
	for _, p := range peers {
		wanted[p] = true
		if !live[p] {
			missing = append(missing, p)
		}
	}
	for p := range failing {
		if !wanted[p] {
			delete(failing, p) // no longer a peer
		}
	}
	errs := make([]error, len(missing))
	var wg sync.WaitGroup
	for i, p := range missing {
		wg.Go(func() { _, errs[i] = m.ml.Join([]string{p.String()}) })
	}
	wg.Wait()

	rejected := make(map[netip.AddrPort]bool)
	for i, p := range missing {
		err := errs[i]
		if err != nil {
			cause := joinFailureCause(err)
			m.metrics.joinFailures.WithLabelValues(cause).Inc()
			if cause == causeKeyRejected {
				rejected[p] = true
			}
		}
		switch {
		case err != nil && rejected[p] && !failing[p]:
			// Warn: this peer is up and holds another key, which no retry will fix.
			m.log.Warn("a peer rejects this speaker's gossip key (or this speaker rejects its key): "+
				"check that every speaker mounts the same memberlist Secret", "peer", p.String(), "err", err)
			failing[p] = true
		case err != nil && !failing[p]:
			// Info, not Warn: a peer whose node is down fails here every interval.
			m.log.Info("cannot join peer; will keep trying", "peer", p.String(), "err", err)
			failing[p] = true
		case err != nil:
			m.log.Debug("cannot join peer", "peer", p.String(), "err", err)
		default:
			m.log.Debug("joined peer", "peer", p.String())
			delete(failing, p)
		}
	}
	m.peersMu.Lock()
	m.keyRejected = rejected
	m.peersMu.Unlock()
}

// Causes of a failed join, the label of ironlb_memberlist_join_failures_total.
const (
	causeKeyRejected = "key_rejected" // the peer is up but the two hold different keys
	causeUnreachable = "unreachable"  // refused, timed out, or no route: down or blocked
)

// joinFailureCause tells a key mismatch from a peer that cannot be reached. memberlist
// gives no typed error, only its message, which has been the same since encryption was
// added to it ("No installed keys could decrypt the message").
func joinFailureCause(err error) string {
	if strings.Contains(strings.ToLower(err.Error()), "no installed keys could decrypt") {
		return causeKeyRejected
	}
	return causeUnreachable
}
