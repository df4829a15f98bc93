package allocator

import (
	"math/big"
	"net/netip"

	"k8s.io/apimachinery/pkg/labels"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/ipset"
)

// Pool is the allocator's view of one IPAddressPool.
type Pool struct {
	Name string
	// Addresses are all addresses of the pool, Reserved ones included.
	Addresses ipset.Set
	// Reserved addresses are part of the pool but are handed out only to a
	// Service that asks for them by address. Reserved addresses outside
	// Addresses are ignored.
	Reserved ipset.Set
	// AutoAssign lets Services that name neither a pool nor an IP get
	// addresses from this pool.
	AutoAssign bool
	// AvoidBuggyIPs skips IPv4 x.x.x.0 and x.x.x.255, the first address of
	// each IPv6 /64 and the Anycast addresses for automatic assignment; such
	// addresses can still be requested explicitly.
	AvoidBuggyIPs bool
	// Anycast are the subnet-router anycast addresses of the pool's IPv6
	// prefixes longer than /64 (each prefix's first address), which a Linux
	// router on that prefix answers itself. Only a prefix as written says
	// where one is, so Compile finds them; AvoidBuggyIPs skips them.
	Anycast ipset.Set
	// Allocation restricts automatic assignment to some Services and orders
	// pools; nil means the pool has no serviceAllocation.
	Allocation *ServiceAllocation
	// AllowCrossNamespaceSharing lets Services of different namespaces share an
	// address of this pool under one sharing key. Without it a key only joins
	// Services of one namespace, so nobody attaches to another tenant's address by
	// guessing its key. Like serviceAllocation, it is checked when a Service takes an
	// address, never for one already held.
	AllowCrossNamespaceSharing bool
	// Conflict marks a pool that overlaps an older one. It is never used for
	// new assignments, but Services that already hold its IPs keep them.
	Conflict bool
}

// ServiceAllocation is a pool's spec.serviceAllocation with its selectors
// already converted, so matching needs no parsing on the allocation path.
type ServiceAllocation struct {
	// Priority orders matching pools: lower first, nil after every numbered
	// pool, ties broken by pool name.
	Priority           *int32
	Namespaces         []string
	NamespaceSelectors []labels.Selector
	ServiceSelectors   []labels.Selector
}

// Port is one (protocol, port) pair of a Service, the unit that must not
// collide between Services sharing an IP.
type Port struct {
	Protocol string
	Port     int32
}

// FamilyPolicy is a Service's spec.ipFamilyPolicy.
type FamilyPolicy int

// The policies mirror Kubernetes' ipFamilyPolicy values.
const (
	SingleStack FamilyPolicy = iota
	PreferDualStack
	RequireDualStack
)

func (p FamilyPolicy) String() string {
	switch p {
	case SingleStack:
		return "SingleStack"
	case PreferDualStack:
		return "PreferDualStack"
	case RequireDualStack:
		return "RequireDualStack"
	}
	return "FamilyPolicy(?)"
}

// Request is everything about a Service that matters for allocation.
type Request struct {
	// Service is "namespace/name", the key of the holding.
	Service         string
	Namespace       string
	NamespaceLabels map[string]string
	ServiceLabels   map[string]string
	// Families comes from spec.ipFamilies, in order; empty means [IPv4].
	Families []ipset.Family
	Policy   FamilyPolicy
	// IPs are explicitly requested addresses, at most one per family.
	IPs []netip.Addr
	// Pool is an explicitly requested pool, "" if none.
	Pool string
	// SharingKey lets Services with the same key share an IP; "" means the
	// Service does not share.
	SharingKey string
	// SharingKeyUnknown says the Service's allow-shared-ip annotation is malformed, so
	// its key cannot be read. Only Claim uses it: it takes the key that the current
	// holders of the Service's addresses share, the one a running controller would still
	// hold for it (the start-up claim orders such Services last).
	SharingKeyUnknown bool
	Ports             []Port
	// TrafficPolicyLocal is externalTrafficPolicy: Local. Services sharing
	// an IP must agree on it, because the IP is announced from one set of
	// nodes.
	TrafficPolicyLocal bool
	// Selector is the Service's pod selector; with Local traffic policy,
	// sharers must select the same pods so that they have the same
	// announcing nodes.
	Selector map[string]string
}

// Assignment is what a Service holds.
type Assignment struct {
	// IPs are in the order of the request's Families.
	IPs []netip.Addr
	// Pools names the pool of each IP, in the same order. It is "" for an
	// IP that was claimed while no pool contained it.
	Pools []string
	// Sharing is the fingerprint of the sharing request the holding was last confirmed
	// under (see SharingFingerprint); the controller records it on the Service.
	Sharing string
	// Missing explains, under PreferDualStack, each wanted family that the
	// Service did not get, so the controller can say why in an event. It is
	// empty when every wanted family was assigned.
	Missing []*Error
}

// Reason is a machine-readable cause of an allocation failure; the
// controller uses it as the event and condition reason.
type Reason string

// The reasons an allocation fails.
// The strings are the public contract (api/v1beta1): users and tests read them in the
// Service's condition.
const (
	NoMatchingPool       Reason = ironlbv1.ReasonNoMatchingPool
	PoolExhausted        Reason = ironlbv1.ReasonPoolExhausted
	RequestedIPNotInPool Reason = ironlbv1.ReasonRequestedIPNotInPool
	RequestedIPInUse     Reason = ironlbv1.ReasonRequestedIPInUse
	SharingConflict      Reason = ironlbv1.ReasonSharingConflict
	FamilyUnavailable    Reason = ironlbv1.ReasonFamilyUnavailable
	// PoolNotAllowed: the Service asked for a pool, or an address of a pool, whose
	// serviceAllocation does not select it. Tenancy is checked only when a Service takes
	// an address, never for one it already holds.
	PoolNotAllowed Reason = ironlbv1.ReasonPoolNotAllowed
)

// Error is an allocation failure. Message is a full sentence meant to be shown
// as it is in `kubectl describe svc`.
type Error struct {
	Reason  Reason
	Message string
}

func (e *Error) Error() string { return e.Message }

// Usage counts one family of one pool, for the pool's status.
type Usage struct {
	// Total is every address of the family in the pool, reserved included.
	Total *big.Int
	// Assigned is the number of distinct addresses of the family inside the
	// pool that some Service holds.
	Assigned int64
	// Available is how many more addresses automatic assignment could hand
	// out: not reserved, not skipped as buggy, not held.
	Available *big.Int
}
