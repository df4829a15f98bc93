package bgp

// Session state: what GoBGP reports about each configured peer, recorded from its events
// and read by States (status, metrics).

import (
	"context"
	"maps"
	"net/netip"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

// State is one session as seen from this node.
type State struct {
	// Name of the BGPPeer; Address of the router.
	Name    string
	Address netip.Addr
	// Session is the FSM state: Idle, Connect, Active, OpenSent, OpenConfirm, Established.
	Session string
	Since   time.Time
	// Advertised counts the prefixes sent on the session.
	Advertised int
	// UpdatesSent and UpdatesReceived count UPDATE messages.
	UpdatesSent, UpdatesReceived uint64
	// BFD is the BFD session state ("" without BFD): Up, Down, Init or AdminDown.
	BFD string
}

// States reports every configured session, by peer name.
func (s *Speaker) States(ctx context.Context) map[string]State { return s.sessionStates(ctx, true) }

// Sessions is States without the prefixes sent (Advertised is 0), which GoBGP counts by
// walking its table: cheap enough to call on every plan.
func (s *Speaker) Sessions(ctx context.Context) map[string]State { return s.sessionStates(ctx, false) }

func (s *Speaker) sessionStates(ctx context.Context, counted bool) map[string]State {
	out := map[string]State{}
	byAddr := map[string]string{}
	for name, p := range s.peersSnapshot() {
		byAddr[p.Address.String()] = name
		out[name] = State{Name: name, Address: p.Address, Session: "Idle"}
	}
	s.mu.Lock()
	recorded := maps.Clone(s.states)
	s.mu.Unlock()
	_ = s.server.ListPeer(ctx, &api.ListPeerRequest{EnableAdvertised: counted}, func(p *api.Peer) {
		name, ok := byAddr[p.GetConf().GetNeighborAddress()]
		if !ok {
			return
		}
		st := out[name]
		st.Session = sessionName(p.GetState().GetSessionState())
		if addr, err := netip.ParseAddr(p.GetConf().GetNeighborAddress()); err == nil {
			st.Since = recorded[addr].since
		}
		for _, af := range p.GetAfiSafis() {
			st.Advertised += int(af.GetState().GetAdvertised())
		}
		if m := p.GetState().GetMessages(); m != nil {
			st.UpdatesSent = m.GetSent().GetUpdate()
			st.UpdatesReceived = m.GetReceived().GetUpdate()
		}
		if p.GetBfd().GetEnabled() {
			st.BFD = bfdName(p.GetState().GetBfdState().GetSessionState())
		}
		out[name] = st
	})
	return out
}

// peersSnapshot copies the configured peers: Apply and States run on different goroutines.
func (s *Speaker) peersSnapshot() map[string]Peer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.peers)
}

// peerEvent records session state changes.
func (s *Speaker) peerEvent(ev *apiutil.WatchEventMessage_PeerEvent, at time.Time) {
	if ev.Type != apiutil.PEER_EVENT_STATE {
		return
	}
	addr := ev.Peer.State.NeighborAddress
	if !addr.IsValid() {
		addr = ev.Peer.Conf.NeighborAddress
	}
	s.mu.Lock()
	prev, known := s.states[addr]
	changed := !known || prev.state != ev.Peer.State.SessionState
	if changed {
		s.states[addr] = sessionState{state: ev.Peer.State.SessionState, since: at}
	}
	s.mu.Unlock()
	if changed {
		s.opts.Logger.Info("BGP session state", "peer", addr, "state", ev.Peer.State.SessionState.String(),
			"reason", ev.Peer.State.DisconnectMessage)
		if ev.Peer.State.SessionState == bgp.BGP_FSM_ESTABLISHED {
			s.sessionUp(addr)
		}
		if s.opts.OnChange != nil {
			s.opts.OnChange()
		}
	}
}

// setPeer records a configured peer, or with nil forgets it and its session state.
func (s *Speaker) setPeer(name string, p *Peer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p != nil {
		s.peers[name] = *p
		return
	}
	delete(s.states, s.peers[name].Address)
	delete(s.bfdStarted, s.peers[name].Address)
	delete(s.peers, name)
}
