package plan

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/speaker/bgp"
)

// ---- builders -------------------------------------------------------------------------

const speakerNS = "ironlb-system"

type peerOpt func(*ironlbv1.BGPPeer)

// bgpPeer is a BGPPeer as the API server stores it when only the required fields are set
// (the CRD defaults are not applied here, so the code's own defaults are exercised).
func bgpPeer(name, addr string, opts ...peerOpt) ironlbv1.BGPPeer {
	p := ironlbv1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: ironlbv1.BGPPeerSpec{MyASN: 64512, PeerASN: 64513, PeerAddress: addr}}
	for _, o := range opts {
		o(&p)
	}
	return p
}

func withSpec(edit func(*ironlbv1.BGPPeerSpec)) peerOpt {
	return func(p *ironlbv1.BGPPeer) { edit(&p.Spec) }
}
func secretRef(ns, name, key string) peerOpt {
	return func(p *ironlbv1.BGPPeer) {
		p.Spec.PasswordSecret = &ironlbv1.SecretKeyReference{Namespace: ns, Name: name, Key: key}
	}
}
func bfdProfile(name string) peerOpt { return func(p *ironlbv1.BGPPeer) { p.Spec.BFDProfile = name } }
func peerNodeSel(kv ...string) peerOpt {
	return func(p *ironlbv1.BGPPeer) {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		p.Spec.NodeSelectors = append(p.Spec.NodeSelectors, metav1.LabelSelector{MatchLabels: m})
	}
}

func secret(ns, name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func i32(v int32) *int32 { return &v }

func profile(name string, edit func(*ironlbv1.BFDProfileSpec)) *ironlbv1.BFDProfile {
	p := &ironlbv1.BFDProfile{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if edit != nil {
		edit(&p.Spec)
	}
	return p
}

// inputs is this node ("n1", rack r1, zone west) with the given Secrets and BFD profiles.
func inputs(secrets []*corev1.Secret, profiles ...*ironlbv1.BFDProfile) peerInputs {
	in := peerInputs{
		node: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1",
			Labels: map[string]string{"rack": "r1", "zone": "west"}}},
		profiles:  map[string]*ironlbv1.BFDProfile{},
		secrets:   map[types.NamespacedName]*corev1.Secret{},
		namespace: speakerNS,
	}
	for _, s := range secrets {
		in.secrets[types.NamespacedName{Namespace: s.Namespace, Name: s.Name}] = s
	}
	for _, p := range profiles {
		in.profiles[p.Name] = p
	}
	return in
}

func names(rs []resolvedPeer) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.obj.Name)
	}
	return out
}

// ---- resolvePeers: selection, order and address conflicts ------------------------------

func TestResolvePeersSelection(t *testing.T) {
	cases := []struct {
		name  string
		peers []ironlbv1.BGPPeer
		node  *corev1.Node // nil: keep the default node; see noNode
		// noNode removes the node from the inputs (the speaker's Node is not in the cache).
		noNode bool
		want   []string // selected peers, in the order returned
	}{
		{
			name:  "no nodeSelectors: every node",
			peers: []ironlbv1.BGPPeer{bgpPeer("r1", "192.0.2.1")},
			want:  []string{"r1"},
		},
		{
			name:  "nodeSelectors matching this node",
			peers: []ironlbv1.BGPPeer{bgpPeer("r1", "192.0.2.1", peerNodeSel("rack", "r1"))},
			want:  []string{"r1"},
		},
		{
			name:  "nodeSelectors not matching this node",
			peers: []ironlbv1.BGPPeer{bgpPeer("r2", "192.0.2.2", peerNodeSel("rack", "r2"))},
			want:  nil,
		},
		{
			name:  "several nodeSelectors select the union",
			peers: []ironlbv1.BGPPeer{bgpPeer("r", "192.0.2.1", peerNodeSel("rack", "r9"), peerNodeSel("zone", "west"))},
			want:  []string{"r"},
		},
		{
			name:  "a selector needs all its labels",
			peers: []ironlbv1.BGPPeer{bgpPeer("r", "192.0.2.1", peerNodeSel("rack", "r1", "zone", "east"))},
			want:  nil,
		},
		{
			name: "mixed: only the matching ones, sorted by name",
			peers: []ironlbv1.BGPPeer{
				bgpPeer("zeta", "192.0.2.5"),
				bgpPeer("r2", "192.0.2.2", peerNodeSel("rack", "r2")),
				bgpPeer("alpha", "192.0.2.6", peerNodeSel("rack", "r1")),
				bgpPeer("mid", "2001:db8::1"),
			},
			want: []string{"alpha", "mid", "zeta"},
		},
		{
			name:   "this node's Node object is unknown: no peers",
			peers:  []ironlbv1.BGPPeer{bgpPeer("r1", "192.0.2.1")},
			noNode: true,
			want:   nil,
		},
		{
			name:  "peers with problems are still listed (their status must say why)",
			peers: []ironlbv1.BGPPeer{bgpPeer("r1", "192.0.2.1", bfdProfile("missing"))},
			want:  []string{"r1"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := inputs(nil)
			if c.noNode {
				in.node = nil
			}
			got := resolvePeers(c.peers, in)
			if !slices.Equal(names(got), c.want) {
				t.Errorf("selected %v, want %v", names(got), c.want)
			}
		})
	}
}

func TestResolvePeersAddressConflict(t *testing.T) {
	cases := []struct {
		name  string
		peers []ironlbv1.BGPPeer
		// winner opens the session; loser reports AddressConflict naming winner.
		winner, loser string
	}{
		{
			name:   "same address: the first by name wins, whatever the list order",
			peers:  []ironlbv1.BGPPeer{bgpPeer("b", "192.0.2.1"), bgpPeer("a", "192.0.2.1")},
			winner: "a", loser: "b",
		},
		{
			name:   "same address, different ports: still one neighbor per address",
			peers:  []ironlbv1.BGPPeer{bgpPeer("a", "192.0.2.1"), bgpPeer("b", "192.0.2.1", withSpec(func(s *ironlbv1.BGPPeerSpec) { s.PeerPort = 1179 }))},
			winner: "a", loser: "b",
		},
		{
			name:   "the same IPv4 address written as IPv4-mapped IPv6",
			peers:  []ironlbv1.BGPPeer{bgpPeer("a", "::ffff:192.0.2.1"), bgpPeer("b", "192.0.2.1")},
			winner: "a", loser: "b",
		},
		{
			name:   "the same IPv6 address written two ways",
			peers:  []ironlbv1.BGPPeer{bgpPeer("v6-b", "2001:db8:0::1"), bgpPeer("v6-a", "2001:DB8::1")},
			winner: "v6-a", loser: "v6-b",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := resolvePeers(c.peers, inputs(nil))
			byName := map[string]resolvedPeer{}
			for _, r := range got {
				byName[r.obj.Name] = r
			}
			w, l := byName[c.winner], byName[c.loser]
			if w.obj == nil || l.obj == nil {
				t.Fatalf("peers %v, want both %s and %s", names(got), c.winner, c.loser)
			}
			if w.session == nil || w.problem != "" {
				t.Errorf("%s: session %v problem %q, want the session", c.winner, w.session, w.problem)
			}
			if l.session != nil {
				t.Errorf("%s: has a session too", c.loser)
			}
			if l.reason != ironlbv1.ReasonAddressConflict || !strings.Contains(l.problem, c.winner) {
				t.Errorf("%s: reason %q problem %q, want AddressConflict naming %s", c.loser, l.reason, l.problem, c.winner)
			}
		})
	}
	t.Run("the first peer keeps its address while its Secret is missing", func(t *testing.T) {
		broken := bgpPeer("a", "192.0.2.1", withSpec(func(s *ironlbv1.BGPPeerSpec) {
			s.PasswordSecret = &ironlbv1.SecretKeyReference{Name: "absent", Namespace: "ironlb-system"}
		}))
		got := resolvePeers([]ironlbv1.BGPPeer{broken, bgpPeer("b", "192.0.2.1")}, inputs(nil))
		if len(got) != 2 || got[0].reason != ironlbv1.ReasonSecretNotFound || got[1].reason != ironlbv1.ReasonAddressConflict || got[1].session != nil {
			t.Errorf("got a=%q b=%q (b session %v), want a SecretNotFound and b AddressConflict without a session",
				got[0].reason, got[1].reason, got[1].session)
		}
	})
	t.Run("different addresses do not conflict", func(t *testing.T) {
		for _, r := range resolvePeers([]ironlbv1.BGPPeer{bgpPeer("a", "192.0.2.1"), bgpPeer("b", "192.0.2.2"), bgpPeer("c", "2001:db8::1")}, inputs(nil)) {
			if r.session == nil || r.problem != "" {
				t.Errorf("%s: session %v problem %q", r.obj.Name, r.session, r.problem)
			}
		}
	})
	t.Run("a peer not selected for this node takes no address", func(t *testing.T) {
		got := resolvePeers([]ironlbv1.BGPPeer{bgpPeer("a", "192.0.2.1", peerNodeSel("rack", "r2")), bgpPeer("b", "192.0.2.1")}, inputs(nil))
		if len(got) != 1 || got[0].obj.Name != "b" || got[0].session == nil {
			t.Errorf("got %v, want b alone with a session", names(got))
		}
	})
}

// ---- resolvePeer: the session ----------------------------------------------------------

func TestResolvePeerSession(t *testing.T) {
	dur := func(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
	cases := []struct {
		name  string
		peer  ironlbv1.BGPPeer
		check func(t *testing.T, s bgp.Peer)
	}{
		{
			name: "identity: name, address and ASNs",
			peer: bgpPeer("router-1", "192.0.2.1", withSpec(func(s *ironlbv1.BGPPeerSpec) { s.MyASN = 4200000001; s.PeerASN = 65000 })),
			check: func(t *testing.T, s bgp.Peer) {
				if s.Name != "router-1" || s.Address != netip.MustParseAddr("192.0.2.1") || s.MyASN != 4200000001 || s.PeerASN != 65000 {
					t.Errorf("session = %+v", s)
				}
			},
		},
		{
			name: "IPv4-mapped peer address is an IPv4 session",
			peer: bgpPeer("r", "::ffff:192.0.2.1"),
			check: func(t *testing.T, s bgp.Peer) {
				if s.Address != netip.MustParseAddr("192.0.2.1") {
					t.Errorf("address = %v, want 192.0.2.1", s.Address)
				}
			},
		},
		{
			name: "defaults: port 179, hold 90s, connect 10s, no graceful restart, keepalive from hold time",
			peer: bgpPeer("r", "192.0.2.1"),
			check: func(t *testing.T, s bgp.Peer) {
				if s.Port != 179 || s.HoldTime != 90*time.Second || s.ConnectTime != 10*time.Second || s.GracefulRestart != 0 || s.KeepaliveTime != 0 {
					t.Errorf("port %d hold %v connect %v graceful restart %v keepalive %v, want 179, 90s, 10s, 0, 0 (a third of hold)",
						s.Port, s.HoldTime, s.ConnectTime, s.GracefulRestart, s.KeepaliveTime)
				}
				if s.BFD != nil || s.Password != "" || s.SourceAddress.IsValid() || s.EBGPMultiHop || s.DualStack {
					t.Errorf("unasked-for settings: %+v", s)
				}
			},
		},
		{
			name: "explicit port, timers and source address",
			peer: bgpPeer("r", "192.0.2.1", withSpec(func(s *ironlbv1.BGPPeerSpec) {
				s.PeerPort = 1179
				s.HoldTime = dur(30 * time.Second)
				s.KeepaliveTime = dur(5 * time.Second)
				s.ConnectTime = dur(3 * time.Second)
				s.SourceAddress = "192.0.2.50"
			})),
			check: func(t *testing.T, s bgp.Peer) {
				if s.Port != 1179 || s.HoldTime != 30*time.Second || s.KeepaliveTime != 5*time.Second ||
					s.ConnectTime != 3*time.Second || s.SourceAddress != netip.MustParseAddr("192.0.2.50") {
					t.Errorf("session = %+v", s)
				}
			},
		},
		{
			name: "holdTime 0s is kept (no keepalives), not replaced by the default",
			peer: bgpPeer("r", "192.0.2.1", withSpec(func(s *ironlbv1.BGPPeerSpec) { s.HoldTime = dur(0) })),
			check: func(t *testing.T, s bgp.Peer) {
				if s.HoldTime != 0 {
					t.Errorf("hold time = %v, want 0s", s.HoldTime)
				}
			},
		},
		{
			name: "graceful restart enabled without a time: 120s",
			peer: bgpPeer("r", "192.0.2.1", withSpec(func(s *ironlbv1.BGPPeerSpec) {
				s.GracefulRestart = &ironlbv1.GracefulRestart{Enabled: true}
			})),
			check: func(t *testing.T, s bgp.Peer) {
				if s.GracefulRestart != 120*time.Second {
					t.Errorf("graceful restart = %v, want 120s", s.GracefulRestart)
				}
			},
		},
		{
			name: "graceful restart with a time",
			peer: bgpPeer("r", "192.0.2.1", withSpec(func(s *ironlbv1.BGPPeerSpec) {
				s.GracefulRestart = &ironlbv1.GracefulRestart{Enabled: true, RestartTime: dur(30 * time.Second)}
			})),
			check: func(t *testing.T, s bgp.Peer) {
				if s.GracefulRestart != 30*time.Second {
					t.Errorf("graceful restart = %v, want 30s", s.GracefulRestart)
				}
			},
		},
		{
			name: "graceful restart disabled, with a time: off",
			peer: bgpPeer("r", "192.0.2.1", withSpec(func(s *ironlbv1.BGPPeerSpec) {
				s.GracefulRestart = &ironlbv1.GracefulRestart{Enabled: false, RestartTime: dur(30 * time.Second)}
			})),
			check: func(t *testing.T, s bgp.Peer) {
				if s.GracefulRestart != 0 {
					t.Errorf("graceful restart = %v, want off", s.GracefulRestart)
				}
			},
		},
		{
			name: "multihop and dual-stack",
			peer: bgpPeer("r", "192.0.2.1", withSpec(func(s *ironlbv1.BGPPeerSpec) {
				s.EBGPMultiHop = true
				s.DualStackAddressFamily = true
			})),
			check: func(t *testing.T, s bgp.Peer) {
				if !s.EBGPMultiHop || !s.DualStack {
					t.Errorf("multihop %v dual-stack %v, want both", s.EBGPMultiHop, s.DualStack)
				}
			},
		},
		{
			name: "inline password",
			peer: bgpPeer("r", "192.0.2.1", withSpec(func(s *ironlbv1.BGPPeerSpec) { s.Password = "inline" })),
			check: func(t *testing.T, s bgp.Peer) {
				if s.Password != "inline" {
					t.Errorf("password = %q, want inline", s.Password)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := resolvePeer(&c.peer, inputs(nil))
			if r.problem != "" || r.reason != "" || r.session == nil {
				t.Fatalf("reason %q problem %q session %v, want a session and no problem", r.reason, r.problem, r.session)
			}
			c.check(t, *r.session)
		})
	}
}

func TestResolvePeerInvalidAddress(t *testing.T) {
	for _, addr := range []string{"", "router.example", "192.0.2.300", "192.0.2.0/24"} {
		t.Run(addr, func(t *testing.T) {
			p := bgpPeer("r", addr)
			r := resolvePeer(&p, inputs(nil))
			if r.session != nil || r.reason != ironlbv1.ReasonInvalidPeerAddress || !strings.Contains(r.problem, "spec.peerAddress") {
				t.Errorf("session %v reason %q problem %q, want no session and InvalidPeerAddress", r.session, r.reason, r.problem)
			}
		})
	}
}

// ---- passwords -------------------------------------------------------------------------

func TestResolvePeerPassword(t *testing.T) {
	long := strings.Repeat("x", 81)
	max80 := strings.Repeat("y", 80)
	cases := []struct {
		name    string
		ref     peerOpt
		secrets []*corev1.Secret
		// Either the password, or the reason and substrings of the problem.
		wantPassword string
		wantReason   string
		wantIn       []string
	}{
		{
			name:         "default key \"password\"",
			ref:          secretRef(speakerNS, "bgp-auth", ""),
			secrets:      []*corev1.Secret{secret(speakerNS, "bgp-auth", map[string]string{"password": "s3cret"})},
			wantPassword: "s3cret",
		},
		{
			name:         "named key",
			ref:          secretRef(speakerNS, "bgp-auth", "router1"),
			secrets:      []*corev1.Secret{secret(speakerNS, "bgp-auth", map[string]string{"password": "no", "router1": "yes"})},
			wantPassword: "yes",
		},
		{
			name:         "80 bytes is the most TCP MD5 allows",
			ref:          secretRef(speakerNS, "bgp-auth", ""),
			secrets:      []*corev1.Secret{secret(speakerNS, "bgp-auth", map[string]string{"password": max80})},
			wantPassword: max80,
		},
		{
			name:       "missing Secret",
			ref:        secretRef(speakerNS, "bgp-auth", ""),
			secrets:    []*corev1.Secret{secret(speakerNS, "other", map[string]string{"password": "x"})},
			wantReason: ironlbv1.ReasonSecretNotFound,
			wantIn:     []string{speakerNS + "/bgp-auth", "spec.passwordSecret"},
		},
		{
			name:       "missing key",
			ref:        secretRef(speakerNS, "bgp-auth", "router1"),
			secrets:    []*corev1.Secret{secret(speakerNS, "bgp-auth", map[string]string{"password": "x"})},
			wantReason: ironlbv1.ReasonSecretKeyMissing,
			wantIn:     []string{speakerNS + "/bgp-auth", `"router1"`},
		},
		{
			name:       "missing default key",
			ref:        secretRef(speakerNS, "bgp-auth", ""),
			secrets:    []*corev1.Secret{secret(speakerNS, "bgp-auth", map[string]string{"pass": "x"})},
			wantReason: ironlbv1.ReasonSecretKeyMissing,
			wantIn:     []string{speakerNS + "/bgp-auth", `"password"`},
		},
		{
			name:       "empty password",
			ref:        secretRef(speakerNS, "bgp-auth", ""),
			secrets:    []*corev1.Secret{secret(speakerNS, "bgp-auth", map[string]string{"password": ""})},
			wantReason: ironlbv1.ReasonSecretKeyMissing,
			wantIn:     []string{speakerNS + "/bgp-auth", "empty"},
		},
		{
			name:       "longer than 80 bytes",
			ref:        secretRef(speakerNS, "bgp-auth", ""),
			secrets:    []*corev1.Secret{secret(speakerNS, "bgp-auth", map[string]string{"password": long})},
			wantReason: ironlbv1.ReasonSecretInvalid,
			wantIn:     []string{speakerNS + "/bgp-auth", "81", "80"},
		},
		{
			name:       "Secret in another namespace",
			ref:        secretRef("default", "bgp-auth", ""),
			secrets:    []*corev1.Secret{secret("default", "bgp-auth", map[string]string{"password": "s3cret"})},
			wantReason: ironlbv1.ReasonSecretNotReadable,
			wantIn:     []string{"default/bgp-auth", speakerNS},
		},
		{
			name:       "Secret in another namespace, also present in ours",
			ref:        secretRef("default", "bgp-auth", ""),
			secrets:    []*corev1.Secret{secret(speakerNS, "bgp-auth", map[string]string{"password": "s3cret"})},
			wantReason: ironlbv1.ReasonSecretNotReadable,
			wantIn:     []string{"default/bgp-auth", speakerNS},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := bgpPeer("r", "192.0.2.1", c.ref)
			in := inputs(c.secrets)

			// readPassword on its own.
			pw, reason, problem := readPassword(p.Spec.PasswordSecret, in)
			if c.wantReason == "" {
				if pw != c.wantPassword || reason != "" || problem != "" {
					t.Errorf("readPassword = (%q, %q, %q), want (%q, \"\", \"\")", pw, reason, problem, c.wantPassword)
				}
			} else {
				if pw != "" || reason != c.wantReason {
					t.Errorf("readPassword = (%q, %q, %q), want no password and reason %s", pw, reason, problem, c.wantReason)
				}
				for _, s := range c.wantIn {
					if !strings.Contains(problem, s) {
						t.Errorf("problem %q does not mention %q", problem, s)
					}
				}
			}

			// And its effect on the session.
			r := resolvePeer(&p, in)
			if c.wantReason == "" {
				if r.session == nil || r.session.Password != c.wantPassword {
					t.Errorf("session %+v, want one with the password", r.session)
				}
				return
			}
			if r.session != nil {
				t.Errorf("a session is opened without its password")
			}
			if r.reason != c.wantReason || r.problem != problem {
				t.Errorf("resolvePeer reason %q problem %q, want %q %q", r.reason, r.problem, c.wantReason, problem)
			}
		})
	}
}

// ---- BFD -------------------------------------------------------------------------------

func TestResolvePeerBFD(t *testing.T) {
	cases := []struct {
		name      string
		profiles  []*ironlbv1.BFDProfile
		want      *bgp.BFD // nil: no session expected
		wantNotes []string // substrings, one per note
	}{
		{
			name:     "defaults: 300ms, 300ms, multiplier 3",
			profiles: []*ironlbv1.BFDProfile{profile("fast", nil)},
			want:     &bgp.BFD{ReceiveInterval: 300 * time.Millisecond, TransmitInterval: 300 * time.Millisecond, DetectMultiplier: 3},
		},
		{
			name: "explicit values",
			profiles: []*ironlbv1.BFDProfile{profile("fast", func(s *ironlbv1.BFDProfileSpec) {
				s.ReceiveInterval, s.TransmitInterval, s.DetectMultiplier = i32(50), i32(100), i32(5)
			})},
			want: &bgp.BFD{ReceiveInterval: 50 * time.Millisecond, TransmitInterval: 100 * time.Millisecond, DetectMultiplier: 5},
		},
		{
			name: "echo mode is noted and ignored",
			profiles: []*ironlbv1.BFDProfile{profile("fast", func(s *ironlbv1.BFDProfileSpec) {
				s.EchoMode = true
				s.EchoInterval = i32(20)
			})},
			want:      &bgp.BFD{ReceiveInterval: 300 * time.Millisecond, TransmitInterval: 300 * time.Millisecond, DetectMultiplier: 3},
			wantNotes: []string{"echoMode"},
		},
		{
			name:      "passive mode is noted and ignored",
			profiles:  []*ironlbv1.BFDProfile{profile("fast", func(s *ironlbv1.BFDProfileSpec) { s.PassiveMode = true })},
			want:      &bgp.BFD{ReceiveInterval: 300 * time.Millisecond, TransmitInterval: 300 * time.Millisecond, DetectMultiplier: 3},
			wantNotes: []string{"passiveMode"},
		},
		{
			name: "both noted",
			profiles: []*ironlbv1.BFDProfile{profile("fast", func(s *ironlbv1.BFDProfileSpec) {
				s.PassiveMode, s.EchoMode = true, true
			})},
			want:      &bgp.BFD{ReceiveInterval: 300 * time.Millisecond, TransmitInterval: 300 * time.Millisecond, DetectMultiplier: 3},
			wantNotes: []string{"echoMode", "passiveMode"},
		},
		{
			name:     "missing profile: no session",
			profiles: []*ironlbv1.BFDProfile{profile("slow", nil)},
			want:     nil,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := bgpPeer("r", "192.0.2.1", bfdProfile("fast"))
			r := resolvePeer(&p, inputs(nil, c.profiles...))
			if c.want == nil {
				if r.session != nil {
					t.Errorf("a session is opened without the BFD asked for: %+v", r.session)
				}
				if r.reason != ironlbv1.ReasonBFDProfileNotFound || !strings.Contains(r.problem, `"fast"`) {
					t.Errorf("reason %q problem %q, want BFDProfileNotFound naming \"fast\"", r.reason, r.problem)
				}
				return
			}
			if r.session == nil || r.problem != "" {
				t.Fatalf("session %v problem %q, want a session", r.session, r.problem)
			}
			if r.session.BFD == nil || *r.session.BFD != *c.want {
				t.Errorf("BFD = %+v, want %+v", r.session.BFD, *c.want)
			}
			if len(r.notes) != len(c.wantNotes) {
				t.Fatalf("notes %q, want %d mentioning %v", r.notes, len(c.wantNotes), c.wantNotes)
			}
			for _, want := range c.wantNotes {
				if !slices.ContainsFunc(r.notes, func(n string) bool { return strings.Contains(n, want) && strings.Contains(n, "fast") }) {
					t.Errorf("notes %q: none mentions %s for profile fast", r.notes, want)
				}
			}
		})
	}
	t.Run("no bfdProfile: no BFD", func(t *testing.T) {
		p := bgpPeer("r", "192.0.2.1")
		r := resolvePeer(&p, inputs(nil, profile("fast", nil)))
		if r.session == nil || r.session.BFD != nil || len(r.notes) != 0 {
			t.Errorf("session %+v notes %q, want a session without BFD", r.session, r.notes)
		}
	})
}

// ---- toRoutes --------------------------------------------------------------------------

func TestToRoutes(t *testing.T) {
	pfx := netip.MustParsePrefix
	lp := func(v int64) *int64 { return &v }
	u32 := func(v uint32) *uint32 { return &v }
	cs := func(s ...string) []ironlbv1.Community {
		var out []ironlbv1.Community
		for _, c := range s {
			out = append(out, ironlbv1.Community(c))
		}
		return out
	}
	cases := []struct {
		name string
		in   []Prefix
		want []bgp.Route
	}{
		{name: "nothing", in: nil, want: []bgp.Route{}},
		{
			name: "a bare prefix to every peer",
			in:   []Prefix{{Prefix: pfx("198.18.0.1/32"), Services: []string{"ns/web"}}},
			want: []bgp.Route{{Prefix: pfx("198.18.0.1/32")}},
		},
		{
			name: "standard, well-known and large communities are split",
			in: []Prefix{{Prefix: pfx("198.18.0.0/24"),
				Communities: cs("65000:1", "large:65000:1:2", "no-export", "large:4200000000:3:4")}},
			want: []bgp.Route{{Prefix: pfx("198.18.0.0/24"),
				Communities:      []uint32{65000<<16 | 1, 0xFFFFFF01},
				LargeCommunities: [][3]uint32{{65000, 1, 2}, {4200000000, 3, 4}}}},
		},
		{
			name: "a community the CRD would refuse is dropped, the others kept",
			in:   []Prefix{{Prefix: pfx("198.18.0.1/32"), Communities: cs("65536:1", "65000:7")}},
			want: []bgp.Route{{Prefix: pfx("198.18.0.1/32"), Communities: []uint32{65000<<16 | 7}}},
		},
		{
			name: "localPref is converted",
			in: []Prefix{
				{Prefix: pfx("198.18.0.1/32"), LocalPref: lp(200)},
				{Prefix: pfx("198.18.0.2/32"), LocalPref: lp(0)},
				{Prefix: pfx("198.18.0.3/32"), LocalPref: lp(4294967295)},
				{Prefix: pfx("198.18.0.4/32")},
			},
			want: []bgp.Route{
				{Prefix: pfx("198.18.0.1/32"), LocalPref: u32(200)},
				{Prefix: pfx("198.18.0.2/32"), LocalPref: u32(0)},
				{Prefix: pfx("198.18.0.3/32"), LocalPref: u32(4294967295)},
				{Prefix: pfx("198.18.0.4/32")},
			},
		},
		{
			name: "endpoints become link bandwidth of 1 Mbit/s each, with the AS; none without endpoints",
			in: []Prefix{
				{Prefix: pfx("198.18.0.1/32"), Endpoints: 1},
				{Prefix: pfx("198.18.0.2/32"), Endpoints: 3},
				{Prefix: pfx("198.18.0.3/32")},
			},
			want: []bgp.Route{
				{Prefix: pfx("198.18.0.1/32"), LinkBandwidth: 125000, LinkBandwidthAS: 64512},
				{Prefix: pfx("198.18.0.2/32"), LinkBandwidth: 375000, LinkBandwidthAS: 64512},
				{Prefix: pfx("198.18.0.3/32")},
			},
		},
		{
			name: "peers are kept; nil stays nil (every peer)",
			in: []Prefix{
				{Prefix: pfx("2001:db8::1/128"), Peers: []string{"r1", "r2"}},
				{Prefix: pfx("2001:db8::2/128")},
			},
			want: []bgp.Route{
				{Prefix: pfx("2001:db8::1/128"), Peers: []string{"r1", "r2"}},
				{Prefix: pfx("2001:db8::2/128")},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := toRoutes(c.in, 64512)
			if len(got) != len(c.want) {
				t.Fatalf("routes %+v, want %+v", got, c.want)
			}
			for i := range got {
				g, w := got[i], c.want[i]
				ok := g.Prefix == w.Prefix && slices.Equal(g.Communities, w.Communities) &&
					slices.Equal(g.LargeCommunities, w.LargeCommunities) && slices.Equal(g.Peers, w.Peers) &&
					(g.Peers == nil) == (w.Peers == nil) &&
					(g.LocalPref == nil) == (w.LocalPref == nil) && (g.LocalPref == nil || *g.LocalPref == *w.LocalPref) &&
					g.LinkBandwidth == w.LinkBandwidth && g.LinkBandwidthAS == w.LinkBandwidthAS
				if !ok {
					t.Errorf("route %d = %s, want %s", i, describeRoute(g), describeRoute(w))
				}
			}
		})
	}
}

func describeRoute(r bgp.Route) string {
	lp := "none"
	if r.LocalPref != nil {
		lp = fmt.Sprint(*r.LocalPref)
	}
	return fmt.Sprintf("%s communities=%v large=%v localPref=%s peers=%q linkBandwidth=%v (AS %d)", r.Prefix, r.Communities, r.LargeCommunities, lp, r.Peers, r.LinkBandwidth, r.LinkBandwidthAS)
}

// The link-bandwidth community's AS: the node's, the lowest of several, AS_TRANS when it
// does not fit two octets.
func TestLinkBandwidthAS(t *testing.T) {
	peers := func(asns ...uint32) []bgp.Peer {
		var out []bgp.Peer
		for _, a := range asns {
			out = append(out, bgp.Peer{MyASN: a})
		}
		return out
	}
	for _, c := range []struct {
		name     string
		sessions []bgp.Peer
		want     uint16
	}{
		{"no session", nil, 0},
		{"one session", peers(64512), 64512},
		{"the lowest of several", peers(64520, 64513, 64600), 64513},
		{"a four-octet AS is AS_TRANS", peers(4200000001), 23456},
		{"two-octet and four-octet: the lowest, two-octet", peers(4200000001, 65000), 65000},
		{"65535 still fits", peers(65535), 65535},
		{"65536 does not", peers(65536), 23456},
	} {
		if got := linkBandwidthAS(c.sessions); got != c.want {
			t.Errorf("%s: AS %d, want %d", c.name, got, c.want)
		}
	}
}
