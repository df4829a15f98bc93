package v1beta1

// The contract: the strings that ironlb writes on objects it does not own (Services,
// events) or that other programs, tests and users read back. They live beside the types
// so that both binaries, the tests and the benchmarks import one definition; a string
// retyped elsewhere drifts the day one copy is renamed.

// Annotations on Services.
const (
	// AnnotationAllocatedFromPool is written by the controller: the pool (or pools, comma
	// separated, one per address family) the Service's addresses came from. The speaker
	// reads it to find the pool of an address when pools overlap.
	AnnotationAllocatedFromPool = "ironlb.io/ip-allocated-from-pool"
	// AnnotationAllocatedSharing is written by the controller beside the pool annotation: a
	// digest of the sharing request (sharing key, ports, traffic policy and, with Local,
	// selector) the addresses were last confirmed under. When two Services claim one
	// address at start-up and can no longer share it, the one whose sharing request changed
	// while no controller watched gives it up, exactly as it would have at runtime.
	AnnotationAllocatedSharing = "ironlb.io/ip-allocated-sharing"
)

// Condition types shared by the ironlb objects.
const (
	// ConditionReady says whether an object's configuration is usable: a pool is in use, an
	// advertisement selects something, a BGPPeer's password Secret and BFD profile exist.
	ConditionReady = "Ready"
	// ConditionConflict is set on a pool that overlaps an older one.
	ConditionConflict = "Conflict"
	// ConditionExhausted is set on a pool with no address left for automatic assignment.
	ConditionExhausted = "Exhausted"
)

// ConditionL2Announced is the Service condition, written by the speakers, that names the
// node answering ARP/NDP for the Service's addresses, or says why none does.
const ConditionL2Announced = "ironlb.io/L2Announced"

// Reasons of the ConditionL2Announced condition; the first two are also the reasons of the
// Normal and Warning events raised when the condition changes.
const (
	ReasonAnnouncing     = "Announcing"     // every address has a node
	ReasonNoEligibleNode = "NoEligibleNode" // some address has none
	// ReasonNotAdvertised: the Service keeps addresses, but no L2Advertisement covers
	// them any more (the advertisement or the pool was deleted or no longer selects it).
	ReasonNotAdvertised = "NotAdvertised"
)

// ConditionGossip is the condition each speaker writes on its own Pod's status (only when
// it changes) with its memberlist view: True when it sees every speaker it expects, with
// the count and names ("3 of 3 speakers: node-1, node-2, node-3"); False with one of the
// reasons below and the nodes missing. Expected speakers are the nodes whose speaker Pod
// is Ready (or, when the speaker does not watch its Pods, every node with an InternalIP).
const ConditionGossip = "ironlb.io/Gossip"

// Reasons of the ConditionGossip condition.
const (
	// ReasonAllJoined: every expected speaker is a live member.
	ReasonAllJoined = "AllJoined"
	// ReasonPartial: some expected speakers are live members, others are not.
	ReasonPartial = "Partial"
	// ReasonAlone: no other speaker is a live member, and none is known to be up (they
	// may be down): this speaker announces as the last one alive.
	ReasonAlone = "Alone"
	// ReasonCannotJoin: no other speaker is a live member although some are up (their Pods
	// became Ready after they were last reached): a blocked port, a wrong address. This
	// speaker is isolated and announces nothing on layer 2.
	ReasonCannotJoin = "CannotJoin"
	// ReasonKeyRejected: some expected speaker refuses this speaker's gossip key (or
	// this one refuses theirs): the memberlist Secrets differ.
	ReasonKeyRejected = "KeyRejected"
)

// ConditionBGPAdvertised is the Service condition, written by the controller alone (the
// leader), that says how many nodes advertise the Service's addresses by BGP and to which
// peers with the session Established, or why none does. It computes the nodes with the
// speaker's own rules and reads the sessions from the BGPPeers' status.nodes.
const ConditionBGPAdvertised = "ironlb.io/BGPAdvertised"

// Reasons of the ConditionBGPAdvertised condition. NotAdvertised (no BGPAdvertisement
// covers the addresses any more) and NoEligibleNode (a BGPAdvertisement covers them, but no
// node may advertise them) are shared with ConditionL2Announced.
const (
	// ReasonAdvertised: at least one node that should advertise an address has an
	// Established session to a peer the route goes to.
	ReasonAdvertised = "Advertised"
	// ReasonNoEstablishedSession: some nodes should advertise, but none has an Established
	// session to a peer the route goes to (or no peer takes it at all).
	ReasonNoEstablishedSession = "NoEstablishedSession"
)

// Reasons of a BGPPeer's Ready condition: Configured when the session can be opened, else
// the configuration problem that keeps it closed.
const (
	ReasonConfigured         = "Configured"
	ReasonInvalidPeerAddress = "InvalidPeerAddress"
	ReasonSecretNotReadable  = "SecretNotReadable"
	ReasonSecretNotFound     = "SecretNotFound"
	ReasonSecretKeyMissing   = "SecretKeyMissing"
	ReasonSecretInvalid      = "SecretInvalid"
	ReasonBFDProfileNotFound = "BFDProfileNotFound"
	// ReasonAddressConflict: another BGPPeer, first by name, has the same peer address.
	ReasonAddressConflict = "AddressConflict"
)

// DefaultPasswordSecretKey is the key of a BGPPeer's password Secret when the reference
// names none.
const DefaultPasswordSecretKey = "password"

// Events the controller raises on a Service: reasons. Tests read them to tell whether an
// address moved (a restart or a reinstall of the controller must raise neither of the
// first two for a Service that keeps its addresses).
const (
	// EventIPAllocated (Normal): the Service got addresses; the note names each and its pool.
	EventIPAllocated = "IPAllocated"
	// EventIPReleased (Normal): addresses of the Service went back to their pool.
	EventIPReleased = "IPReleased"
	// EventAllocationFailed (Warning): the Service's request cannot be met; the note says why.
	EventAllocationFailed = "AllocationFailed"
)

// Events the speaker raises: reasons, and the actions they belong to.
const (
	// EventNotAnnounced (Warning, on a Service): some address of it has no node to answer.
	// Its Normal counterpart has the reason ReasonAnnouncing.
	EventNotAnnounced = "NotAnnounced"
	// EventSplitBrain (Warning, on a Service): another MAC answers for an address this
	// node owns.
	EventSplitBrain = "SplitBrain"
	// EventSpeakerIsolated (Warning, on a Node): the node's speaker cannot join speakers
	// that are up (wrong key, blocked port) and announces nothing on layer 2 meanwhile.
	// EventSpeakerJoined (Normal) follows when it joins.
	EventSpeakerIsolated = "SpeakerIsolated"
	EventSpeakerJoined   = "SpeakerJoined"
	// EventSessionDown (Warning, on a BGPPeer): an Established session went down.
	EventSessionDown = "SessionDown"

	ActionAnnounce = "Announce"
	ActionBGP      = "BGP"
)

// ControllerName is the controller's user agent, its leader-election Lease and the field
// manager of the status it writes.
const ControllerName = "ironlb-controller"

// SpeakerName is the speaker's event reporter and the start of its user agent.
const SpeakerName = "ironlb-speaker"

// SpeakerFieldManager is the server-side-apply field manager of the speaker on node: one
// manager per node, so that each speaker owns its own entry of a BGPPeer's status.nodes
// and never overwrites another node's.
func SpeakerFieldManager(node string) string { return SpeakerName + "-" + node }

// Annotations a user sets on a Service. MetalLB's forms (metallb.io/ and
// metallb.universe.tf/ with the same names) are read too; these win.
const (
	AnnotationLoadBalancerIPs = "ironlb.io/loadBalancerIPs"
	AnnotationAddressPool     = "ironlb.io/address-pool"
	AnnotationAllowSharedIP   = "ironlb.io/allow-shared-ip"
	// AnnotationNodeAddressFallback: "true" lets a Service that no IPAddressPool serves
	// (NoMatchingPool) use the InternalIPs of the eligible nodes instead, like k3s's
	// ServiceLB; kube-proxy then takes the Service's ports on those node addresses. It is
	// opt-in per Service because those ports are shared with the node and the addresses
	// change as nodes come and go. "false" or no annotation: the Service waits for a pool.
	AnnotationNodeAddressFallback = "ironlb.io/node-address-fallback"
)

// Annotations a user sets on a Service to give its BGP routes attributes of their own, on
// top of what its BGPAdvertisements give. Both binaries read them through one parser
// (internal/bgpattr); a bad value is ignored whole (the routes keep their advertisements'
// attributes) and reported by the controller on ConditionBGPAttributes and an event.
const (
	// AnnotationBGPCommunities is a comma list of communities added to the Service's
	// routes, each as a BGPAdvertisement writes it: AA:NN, large:A:B:C or a well-known
	// name (no-export, ...).
	AnnotationBGPCommunities = "ironlb.io/bgp-communities"
	// AnnotationBGPLocalPref is a LOCAL_PREF (0-4294967295) that replaces the
	// advertisements' localPref on the Service's routes; like theirs, it is sent to iBGP
	// peers only.
	AnnotationBGPLocalPref = "ironlb.io/bgp-local-pref"
)

// LinkBandwidthPerEndpoint is what one ready local endpoint is worth in the link-bandwidth
// extended community a BGPAdvertisement with endpointWeightedECMP attaches: 1 Mbit/s, in
// bytes per second as the community carries it. Routers compare the values of a prefix's
// paths, so the unit only has to be the same on every node; a round one reads well in the
// router ("LB:64512:125000 (1.000 Mbps)" in FRR is one endpoint). Float32 (the
// community's encoding) holds every multiple of it exactly up to 1000 endpoints.
const LinkBandwidthPerEndpoint = 125000

// ConditionBGPAttributes is the Service condition, written by the controller alone, that
// says whether the Service's BGP attribute annotations are valid and applied. Only
// Services carrying one of them have it; it goes when they go.
const ConditionBGPAttributes = "ironlb.io/BGPAttributes"

// Reasons of the ConditionBGPAttributes condition; InvalidBGPAttributes is also the reason
// of the Warning event raised when a value is refused.
const (
	// ReasonApplied: every annotation parsed; the speakers add them to the routes.
	ReasonApplied = "Applied"
	// ReasonInvalidBGPAttributes: an annotation is malformed; the message names it and
	// the bad value, and the routes keep their advertisements' attributes.
	ReasonInvalidBGPAttributes = "InvalidBGPAttributes"
)

// ConditionIPAllocated is the Service condition, written by the controller, that says
// whether the Service has its external address, and why not (the allocator's reasons,
// or InvalidAnnotation).
const ConditionIPAllocated = "ironlb.io/IPAllocated"

// Reasons of a False ConditionIPAllocated condition, given by the allocator; each is also
// the reason of the AllocationFailed event and of the failure metric's label.
const (
	ReasonNoMatchingPool       = "NoMatchingPool"
	ReasonPoolExhausted        = "PoolExhausted"
	ReasonRequestedIPNotInPool = "RequestedIPNotInPool"
	ReasonRequestedIPInUse     = "RequestedIPInUse"
	ReasonSharingConflict      = "SharingConflict"
	ReasonFamilyUnavailable    = "FamilyUnavailable"
	// ReasonPoolNotAllowed: the Service named a pool, or an address of a pool, whose
	// spec.serviceAllocation does not select it (tenancy); the message names the pool and
	// the rule.
	ReasonPoolNotAllowed = "PoolNotAllowed"
)

// Reasons of ConditionIPAllocated for a Service with AnnotationNodeAddressFallback that no
// pool serves. NodeAddresses is True: the Service's ingress is the InternalIPs of the nodes
// the message names. NoNodeAddresses is False (and the reason of the AllocationFailed
// event): no node is eligible, and the message says why for each.
const (
	ReasonNodeAddresses   = "NodeAddresses"
	ReasonNoNodeAddresses = "NoNodeAddresses"
)

// ConditionShrunk is True on a pool when Services hold addresses it no longer contains.
const ConditionShrunk = "Shrunk"

// PoolFinalizer keeps a pool object while Services still hold its addresses, so deleting a
// pool by mistake does not cut anyone off.
const PoolFinalizer = "ironlb.io/pool-protection"
