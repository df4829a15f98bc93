package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SecretKeyReference points at one key of a Secret. BGPPeer is cluster-scoped, so the
// namespace is required.
type SecretKeyReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Namespace of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// Key in the Secret's data that holds the value.
	// +kubebuilder:default=password
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Key string `json:"key,omitempty"`
}

// BGPPeerSpec describes one BGP session that the selected nodes open to a router.
//
// +kubebuilder:validation:XValidation:rule=`!(has(self.password) && has(self.passwordSecret))`,fieldPath=`.password`,message="password and passwordSecret are mutually exclusive: set one of them"
// +kubebuilder:validation:XValidation:rule=`!has(self.keepaliveTime) || !has(self.holdTime) || duration(self.keepaliveTime) < duration(self.holdTime)`,fieldPath=`.keepaliveTime`,message="keepaliveTime must be less than holdTime"
// +kubebuilder:validation:XValidation:rule=`!(has(self.ebgpMultiHop) && self.ebgpMultiHop && self.myASN == self.peerASN)`,fieldPath=`.ebgpMultiHop`,message="ebgpMultiHop applies to eBGP only; myASN and peerASN are equal, so this is an iBGP session"
// +kubebuilder:validation:XValidation:rule=`!has(self.sourceAddress) || ip(self.sourceAddress).family() == ip(self.peerAddress).family()`,fieldPath=`.sourceAddress`,message="sourceAddress must be of the same IP family as peerAddress"
type BGPPeerSpec struct {
	// MyASN is the autonomous system number the nodes use for this session.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	MyASN int64 `json:"myASN"`

	// PeerASN is the router's autonomous system number. Equal to myASN means iBGP.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	PeerASN int64 `json:"peerASN"`

	// PeerAddress is the router's IPv4 or IPv6 address.
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule=`isIP(self)`,messageExpression=`'"' + self + '" is not an IP address'`
	PeerAddress string `json:"peerAddress"`

	// PeerPort is the router's BGP port.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +kubebuilder:default=179
	// +optional
	PeerPort int32 `json:"peerPort,omitempty"`

	// SourceAddress is the local address the session starts from. Empty lets the kernel
	// pick by its routes.
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule=`isIP(self)`,messageExpression=`'"' + self + '" is not an IP address'`
	// +optional
	SourceAddress string `json:"sourceAddress,omitempty"`

	// RouterID is the BGP identifier, an IPv4 address. Empty uses the node's IPv4 address,
	// or a stable value derived from the node name on IPv6-only nodes.
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule=`isIP(self) && ip(self).family() == 4`,messageExpression=`'"' + self + '" is not an IPv4 address; a BGP router ID is written as one'`
	// +optional
	RouterID string `json:"routerID,omitempty"`

	// HoldTime is how long the session survives without a message from the router, from
	// 3s to 65535s. (RFC 4271 also allows 0s, no keepalives at all; the embedded BGP
	// server cannot run without them, so it is refused here rather than ignored.)
	// +kubebuilder:default="90s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule=`duration(self) >= duration('3s') && duration(self) <= duration('65535s')`,message="holdTime must be between 3s and 65535s"
	// +optional
	HoldTime *metav1.Duration `json:"holdTime,omitempty"`

	// KeepaliveTime is the interval between keepalives; less than holdTime. Empty or 0s
	// means a third of holdTime.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule=`duration(self) >= duration('0s')`,message="keepaliveTime must not be negative"
	// +optional
	KeepaliveTime *metav1.Duration `json:"keepaliveTime,omitempty"`

	// ConnectTime is how long to wait between attempts to open the session.
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule=`duration(self) >= duration('1s') && duration(self) <= duration('1h')`,message="connectTime must be between 1s and 1h"
	// +optional
	ConnectTime *metav1.Duration `json:"connectTime,omitempty"`

	// Password for TCP MD5 authentication (RFC 2385), in the clear. Prefer passwordSecret.
	// +kubebuilder:validation:MaxLength=80
	// +optional
	Password string `json:"password,omitempty"`

	// PasswordSecret holds the TCP MD5 password in a Secret.
	// +optional
	PasswordSecret *SecretKeyReference `json:"passwordSecret,omitempty"`

	// EBGPMultiHop allows an eBGP router that is more than one hop away.
	// +optional
	EBGPMultiHop bool `json:"ebgpMultiHop,omitempty"`

	// GracefulRestart keeps the router's routes in place while a speaker restarts
	// (RFC 4724), so restarting ironlb does not drop traffic.
	// +optional
	GracefulRestart *GracefulRestart `json:"gracefulRestart,omitempty"`

	// DualStackAddressFamily carries both IPv4 and IPv6 routes over this one session
	// (MP-BGP). Without it the session carries only its own family.
	// +optional
	DualStackAddressFamily bool `json:"dualStackAddressFamily,omitempty"`

	// BFDProfile names the BFDProfile used to detect a failed session fast. Empty: no BFD.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	BFDProfile string `json:"bfdProfile,omitempty"`

	// GracefulShutdownTime, when set, drains a cordoned node's routes from this peer
	// gently (RFC 8326): when a BGPAdvertisement with excludeCordonedNodes takes the node
	// out, the node first sends its routes to this peer again with the GRACEFUL_SHUTDOWN
	// community (65535:0) for this long, then withdraws them. A router that honours the
	// community (FRR does by default: it lowers the route's LOCAL_PREF to 0) moves traffic
	// to the other nodes' paths while this one still works, so no flow is dropped at the
	// moment of withdrawal. Without it the routes are withdrawn at once. The time counts
	// from when the node's speaker saw the cordon happen; a speaker that starts on a node
	// already cordoned withdraws at once. From 1s to 1h.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule=`duration(self) >= duration('1s') && duration(self) <= duration('1h')`,message="gracefulShutdownTime must be between 1s and 1h"
	// +optional
	GracefulShutdownTime *metav1.Duration `json:"gracefulShutdownTime,omitempty"`

	// NodeSelectors select the nodes that open this session. Empty means every node.
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`
}

// GracefulRestart configures BGP graceful restart.
type GracefulRestart struct {
	// Enabled turns graceful restart on.
	Enabled bool `json:"enabled"`
	// RestartTime is how long the router keeps the routes while the speaker restarts.
	// +kubebuilder:default="120s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule=`duration(self) >= duration('1s') && duration(self) <= duration('4095s')`,message="restartTime must be between 1s and 4095s (a 12-bit field in BGP)"
	// +optional
	RestartTime *metav1.Duration `json:"restartTime,omitempty"`
}

// PeerNodeStatus is the session state seen from one node.
type PeerNodeStatus struct {
	// Node is the node's name.
	Node string `json:"node"`
	// State is the BGP finite-state-machine state: Idle, Connect, Active, OpenSent,
	// OpenConfirm or Established.
	State string `json:"state"`
	// Since is when the session reached its current state.
	// +optional
	Since *metav1.Time `json:"since,omitempty"`
	// PrefixesSent is how many prefixes this node advertises on the session.
	// +optional
	PrefixesSent int32 `json:"prefixesSent,omitempty"`
	// Message explains a session that is not established, such as a missing password Secret.
	// +optional
	Message string `json:"message,omitempty"`
}

// BGPPeerStatus reports each node's session.
type BGPPeerStatus struct {
	// Nodes lists the session state per node.
	// +listType=map
	// +listMapKey=node
	// +optional
	Nodes []PeerNodeStatus `json:"nodes,omitempty"`
	// Conditions: Ready when the configuration is usable (the password Secret and the BFD
	// profile exist).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// BGPPeer is a router that the selected nodes open a BGP session to.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=bgppeer,categories=ironlb
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.spec.peerAddress`
// +kubebuilder:printcolumn:name="My ASN",type=integer,JSONPath=`.spec.myASN`
// +kubebuilder:printcolumn:name="Peer ASN",type=integer,JSONPath=`.spec.peerASN`
// +kubebuilder:printcolumn:name="BFD",type=string,JSONPath=`.spec.bfdProfile`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BGPPeer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec BGPPeerSpec `json:"spec"`
	// +optional
	Status BGPPeerStatus `json:"status,omitempty"`
}

// BGPPeerList is a list of BGPPeer.
//
// +kubebuilder:object:root=true
type BGPPeerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPPeer `json:"items"`
}

// BFDProfileSpec tunes Bidirectional Forwarding Detection (RFC 5880) for BGP sessions.
// Detection time is about detectMultiplier x receiveInterval.
type BFDProfileSpec struct {
	// ReceiveInterval is the shortest interval, in milliseconds, at which this node wants
	// to receive control packets.
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=60000
	// +kubebuilder:default=300
	// +optional
	ReceiveInterval *int32 `json:"receiveInterval,omitempty"`

	// TransmitInterval is the shortest interval, in milliseconds, at which this node
	// sends control packets.
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=60000
	// +kubebuilder:default=300
	// +optional
	TransmitInterval *int32 `json:"transmitInterval,omitempty"`

	// DetectMultiplier is how many packets may be lost before the session is down.
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=255
	// +kubebuilder:default=3
	// +optional
	DetectMultiplier *int32 `json:"detectMultiplier,omitempty"`

	// EchoMode turns on BFD echo packets, which test the forwarding path of the peer.
	// +optional
	EchoMode bool `json:"echoMode,omitempty"`

	// EchoInterval is the interval, in milliseconds, between echo packets.
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=60000
	// +kubebuilder:default=50
	// +optional
	EchoInterval *int32 `json:"echoInterval,omitempty"`

	// PassiveMode waits for the peer to start BFD instead of sending first.
	// +optional
	PassiveMode bool `json:"passiveMode,omitempty"`

	// MinimumTTL is the lowest TTL accepted on incoming packets, for multi-hop sessions.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=254
	// +kubebuilder:default=254
	// +optional
	MinimumTTL *int32 `json:"minimumTtl,omitempty"`
}

// BFDProfileStatus reports which peers use the profile.
type BFDProfileStatus struct {
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// BFDProfile is a set of BFD timers that BGPPeers refer to by name.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=bfd,categories=ironlb
// +kubebuilder:printcolumn:name="Receive",type=integer,JSONPath=`.spec.receiveInterval`
// +kubebuilder:printcolumn:name="Transmit",type=integer,JSONPath=`.spec.transmitInterval`
// +kubebuilder:printcolumn:name="Multiplier",type=integer,JSONPath=`.spec.detectMultiplier`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BFDProfile struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec BFDProfileSpec `json:"spec,omitempty"`
	// +optional
	Status BFDProfileStatus `json:"status,omitempty"`
}

// BFDProfileList is a list of BFDProfile.
//
// +kubebuilder:object:root=true
type BFDProfileList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BFDProfile `json:"items"`
}

func init() {
	register(&BGPPeer{}, &BGPPeerList{}, &BFDProfile{}, &BFDProfileList{})
}
