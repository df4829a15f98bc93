package membership

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Member is this speaker's membership in the speakers' gossip cluster.
// Its methods are safe for concurrent use.
type Member struct {
	cfg     Config
	keyring *memberlist.Keyring
	log     *slog.Logger
	ml      *memberlist.Memberlist
	events  *events
	metrics *metrics
	self    netip.AddrPort

	peersMu     sync.Mutex
	peers       []netip.AddrPort
	keyRejected map[netip.AddrPort]bool // peers whose last join failed on the key

	kick     chan struct{} // buffered 1: run the rejoin loop now
	stop     chan struct{} // closed to stop the rejoin loop
	loopDone chan struct{} // closed when the rejoin loop has returned

	stopOnce sync.Once
	leaveMu  sync.Mutex // serialises Leave and Shutdown, and guards down and downErr
	down     bool       // memberlist has been shut down
	downErr  error
}

// New starts a member: it binds the port, starts probing and gossiping, and starts the
// rejoin loop. It is alone until SetPeers names the other speakers.
func New(cfg Config) (*Member, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	key, err := DeriveKey(cfg.Secret)
	if err != nil {
		return nil, err
	}
	var accepted [][]byte
	for _, secret := range cfg.AcceptedSecrets {
		k, err := DeriveKey(secret)
		if err != nil {
			return nil, err
		}
		accepted = append(accepted, k)
	}
	keyring, err := memberlist.NewKeyring(accepted, key)
	if err != nil {
		return nil, fmt.Errorf("membership: %w", err)
	}
	log := cfg.Logger.With("component", "membership", "node", cfg.NodeName)
	met, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("membership: registering metrics: %w", err)
	}
	ev := newEvents(log, met)

	mc := cfg.memberlistConfig()
	if cfg.tune != nil {
		cfg.tune(mc)
	}
	mc.Keyring = keyring
	mc.Events = ev
	mc.Conflict = ev
	mc.Delegate = ev
	mc.Logger = newMemberlistLogger(cfg.Logger, cfg.MemberlistLogLevels, ev.refute)
	bind, err := netip.ParseAddr(cfg.BindAddr)
	if err != nil {
		met.unregister()
		return nil, fmt.Errorf("membership: bind address %q: %w", cfg.BindAddr, err)
	}
	nt, err := newTransport(netip.AddrPortFrom(bind, uint16(cfg.Port)), mc.Logger)
	if err != nil {
		met.unregister()
		return nil, fmt.Errorf("membership: %w", err)
	}
	mc.Transport = nt
	if cfg.wrapTransport != nil {
		mc.Transport = cfg.wrapTransport(nt)
	}

	ml, err := memberlist.Create(mc)
	if err != nil {
		_ = nt.Shutdown()
		met.unregister()
		return nil, fmt.Errorf("membership: starting memberlist on %s: %w",
			netip.AddrPortFrom(netip.MustParseAddr(cfg.BindAddr), uint16(cfg.Port)), err)
	}
	m := &Member{
		cfg:      cfg,
		keyring:  keyring,
		log:      log,
		ml:       ml,
		events:   ev,
		metrics:  met,
		self:     addrPort(ml.LocalNode()),
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		loopDone: make(chan struct{}),
	}
	log.Info("gossip started", "addr", m.self.String(),
		"probeInterval", cfg.ProbeInterval, "suspicionMult", cfg.SuspicionMult)
	go m.rejoinLoop()
	return m, nil
}

// SetSecrets replaces the gossip keys without a restart: messages are encrypted with the
// key derived from primary, and those of any key in primary or accepted are read. This is
// what makes rotation safe: first every speaker accepts the new key, then every speaker
// sends with it while still accepting the old one, then the old one goes.
func (m *Member) SetSecrets(primary []byte, accepted [][]byte) error {
	want := map[string]bool{}
	pk, err := DeriveKey(primary)
	if err != nil {
		return err
	}
	keys := [][]byte{pk}
	for _, s := range accepted {
		k, err := DeriveKey(s)
		if err != nil {
			return err
		}
		keys = append(keys, k)
	}
	for _, k := range keys {
		want[string(k)] = true
		if err := m.keyring.AddKey(k); err != nil {
			return fmt.Errorf("membership: installing a key: %w", err)
		}
	}
	if err := m.keyring.UseKey(pk); err != nil {
		return fmt.Errorf("membership: using the primary key: %w", err)
	}
	for _, k := range m.keyring.GetKeys() {
		if !want[string(k)] {
			if err := m.keyring.RemoveKey(k); err != nil {
				return fmt.Errorf("membership: removing a key: %w", err)
			}
		}
	}
	m.log.Info("gossip keys replaced", "accepted", len(keys))
	return nil
}

// MaxMetaLen is the most metadata a member can carry (memberlist's limit).
const MaxMetaLen = memberlist.MetaMaxSize

// SetMeta publishes a small piece of metadata about this node to every member (the
// speaker uses it for the interfaces it has up, so all speakers elect from the same
// facts). It returns once the update is queued for gossip.
func (m *Member) SetMeta(meta []byte) error {
	if len(meta) > MaxMetaLen {
		return fmt.Errorf("membership: metadata is %d bytes; at most %d fit", len(meta), MaxMetaLen)
	}
	b := bytes.Clone(meta)
	m.events.local.Store(&b)
	return m.ml.UpdateNode(m.cfg.TCPTimeout)
}

// AliveMeta returns the live members (self included) with the metadata each published.
func (m *Member) AliveMeta() map[string][]byte { return m.events.aliveMeta() }

// Name is this member's node name.
func (m *Member) Name() string { return m.cfg.NodeName }

// Addr is the address this member advertises to the others.
func (m *Member) Addr() netip.AddrPort { return m.self }

// Alive returns the sorted names of the live members, this one included. A member
// that is merely suspected still counts: it may yet refute the suspicion. After Leave
// or Shutdown it returns nothing, so a caller deciding ownership from it owns nothing.
func (m *Member) Alive() []string { return m.events.names() }

// LastAlive returns, for every member seen since this one started (itself included),
// when it was last live; the live ones map to now. A speaker that cannot reach the others
// compares it with what the API says of them: a peer that came up after it was last seen
// here is alive and unreachable, not dead.
func (m *Member) LastAlive() map[string]time.Time { return m.events.lastAlive() }

// KeyRejected lists the peers whose last join failed because the two sides could not
// decrypt each other's messages: speakers that are up but hold another gossip key.
func (m *Member) KeyRejected() []netip.AddrPort {
	m.peersMu.Lock()
	defer m.peersMu.Unlock()
	out := make([]netip.AddrPort, 0, len(m.keyRejected))
	for p := range m.keyRejected {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return out
}

// Refutations counts the times the others declared this member suspect or dead while it
// was up (it was frozen, or cut off from them) and it refuted them. Each time, another
// node may have taken over its addresses meanwhile, and clients learnt that node's MAC;
// a change of the count is also signalled on Changes.
func (m *Member) Refutations() uint64 { return m.events.refuted.Load() }

// Changes signals, coalesced, that the set of live members changed (a join, a leave
// or a failure). Read Alive after each signal. The channel is never closed.
func (m *Member) Changes() <-chan struct{} { return m.events.changes }

// Leave tells the cluster this member is going away, so the others drop it at once
// instead of after failure detection, then shuts it down. It waits up to timeout for
// the news to go out (0: as long as it takes). After Leave, Shutdown does nothing.
func (m *Member) Leave(timeout time.Duration) error {
	m.stopLoop()
	m.leaveMu.Lock()
	defer m.leaveMu.Unlock()
	if m.down {
		return nil
	}
	start := time.Now()
	// First gossip "leaving" metadata, so the others count a leave, not a failure.
	// It must go out before the leave itself, which supersedes it in the gossip queue.
	m.events.leaving.Store(true)
	var errs []error
	if err := m.ml.UpdateNode(timeout); err != nil {
		errs = append(errs, fmt.Errorf("membership: announcing leave: %w", err))
	}
	rest := time.Duration(0) // memberlist: no limit
	if timeout > 0 {
		rest = max(timeout-time.Since(start), time.Millisecond)
	}
	if err := m.ml.Leave(rest); err != nil {
		errs = append(errs, fmt.Errorf("membership: leaving: %w", err))
	}
	m.log.Info("left the cluster", "took", time.Since(start))
	errs = append(errs, m.shutdownLocked())
	return errors.Join(errs...)
}

// Shutdown stops this member without telling the others, as a crash would: they
// drop it after failure detection. Use Leave for a graceful stop.
func (m *Member) Shutdown() error {
	m.stopLoop()
	m.leaveMu.Lock()
	defer m.leaveMu.Unlock()
	return m.shutdownLocked()
}

func (m *Member) shutdownLocked() error {
	if m.down {
		return m.downErr
	}
	m.down = true
	m.events.stop()
	if err := m.ml.Shutdown(); err != nil {
		m.downErr = fmt.Errorf("membership: shutdown: %w", err)
	}
	m.metrics.unregister()
	m.log.Info("gossip stopped")
	return m.downErr
}

// stopLoop stops the rejoin loop and waits for it, so no join runs after a leave.
func (m *Member) stopLoop() {
	m.stopOnce.Do(func() { close(m.stop) })
	<-m.loopDone
}
