package membership

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults. They start from memberlist.DefaultLANConfig, whose values aim at clusters of
// thousands of nodes and detect a dead node in about 5 s. A speaker cluster is one node
// per Kubernetes node on one L2 segment (typically 3 to a few dozen), and layer-2
// failover wants a dead node declared dead in about half a second, so the probe and
// suspicion timings are scaled down about tenfold. The cost is bandwidth, which at this
// size stays tiny: each node sends about 10 pings a second of ~100 bytes each.
//
// Detection time for a killed node, for 3 to 10 nodes, is about
//
//	wait for the next probe of it         0 .. ProbeInterval (shorter the more nodes probe)
//	+ the failed probe round              ProbeInterval (direct, indirect and TCP pings)
//	+ the suspicion timeout               SuspicionMult × max(1, log10(N)) × ProbeInterval
//	+ the "dead" gossip reaching everyone ~GossipInterval
//
// = 0..100 + 100 + 300 + ~20 ms, so roughly 400–550 ms.
const (
	// DefaultPort is memberlist's usual port, used for both TCP and UDP.
	DefaultPort = 7946

	// DefaultProbeInterval (memberlist: 1 s). Each node probes one other node per
	// interval; it is the unit of every detection delay, so it sets the failover time.
	DefaultProbeInterval = 100 * time.Millisecond

	// DefaultProbeTimeout (memberlist: 500 ms) is how long a direct UDP ping waits
	// before indirect pings are tried. LAN round trips are well under a millisecond;
	// 50 ms absorbs GC and scheduling pauses on a busy node and leaves the other half
	// of the probe interval for indirect and TCP pings.
	DefaultProbeTimeout = 50 * time.Millisecond

	// DefaultSuspicionMult (memberlist: 4). The suspicion timeout is SuspicionMult ×
	// max(1, log10(N)) × ProbeInterval, 300 ms for up to 10 nodes. memberlist wants
	// SuspicionMult-2 = 1 independent confirmation from another node before it uses
	// that minimum, so one node with a local network problem cannot evict a healthy
	// peer on its own (in a 2-node cluster no confirmation is possible and the minimum
	// applies directly). 3 is the smallest value that still asks for a confirmation.
	DefaultSuspicionMult = 3

	// DefaultSuspicionMaxTimeoutMult (memberlist: 6, unchanged). Without the
	// confirmation the timeout is this many times longer (1.8 s here). That only
	// happens when the suspecting node itself is cut off, and the longer wait gives the
	// suspect time to refute rather than flap.
	DefaultSuspicionMaxTimeoutMult = 6

	// DefaultGossipInterval (memberlist: 200 ms). Suspicions, refutations and deaths
	// spread by gossip; at 20 ms a verdict reaches every node within a few tens of
	// milliseconds instead of adding hundreds to failover. memberlist only sends when
	// it has something queued, so an idle cluster pays nothing for the short interval.
	DefaultGossipInterval = 20 * time.Millisecond

	// DefaultGossipNodes (memberlist: 3, unchanged): with 3 targets per round a message
	// reaches a 10-node cluster in two rounds.
	DefaultGossipNodes = 3

	// DefaultRetransmitMult (memberlist: 4, unchanged): each message is sent
	// RetransmitMult × ceil(log10(N+1)) times, enough against occasional UDP loss.
	DefaultRetransmitMult = 4

	// DefaultPushPullInterval (memberlist: 30 s). The periodic full-state exchange over
	// TCP repairs anything gossip missed. The state of a few dozen nodes is a few KB,
	// so doing it every 5 s costs little and bounds how long a lost update can linger.
	DefaultPushPullInterval = 5 * time.Second

	// DefaultTCPTimeout (memberlist: 10 s) bounds TCP connects and state exchanges,
	// including joins. On a LAN a second is plenty, and a short bound keeps a join to
	// an unreachable peer (whose SYN is never answered) from stalling the rejoin loop,
	// Leave or Shutdown for ten seconds.
	DefaultTCPTimeout = time.Second

	// DefaultIndirectChecks (memberlist: 3, unchanged): nodes asked to ping a suspect on
	// our behalf, so a single lossy path does not make us suspect a healthy node.
	DefaultIndirectChecks = 3

	// DefaultRejoinInterval is how often the rejoin loop retries peers that are not
	// live members. It bounds how long a healed partition or a restarted speaker stays
	// apart, and a join attempt costs one TCP connection per missing peer.
	DefaultRejoinInterval = 2 * time.Second
)

// gossipLabel is sent on every packet and stream and, with encryption, authenticated as
// GCM additional data. It keeps ironlb's gossip apart from any other memberlist cluster
// (MetalLB also uses port 7946) even if someone reused the same Secret.
const gossipLabel = "ironlb"

// Config configures a Member. The speaker fills it from flags, so every timing is here.
// A zero field means its default (the Default* constants); start from DefaultConfig to
// see them.
type Config struct {
	// NodeName is this speaker's member name: the Kubernetes Node name, so that Alive
	// can be compared directly with Node objects. Required and unique in the cluster.
	NodeName string

	// BindAddr is the IP to listen on, normally the node's IP (status.hostIP). Required.
	// If it is unspecified (0.0.0.0 or ::), AdvertiseAddr is required.
	BindAddr string
	// AdvertiseAddr is the IP other speakers reach this one at. Empty means BindAddr.
	AdvertiseAddr string
	// Port is the TCP and UDP port, the same on every speaker (default 7946).
	Port int

	// Secret is the content of the Kubernetes Secret the gossip key is derived from
	// (see DeriveKey). At least MinSecretLen bytes; there is no unencrypted mode.
	Secret []byte
	// AcceptedSecrets are further Secrets whose keys are read but not sent with, for a
	// rotation in progress (see Member.SetSecrets).
	AcceptedSecrets [][]byte

	// Failure-detection and gossip timings: see the Default* constants for the values
	// and why they differ from memberlist's LAN defaults.
	ProbeInterval           time.Duration
	ProbeTimeout            time.Duration
	SuspicionMult           int
	SuspicionMaxTimeoutMult int
	GossipInterval          time.Duration
	GossipNodes             int
	RetransmitMult          int
	PushPullInterval        time.Duration
	TCPTimeout              time.Duration
	IndirectChecks          int

	// RejoinInterval is how often peers that are not live members are joined again.
	RejoinInterval time.Duration

	// Logger receives this package's logs. nil means slog.Default().
	Logger *slog.Logger
	// MemberlistLogLevels keeps memberlist's own levels ([INFO], [WARN], [ERR]) for its
	// log lines. By default they are all logged at debug: with 100 ms probes memberlist
	// reports every failed ping of a dead node, which would flood the speaker's log,
	// and this package already logs joins, leaves and failures at info.
	MemberlistLogLevels bool

	// Registerer receives the package's metrics. nil means they are not registered.
	Registerer prometheus.Registerer

	// wrapTransport lets tests put a lossy or partitionable transport around the
	// real network transport.
	wrapTransport func(memberlist.Transport) memberlist.Transport
	// tune lets a benchmark change memberlist's configuration (to compare a setting).
	tune func(*memberlist.Config)
}

// DefaultConfig returns a Config with every default filled in, for flag defaults.
// NodeName, BindAddr and Secret are still to be set.
func DefaultConfig() Config {
	return Config{
		Port:                    DefaultPort,
		ProbeInterval:           DefaultProbeInterval,
		ProbeTimeout:            DefaultProbeTimeout,
		SuspicionMult:           DefaultSuspicionMult,
		SuspicionMaxTimeoutMult: DefaultSuspicionMaxTimeoutMult,
		GossipInterval:          DefaultGossipInterval,
		GossipNodes:             DefaultGossipNodes,
		RetransmitMult:          DefaultRetransmitMult,
		PushPullInterval:        DefaultPushPullInterval,
		TCPTimeout:              DefaultTCPTimeout,
		IndirectChecks:          DefaultIndirectChecks,
		RejoinInterval:          DefaultRejoinInterval,
	}
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setInt(&c.Port, d.Port)
	setDur(&c.ProbeInterval, d.ProbeInterval)
	setDur(&c.ProbeTimeout, d.ProbeTimeout)
	setInt(&c.SuspicionMult, d.SuspicionMult)
	setInt(&c.SuspicionMaxTimeoutMult, d.SuspicionMaxTimeoutMult)
	setDur(&c.GossipInterval, d.GossipInterval)
	setInt(&c.GossipNodes, d.GossipNodes)
	setInt(&c.RetransmitMult, d.RetransmitMult)
	setDur(&c.PushPullInterval, d.PushPullInterval)
	setDur(&c.TCPTimeout, d.TCPTimeout)
	setInt(&c.IndirectChecks, d.IndirectChecks)
	setDur(&c.RejoinInterval, d.RejoinInterval)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// validate reports every problem in a defaulted Config at once, so a speaker with
// several bad flags is told about all of them in one go.
func (c Config) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("membership: "+format, a...)) }
	if c.NodeName == "" {
		bad("node name is empty")
	}
	bind, err := netip.ParseAddr(c.BindAddr)
	if err != nil {
		bad("bind address %q is not an IP address", c.BindAddr)
	}
	if c.AdvertiseAddr != "" {
		if a, err := netip.ParseAddr(c.AdvertiseAddr); err != nil || a.IsUnspecified() {
			bad("advertise address %q is not a usable IP address", c.AdvertiseAddr)
		}
	} else if err == nil && bind.IsUnspecified() {
		bad("bind address %s is unspecified; set the advertise address to this node's IP", c.BindAddr)
	}
	if c.Port < 1 || c.Port > 65535 {
		bad("port %d is out of range 1-65535", c.Port)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"probe interval", c.ProbeInterval}, {"probe timeout", c.ProbeTimeout},
		{"gossip interval", c.GossipInterval}, {"push/pull interval", c.PushPullInterval},
		{"TCP timeout", c.TCPTimeout}, {"rejoin interval", c.RejoinInterval},
	} {
		if d.v < 0 {
			bad("%s %s is negative", d.name, d.v)
		}
	}
	if c.ProbeTimeout >= c.ProbeInterval {
		bad("probe timeout %s must be shorter than the probe interval %s, which must also fit the indirect probes", c.ProbeTimeout, c.ProbeInterval)
	}
	for _, n := range []struct {
		name string
		v    int
	}{
		{"suspicion multiplier", c.SuspicionMult}, {"suspicion max timeout multiplier", c.SuspicionMaxTimeoutMult},
		{"gossip nodes", c.GossipNodes}, {"retransmit multiplier", c.RetransmitMult},
		{"indirect checks", c.IndirectChecks},
	} {
		if n.v < 1 {
			bad("%s %d must be at least 1", n.name, n.v)
		}
	}
	if len(c.Secret) < MinSecretLen {
		// DeriveKey words this error; keep one wording.
		_, err := DeriveKey(c.Secret)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// memberlistConfig maps a validated Config onto memberlist's, starting from its LAN
// defaults so that settings we do not expose keep their well-tested values.
func (c Config) memberlistConfig() *memberlist.Config {
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.NodeName
	mc.BindAddr = c.BindAddr
	mc.BindPort = c.Port
	mc.AdvertiseAddr = c.AdvertiseAddr
	// memberlist's AdvertisePort defaults to 7946 whatever BindPort is.
	mc.AdvertisePort = c.Port
	mc.ProbeInterval = c.ProbeInterval
	mc.ProbeTimeout = c.ProbeTimeout
	mc.SuspicionMult = c.SuspicionMult
	mc.SuspicionMaxTimeoutMult = c.SuspicionMaxTimeoutMult
	mc.GossipInterval = c.GossipInterval
	mc.GossipNodes = c.GossipNodes
	mc.RetransmitMult = c.RetransmitMult
	mc.PushPullInterval = c.PushPullInterval
	mc.TCPTimeout = c.TCPTimeout
	mc.IndirectChecks = c.IndirectChecks
	mc.Label = gossipLabel
	// memberlist compresses every message by default (LZW, with a fresh code table per
	// message). Ours are pings, acks and small gossip that do not shrink, and compressing
	// them was the largest part of an idle speaker's CPU (the burst bench's idle profile:
	// answering pings, a third of it in the compressor). Compressed messages are still
	// understood, so speakers of both kinds mix during a rolling upgrade.
	mc.EnableCompression = false
	// Refuse anything not encrypted with our key, in both directions.
	mc.GossipVerifyIncoming = true
	mc.GossipVerifyOutgoing = true
	return mc
}
