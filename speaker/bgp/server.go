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
	// deletePath is the server's DeletePath (a test makes it fail).
	deletePath func(apiutil.DeletePathRequest) error
	// restarted: no peer was added since the process started. The sessions the first
	// peers open announce a restart (see toAPIPeer): the speaker cannot tell its first
	// start on a node from a restart, and a router that kept no routes of ours ignores
	// the bits, while one that did keeps forwarding on them instead of dropping them
	// when the new session comes up (kube-proxy forwarded all along, so the Forwarding
	// bit is true).
	restarted bool

	// configMu serialises every change of the peers' configuration on the server: Apply
	// and the delayed BFD start.
	configMu sync.Mutex

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

		restarted: true,

		bfdStarted: map[netip.Addr]bool{},
	}
	s.deletePath = s.server.DeletePath
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
	// No BFD start may push a peer's configuration while Apply changes it (see startBFD).
	s.configMu.Lock()
	defer s.configMu.Unlock()
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
		if err := s.server.AddPeer(ctx, &api.AddPeerRequest{Peer: toAPIPeer(withoutBFD(p), s.restarted)}); err != nil {
			errs = append(errs, fmt.Errorf("adding peer %s (%s): %w", name, p.Address, err))
			continue
		}
		s.setPeer(name, &p)
	}
	// Peers added later (a BGPPeer created while the speaker runs) open a first session.
	s.restarted = false
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
		if err := s.deletePath(apiutil.DeletePathRequest{Paths: []*apiutil.Path{toPath(old, s.nh4, s.nh6)}}); err != nil {
			// Still advertised: keep it, so the next Apply (the caller retries on the
			// error) withdraws it again instead of forgetting it.
			errs = append(errs, fmt.Errorf("withdrawing %s: %w", prefix, err))
			continue
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
