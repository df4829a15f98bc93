package bgp

import (
	"context"
	"net/netip"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

// bfdStartDelay is how long an Established session runs before its BFD starts. FRR
// re-creates its BFD session for a neighbor once BGP is up (it learns the local address
// then) and the old session's AdminDown reaches us; GoBGP's BFD resets the BGP session on
// it, although RFC 5882 says AdminDown is no failure. Starting BFD after FRR has settled
// keeps a router's first contact with a node from flapping.
const bfdStartDelay = 2 * time.Second

// withoutBFD is the peer as first configured: BFD starts later, see bfdStartDelay.
func withoutBFD(p Peer) Peer {
	p.BFD = nil
	return p
}

// sessionUp schedules BFD for a session that has just become Established.
func (s *Speaker) sessionUp(addr netip.Addr) {
	s.mu.Lock()
	p, ok := s.peerByAddr(addr)
	pending := ok && p.BFD != nil && !s.bfdStarted[addr]
	s.mu.Unlock()
	if pending {
		time.AfterFunc(bfdStartDelay, func() { s.startBFD(addr) })
	}
}

// startBFD turns BFD on for a session still Established and configured with it. Only
// the BFD settings change, which GoBGP applies without resetting the session.
func (s *Speaker) startBFD(addr netip.Addr) {
	// Held across the read of the peer and the push, so an Apply that replaces the peer
	// meanwhile (another password, hold time, or no BFD) is either done before, and then
	// read here, or waits: a stale configuration is never pushed over a newer one.
	s.configMu.Lock()
	defer s.configMu.Unlock()
	s.mu.Lock()
	p, ok := s.peerByAddr(addr)
	ready := ok && p.BFD != nil && !s.bfdStarted[addr] && s.states[addr].state == bgp.BGP_FSM_ESTABLISHED
	s.mu.Unlock()
	if !ready {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The update carries the restart state GoBGP holds now: clearing it before the restart
	// deferral ended would make GoBGP skip sending the routes the deferral held back.
	if _, err := s.server.UpdatePeer(ctx, &api.UpdatePeerRequest{Peer: toAPIPeer(p, s.localRestarting(ctx, addr))}); err != nil {
		s.opts.Logger.Warn("starting BFD", "peer", addr, "error", err)
		return
	}
	s.mu.Lock()
	if q, ok := s.peerByAddr(addr); ok && q.BFD != nil {
		s.bfdStarted[addr] = true
	}
	s.mu.Unlock()
	s.opts.Logger.Info("BFD started", "peer", addr)
}

// peerByAddr finds a configured peer by address; s.mu must be held.
func (s *Speaker) peerByAddr(addr netip.Addr) (Peer, bool) {
	for _, p := range s.peers {
		if p.Address == addr {
			return p, true
		}
	}
	return Peer{}, false
}

// localRestarting tells whether GoBGP still treats the session to addr as a restarting
// speaker's (its restart deferral has not ended).
func (s *Speaker) localRestarting(ctx context.Context, addr netip.Addr) bool {
	var restarting bool
	_ = s.server.ListPeer(ctx, &api.ListPeerRequest{Address: addr.String()}, func(p *api.Peer) {
		restarting = p.GetGracefulRestart().GetLocalRestarting()
	})
	return restarting
}
