package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
)

// Options configure a Speaker.
type Options struct {
	Logger   *slog.Logger
	LogLevel slog.Level
	// OnChange is called (without locks held) when a session changes state, so status
	// can be written at once instead of on a timer.
	OnChange func()
}

// Speaker is the node's BGP server. Apply is safe to call from one goroutine at a time;
// States may be called from any.
type Speaker struct {
	opts   Options
	server *server.BgpServer

	// Owned by Apply.
	running  bool
	routerID netip.Addr
	routes   map[netip.Prefix]Route
	nh4, nh6 netip.Addr
	policy   exportPolicy

	mu     sync.Mutex
	peers  map[string]Peer             // by name; written by Apply, read by States
	states map[netip.Addr]sessionState // by peer address
	// bfdStarted marks the sessions whose BFD runs (see bfdStartDelay).
	bfdStarted map[netip.Addr]bool
	cancel     context.CancelFunc
}

type sessionState struct {
	state bgp.FSMState
	since time.Time
}

// New creates the server; it opens no socket until Apply is given a peer.
func New(opts Options) *Speaker {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	// GoBGP logs every FSM step at info; its warnings are enough unless we debug, and our
	// own log line per session state change says what a user needs.
	level := &slog.LevelVar{}
	level.Set(max(opts.LogLevel, slog.LevelWarn))
	gobgpLogger := slog.New(minLevel{opts.Logger.Handler(), level})
	s := &Speaker{
		opts:   opts,
		server: server.NewBgpServer(server.LoggerOption(gobgpLogger, level)),
		peers:  map[string]Peer{},
		routes: map[netip.Prefix]Route{},
		states: map[netip.Addr]sessionState{},

		bfdStarted: map[netip.Addr]bool{},
	}
	go s.server.Serve()
	return s
}

// Config is the whole wanted state of the node's BGP server.
type Config struct {
	RouterID netip.Addr
	// NodeIPv4 and NodeIPv6 are the next hops of routes carried over a session of the
	// other family (dual-stack sessions).
	NodeIPv4, NodeIPv6 netip.Addr
	Peers              []Peer
	Routes             []Route
}

// Apply makes the server match the configuration. Routes are added before new peers so a
// new session's first updates already carry them; after a speaker restart with graceful
// restart that matters, because the router drops the stale routes that are not sent again
// before the end-of-RIB marker.
func (s *Speaker) Apply(ctx context.Context, c Config) error {
	routerID, peers, routes := c.RouterID, c.Peers, c.Routes
	if len(peers) == 0 && !s.running {
		return nil
	}
	if s.running && routerID != s.routerID {
		// The router ID is global to the server: a change restarts every session.
		s.opts.Logger.Info("router ID changed: restarting BGP", "from", s.routerID, "to", routerID)
		if err := s.stop(false); err != nil {
			return err
		}
	}
	if !s.running {
		if err := s.start(ctx, routerID, peers); err != nil {
			return err
		}
	}
	want := map[string]Peer{}
	for _, p := range peers {
		want[p.Name] = p
	}
	var errs []error
	// Peers that went away or changed leave first, so a changed peer can be added again.
	for name, old := range s.peersSnapshot() {
		if p, ok := want[name]; ok && reflect.DeepEqual(p, old) {
			continue
		}
		if err := s.server.DeletePeer(ctx, &api.DeletePeerRequest{Address: old.Address.String()}); err != nil {
			errs = append(errs, fmt.Errorf("removing peer %s: %w", name, err))
		}
		s.setPeer(name, nil)
	}
	policyChanged, err := s.applyPolicy(ctx, want, routes)
	if err != nil {
		errs = append(errs, err)
	}
	nh4, nh6 := s.nextHops(c)
	errs = append(errs, s.applyRoutes(routes, nh4, nh6)...)
	have := s.peersSnapshot()
	for _, name := range slices.Sorted(maps.Keys(want)) {
		p := want[name]
		if _, ok := have[name]; ok {
			continue
		}
		if err := s.server.AddPeer(ctx, &api.AddPeerRequest{Peer: toAPIPeer(withoutBFD(p))}); err != nil {
			errs = append(errs, fmt.Errorf("adding peer %s (%s): %w", name, p.Address, err))
			continue
		}
		s.setPeer(name, &p)
	}
	if policyChanged {
		// The export policy is evaluated when routes are sent: resend to every peer.
		for _, p := range s.peersSnapshot() {
			_ = s.server.ResetPeer(ctx, &api.ResetPeerRequest{Address: p.Address.String(), Soft: true, Direction: api.ResetPeerRequest_DIRECTION_OUT})
		}
	}
	return errors.Join(errs...)
}

func (s *Speaker) start(ctx context.Context, routerID netip.Addr, peers []Peer) error {
	asn := uint32(64512) // unused on the wire: every peer sets its own local AS
	if len(peers) > 0 {
		asn = peers[0].MyASN
	}
	err := s.server.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn:      asn,
		RouterId: routerID.String(),
		// Never listen: speakers dial their routers, and hostNetwork pods must not take
		// port 179 from a routing daemon the node may already run.
		ListenPort: -1,
	}})
	if err != nil {
		return fmt.Errorf("starting BGP: %w", err)
	}
	s.running, s.routerID = true, routerID
	s.routes, s.policy = map[netip.Prefix]Route{}, exportPolicy{}
	s.mu.Lock()
	s.peers = map[string]Peer{}
	s.mu.Unlock()
	if err := s.server.SetPolicies(ctx, policies(nil)); err != nil {
		return fmt.Errorf("defining the policies: %w", err)
	}
	if err := s.assignPolicies(ctx); err != nil {
		return err
	}
	watchCtx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.cancel = cancel
	s.mu.Unlock()
	return s.server.WatchEvent(watchCtx, server.WatchEventMessageCallbacks{OnPeerUpdate: s.peerEvent}, server.WatchPeer())
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

// Close stops the server. With graceful true, sessions with graceful restart are closed
// without a notification, so their routers keep our routes until we are back; the others
// are told (Cease) and withdraw at once.
//
// The server's own Stop would stop BGP a second time and log an error for it, so it is
// not called: the BFD goroutines it would also stop end with the process.
func (s *Speaker) Close(graceful bool) error {
	return s.stop(graceful)
}

func (s *Speaker) stop(graceful bool) error {
	s.mu.Lock()
	if s.cancel != nil {
		s.cancel()
		s.cancel = nil
	}
	s.states = map[netip.Addr]sessionState{}
	s.peers = map[string]Peer{}
	s.bfdStarted = map[netip.Addr]bool{}
	s.mu.Unlock()
	if !s.running {
		return nil
	}
	s.running = false
	return s.server.StopBgp(context.Background(), &api.StopBgpRequest{AllowGracefulRestart: graceful})
}

// applyRoutes adds new or changed paths and withdraws those no longer wanted.
func (s *Speaker) applyRoutes(routes []Route, nh4, nh6 netip.Addr) []error {
	want := map[netip.Prefix]Route{}
	for _, r := range routes {
		want[r.Prefix] = r
	}
	var errs []error
	for prefix, old := range s.routes {
		if _, ok := want[prefix]; ok {
			continue
		}
		if err := s.server.DeletePath(apiutil.DeletePathRequest{Paths: []*apiutil.Path{toPath(old, s.nh4, s.nh6)}}); err != nil {
			errs = append(errs, fmt.Errorf("withdrawing %s: %w", prefix, err))
		}
		delete(s.routes, prefix)
	}
	resend := nh4 != s.nh4 || nh6 != s.nh6 // a dual-stack session came or went
	s.nh4, s.nh6 = nh4, nh6
	var add []*apiutil.Path
	var added []Route
	for _, prefix := range slices.SortedFunc(maps.Keys(want), comparePrefix) {
		r := want[prefix]
		if old, ok := s.routes[prefix]; ok && !resend && sameAttributes(r, old) {
			s.routes[prefix] = r // only the peers may differ; the export policy handles those
			continue
		}
		// A path from the same source for the same prefix replaces the old one in place.
		add = append(add, toPath(r, nh4, nh6))
		added = append(added, r)
	}
	if len(add) == 0 {
		return errs
	}
	resps, err := s.server.AddPath(apiutil.AddPathRequest{Paths: add})
	for i, r := range added {
		switch {
		case i < len(resps) && resps[i].Error != nil:
			errs = append(errs, fmt.Errorf("advertising %s: %w", r.Prefix, resps[i].Error))
		case len(resps) == 0 && err != nil:
			errs = append(errs, fmt.Errorf("advertising %s: %w", r.Prefix, err))
		default:
			s.routes[r.Prefix] = r
		}
	}
	return errs
}

// nextHops returns the explicit next hop of each family. A route sent over a session of
// its own family may leave it unspecified (GoBGP then uses the session's local address);
// over a session of the other family it must be the node's address of its own family.
func (s *Speaker) nextHops(c Config) (netip.Addr, netip.Addr) {
	nh4, nh6 := netip.IPv4Unspecified(), netip.IPv6Unspecified()
	for _, p := range c.Peers {
		if p.DualStack && p.Address.Is6() && c.NodeIPv4.IsValid() {
			nh4 = c.NodeIPv4
		}
		if p.DualStack && p.Address.Is4() && c.NodeIPv6.IsValid() {
			nh6 = c.NodeIPv6
		}
	}
	return nh4, nh6
}

func sameAttributes(a, b Route) bool {
	return slices.Equal(a.Communities, b.Communities) && slices.Equal(a.LargeCommunities, b.LargeCommunities) &&
		reflect.DeepEqual(a.LocalPref, b.LocalPref)
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// toPath builds the GoBGP path for a route: origin IGP, the next hop, and its communities
// and LOCAL_PREF (GoBGP strips LOCAL_PREF towards eBGP peers).
func toPath(r Route, nh4, nh6 netip.Addr) *apiutil.Path {
	nlri, _ := bgp.NewIPAddrPrefix(r.Prefix.Masked())
	attrs := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP)}
	family := bgp.RF_IPv4_UC
	if r.Prefix.Addr().Is4() {
		nh, _ := bgp.NewPathAttributeNextHop(nh4)
		attrs = append(attrs, nh)
	} else {
		family = bgp.RF_IPv6_UC
		mp, _ := bgp.NewPathAttributeMpReachNLRI(bgp.RF_IPv6_UC, []bgp.PathNLRI{{NLRI: nlri}}, nh6)
		attrs = append(attrs, mp)
	}
	if len(r.Communities) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeCommunities(r.Communities))
	}
	if len(r.LargeCommunities) > 0 {
		var l []*bgp.LargeCommunity
		for _, c := range r.LargeCommunities {
			l = append(l, bgp.NewLargeCommunity(c[0], c[1], c[2]))
		}
		attrs = append(attrs, bgp.NewPathAttributeLargeCommunities(l))
	}
	if r.LocalPref != nil {
		attrs = append(attrs, bgp.NewPathAttributeLocalPref(*r.LocalPref))
	}
	return &apiutil.Path{Family: family, Nlri: nlri, Attrs: attrs}
}

// idleHoldAfterReset is how long, in seconds, a reset session waits before reconnecting.
const idleHoldAfterReset = 2

// toAPIPeer converts a Peer to GoBGP's neighbor configuration.
func toAPIPeer(p Peer) *api.Peer {
	keepalive := p.KeepaliveTime
	if keepalive == 0 {
		keepalive = p.HoldTime / 3
	}
	out := &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: p.Address.String(),
			PeerAsn:         p.PeerASN,
			LocalAsn:        p.MyASN,
			AuthPassword:    p.Password,
			Description:     p.Name,
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			ConnectRetry:      uint64(max(p.ConnectTime/time.Second, 1)),
			HoldTime:          uint64(p.HoldTime / time.Second),
			KeepaliveInterval: uint64(keepalive / time.Second),
			// Updates go out as soon as they are ready: failover is the point.
			MinimumAdvertisementInterval: 0,
			// After a reset (BFD down included) try again soon, not after GoBGP's 30s. It
			// matters on first contact with FRR, whose BFD session is re-created once BGP
			// is up: the old session's AdminDown makes GoBGP reset the new BGP session.
			IdleHoldTimeAfterReset: idleHoldAfterReset,
		}},
		Transport: &api.Transport{RemotePort: uint32(p.Port)},
	}
	if p.SourceAddress.IsValid() {
		out.Transport.LocalAddress = p.SourceAddress.String()
	}
	if p.EBGPMultiHop {
		out.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: 255}
	}
	gr := p.GracefulRestart > 0
	if gr {
		out.GracefulRestart = &api.GracefulRestart{Enabled: true, RestartTime: uint32(p.GracefulRestart / time.Second)}
	}
	v4, v6 := p.Families()
	for _, f := range []struct {
		on  bool
		afi api.Family_Afi
	}{{v4, api.Family_AFI_IP}, {v6, api.Family_AFI_IP6}} {
		if !f.on {
			continue
		}
		af := &api.AfiSafi{Config: &api.AfiSafiConfig{Family: &api.Family{Afi: f.afi, Safi: api.Family_SAFI_UNICAST}, Enabled: true}}
		if gr {
			af.MpGracefulRestart = &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}}
		}
		out.AfiSafis = append(out.AfiSafis, af)
	}
	if p.BFD != nil {
		out.Bfd = &api.BfdPeerConfig{
			Enabled:                  true,
			DesiredMinimumTxInterval: uint32(p.BFD.TransmitInterval / time.Microsecond),
			RequiredMinimumReceive:   uint32(p.BFD.ReceiveInterval / time.Microsecond),
			DetectionMultiplier:      p.BFD.DetectMultiplier,
		}
	}
	return out
}

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
func (s *Speaker) States(ctx context.Context) map[string]State {
	out := map[string]State{}
	byAddr := map[string]string{}
	for name, p := range s.peersSnapshot() {
		byAddr[p.Address.String()] = name
		out[name] = State{Name: name, Address: p.Address, Session: "Idle"}
	}
	s.mu.Lock()
	recorded := maps.Clone(s.states)
	s.mu.Unlock()
	_ = s.server.ListPeer(ctx, &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
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

func sessionName(st api.PeerState_SessionState) string {
	switch st {
	case api.PeerState_SESSION_STATE_IDLE:
		return "Idle"
	case api.PeerState_SESSION_STATE_CONNECT:
		return "Connect"
	case api.PeerState_SESSION_STATE_ACTIVE:
		return "Active"
	case api.PeerState_SESSION_STATE_OPENSENT:
		return "OpenSent"
	case api.PeerState_SESSION_STATE_OPENCONFIRM:
		return "OpenConfirm"
	case api.PeerState_SESSION_STATE_ESTABLISHED:
		return "Established"
	}
	return "Idle"
}

func bfdName(st api.BfdSessionState) string {
	switch st {
	case api.BfdSessionState_BFD_SESSION_STATE_UP:
		return "Up"
	case api.BfdSessionState_BFD_SESSION_STATE_INIT:
		return "Init"
	case api.BfdSessionState_BFD_SESSION_STATE_ADMIN_DOWN:
		return "AdminDown"
	}
	return "Down"
}

// minLevel drops records below a level before they reach the wrapped handler.
type minLevel struct {
	slog.Handler
	level slog.Leveler
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level.Level() && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.level}
}
func (h minLevel) WithGroup(n string) slog.Handler { return minLevel{h.Handler.WithGroup(n), h.level} }
