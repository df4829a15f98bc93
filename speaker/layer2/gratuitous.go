package layer2

import "time"

// Gratuitous ARPs and unsolicited NAs move existing cache entries of clients
// and the MAC tables of switches to this node without waiting for anyone to
// ask. What a Linux client does with them (checked by the package tests):
//   - an existing entry (any state but FAILED for NDP) takes our MAC and
//     becomes STALE, so the next packet goes to us and is confirmed by NUD;
//   - no entry: nothing is created, unless arp_accept=1 (IPv4) or, on a
//     router (forwarding=1), accept_untracked_na=1 (IPv6). That is fine:
//     such a client asks when it needs the IP, and we answer.
// drop_gratuitous_arp=1 / drop_unsolicited_na=1 on a client disable all this.

// takeoverBurst sends the remaining GratuitousCount-1 rounds for claims that
// appeared in one SetOwned call (the first round was sent by SetOwned).
// A claim that was dropped meanwhile is skipped.
func (a *Announcer) takeoverBurst(claims []*claim) {
	defer a.wg.Done()
	t := time.NewTicker(a.opts.GratuitousInterval)
	defer t.Stop()
	for i := 1; i < a.opts.GratuitousCount; i++ {
		select {
		case <-a.done:
			return
		case <-t.C:
		}
		if a.announceAll(claims) == 0 {
			return
		}
	}
}

// Reannounce sends, in the background, a takeover burst (GratuitousCount packets) for
// every owned IP, as if each had just been taken over. The caller uses it when this node
// may have been out of the picture while keeping its addresses: it was frozen, or cut off
// from the other speakers, and another node announced them meanwhile, so clients hold
// that node's MAC. Without it they would keep it until the refresh or their own timeout.
func (a *Announcer) Reannounce() {
	a.setMu.Lock()
	defer a.setMu.Unlock()
	if a.closed || a.opts.GratuitousCount <= 0 {
		return
	}
	claims := a.ownedClaims()
	if len(claims) == 0 {
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.announceAll(claims)
		if a.opts.GratuitousCount > 1 {
			a.wg.Add(1)
			a.takeoverBurst(claims)
		}
	}()
}

// ownedClaims returns the current claims.
func (a *Announcer) ownedClaims() []*claim {
	a.mu.RLock()
	defer a.mu.RUnlock()
	claims := make([]*claim, 0, len(a.owned))
	for _, c := range a.owned {
		claims = append(claims, c)
	}
	return claims
}

// refresh re-announces every owned IP each RefreshInterval.
func (a *Announcer) refresh() {
	defer a.wg.Done()
	t := time.NewTicker(a.opts.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-a.done:
			return
		case <-t.C:
		}
		a.announceAll(a.ownedClaims())
	}
}

// announceAll sends one gratuitous packet per claim that is still current and
// returns how many claims were still current.
func (a *Announcer) announceAll(claims []*claim) int {
	current := 0
	for _, c := range claims {
		if a.announce(c) {
			current++
		}
	}
	return current
}

// announce sends one gratuitous ARP / unsolicited NA for c, unless c has been
// dropped. It reports whether c is still current. An interface that is being
// re-opened is skipped: the listener announces everything once it is back.
func (a *Announcer) announce(c *claim) bool {
	if !a.pace() {
		return false
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.owned[c.key] != c {
		return false
	}
	ep := c.l.current()
	if ep == nil {
		return true
	}
	if err := ep.announce(c.key.ip); err != nil {
		a.log.Warn("layer2: gratuitous announcement failed",
			"ip", c.key.ip, "interface", c.key.iface, "error", err)
		return true
	}
	a.metrics.sentGratuitous(familyOf(c.key.ip))
	return true
}

// pace waits for the pacer's next slot, outside the lock on the owned addresses, so that
// answering requests and swapping the owned set are never held up by it (a takeover
// of many addresses makes SetOwned itself take up to their count / GratuitousRate). It reports false when the Announcer closed meanwhile.
func (a *Announcer) pace() bool {
	if a.pacer == nil {
		return true
	}
	r := a.pacer.Reserve()
	d := r.Delay()
	if d == 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-a.done:
		r.Cancel()
		return false
	case <-t.C:
		return true
	}
}
