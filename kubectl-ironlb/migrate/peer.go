package migrate

import (
	"fmt"
	"net/netip"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
)

// peerKeys names the settings of a BGP peer: MetalLB's CRD spells them in camelCase, its
// legacy configuration with hyphens.
type peerKeys struct {
	myASN, peerASN, peerAddress, peerPort, sourceAddress, routerID string
	holdTime, keepaliveTime, password, bfdProfile, ebgpMultiHop    string
	nodeSelectors                                                  string
}

var crdPeerKeys = peerKeys{"myASN", "peerASN", "peerAddress", "peerPort", "sourceAddress", "routerID",
	"holdTime", "keepaliveTime", "password", "bfdProfile", "ebgpMultiHop", "nodeSelectors"}

var legacyPeerKeys = peerKeys{"my-asn", "peer-asn", "peer-address", "peer-port", "source-address", "router-id",
	"hold-time", "keepalive-time", "password", "bfd-profile", "ebgp-multihop", "node-selectors"}

// peerSpec reads the settings MetalLB's CRD and its legacy configuration share. ok is false
// when the session cannot be described in ironlb (no address or no ASN).
func peerSpec(f *fields, k peerKeys) (ironlbv1.BGPPeerSpec, bool) {
	var s ironlbv1.BGPPeerSpec
	my, okMy := f.integer(k.myASN, 1, 4294967295)
	peer, okPeer := f.integer(k.peerASN, 1, 4294967295)
	addr, okAddr := f.str(k.peerAddress)
	s.MyASN, s.PeerASN, s.PeerAddress = my, peer, addr
	if p, ok := f.integer(k.peerPort, 1, 65535); ok {
		s.PeerPort = int32(p)
	}
	s.SourceAddress, _ = f.str(k.sourceAddress)
	s.RouterID, _ = f.str(k.routerID)
	if d, ok := f.duration(k.holdTime); ok {
		if d < 3*time.Second || d > 65535*time.Second {
			f.report.lose(f.obj, f.field(k.holdTime), fmt.Sprintf("%s is outside ironlb's range 3s-65535s (the embedded BGP server needs keepalives); ironlb's default 90s applies", d))
		} else {
			s.HoldTime = &metav1.Duration{Duration: d}
		}
	}
	if d, ok := f.duration(k.keepaliveTime); ok {
		s.KeepaliveTime = &metav1.Duration{Duration: d}
	}
	s.Password, _ = f.str(k.password)
	s.BFDProfile, _ = f.str(k.bfdProfile)
	if b, ok := f.boolean(k.ebgpMultiHop); ok && b {
		if my == peer {
			f.report.note(f.obj, f.field(k.ebgpMultiHop), "true on an iBGP session (myASN equals peerASN), where it has no effect; left out")
		} else {
			s.EBGPMultiHop = true
		}
	}
	s.NodeSelectors = f.selectors(k.nodeSelectors)
	if !okAddr {
		f.report.lose(f.obj, f.field(k.peerAddress), "missing; ironlb needs the router's address, so no BGPPeer is written")
		return s, false
	}
	if _, err := netip.ParseAddr(addr); err != nil {
		f.report.lose(f.obj, f.field(k.peerAddress), fmt.Sprintf("%q is not an IP address; no BGPPeer is written", addr))
		return s, false
	}
	if !okMy || !okPeer {
		f.report.lose(f.obj, "", "myASN and peerASN are both required by ironlb; no BGPPeer is written")
		return s, false
	}
	return s, true
}

func (c *converter) peer(u *unstructured.Unstructured, f *fields) {
	s, ok := peerSpec(f, crdPeerKeys)
	if d, has := f.duration("connectTime"); has {
		if d < time.Second || d > time.Hour {
			f.report.lose(f.obj, "spec.connectTime", fmt.Sprintf("%s is outside ironlb's range 1s-1h; ironlb's default 10s applies", d))
		} else {
			s.ConnectTime = &metav1.Duration{Duration: d}
		}
	}
	if v, has := f.get("passwordSecret"); has {
		m, _ := v.(map[string]any)
		ref := newFields(f.report, f.obj, "spec.passwordSecret", m)
		name, _ := ref.str("name")
		ns, _ := ref.str("namespace")
		ref.leftovers()
		if ns == "" {
			ns = u.GetNamespace()
		}
		// MetalLB reads the key "password" of a basic-auth Secret.
		s.PasswordSecret = &ironlbv1.SecretKeyReference{Name: name, Namespace: ns, Key: ironlbv1.DefaultPasswordSecretKey}
	}
	if b, has := f.boolean("enableGracefulRestart"); has && b {
		s.GracefulRestart = &ironlbv1.GracefulRestart{Enabled: true}
	}
	if b, has := f.boolean("dualStackAddressFamily"); has {
		s.DualStackAddressFamily = b
	}
	f.ignore("disableMP", "ironlb carries only the session's own address family unless dualStackAddressFamily is true, which is what disableMP asked for")
	if v, has := f.str("vrf"); has && v != "" {
		f.report.lose(f.obj, "spec.vrf", fmt.Sprintf("%q: ironlb opens sessions in the node's default VRF only; the BGPPeer is written without it", v))
	}
	if v, has := f.str("interface"); has && v != "" {
		f.report.lose(f.obj, "spec.interface", fmt.Sprintf("%q: ironlb has no BGP unnumbered sessions; a peerAddress is needed", v))
	}
	if v, has := f.str("dynamicASN"); has && v != "" {
		f.report.lose(f.obj, "spec.dynamicASN", fmt.Sprintf("%q: ironlb needs the router's ASN in peerASN", v))
	}
	if !ok {
		return
	}
	p := &ironlbv1.BGPPeer{ObjectMeta: c.meta("BGPPeer", u, f.obj), Spec: s}
	c.emit(f.obj, p, "BGPPeer")
}

// bfdKeys are the BFD settings, camelCase in the CRD, hyphenated in the legacy config.
var bfdCRDKeys = [7]string{"receiveInterval", "transmitInterval", "detectMultiplier", "echoInterval", "echoMode", "passiveMode", "minimumTtl"}

var bfdLegacyKeys = [7]string{"receive-interval", "transmit-interval", "detect-multiplier", "echo-interval", "echo-mode", "passive-mode", "minimum-ttl"}

func bfdSpec(f *fields, k [7]string) ironlbv1.BFDProfileSpec {
	var s ironlbv1.BFDProfileSpec
	s.ReceiveInterval = f.int32p(k[0], 10, 60000)
	s.TransmitInterval = f.int32p(k[1], 10, 60000)
	s.DetectMultiplier = f.int32p(k[2], 2, 255)
	s.EchoInterval = f.int32p(k[3], 10, 60000)
	s.EchoMode, _ = f.boolean(k[4])
	s.PassiveMode, _ = f.boolean(k[5])
	s.MinimumTTL = f.int32p(k[6], 1, 254)
	return s
}

func (c *converter) bfd(u *unstructured.Unstructured, f *fields) {
	p := &ironlbv1.BFDProfile{ObjectMeta: c.meta("BFDProfile", u, f.obj), Spec: bfdSpec(f, bfdCRDKeys)}
	c.emit(f.obj, p, "BFDProfile")
}
