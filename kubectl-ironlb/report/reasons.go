package report

import (
	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/controller/allocator"
	"github.com/ironlb/ironlb/controller/request"
)

// Reason is a plain-language reading of one reason of the controller's
// ironlb.io/IPAllocated condition: what it means and what to change.
type Reason struct {
	Meaning string `json:"meaning"`
	Fix     string `json:"fix"`
}

// Reasons covers every reason the controller writes when a Service has no address (the
// allocator's reasons, the request parser's InvalidAnnotation and node-address fallback's
// NoNodeAddresses). A test checks that no reason is missing.
var Reasons = map[string]Reason{
	string(allocator.NoMatchingPool): {
		Meaning: "no IPAddressPool may give this Service an address: the pool it asks for (ironlb.io/address-pool) does not exist or overlaps an older pool, or, when it asks for none, every pool is left out by its serviceAllocation, by autoAssign: false or by an overlap",
		Fix:     "create a pool, correct the pool name in the annotation, or widen a pool's spec.serviceAllocation (namespaces, namespaceSelectors, serviceSelectors) or set its autoAssign to true",
	},
	string(allocator.PoolExhausted): {
		Meaning: "every address the Service's pools may hand out automatically is already held by other Services (reserved addresses are never handed out automatically)",
		Fix:     "add addresses to a pool's spec.addresses or a new pool, delete LoadBalancer Services that are no longer used, or let Services share an address with the ironlb.io/allow-shared-ip annotation",
	},
	string(allocator.RequestedIPNotInPool): {
		Meaning: "the Service asks for a specific address (ironlb.io/loadBalancerIPs or spec.loadBalancerIP) that no usable pool contains, or that is outside the pool it names",
		Fix:     "request an address inside a pool, or add the address to a pool's spec.addresses (as a /32 or /128, or in spec.reserved to keep it for explicit requests)",
	},
	string(allocator.RequestedIPInUse): {
		Meaning: "the address the Service asks for is held by another Service, and the two may not share it",
		Fix:     "request another address, or give both Services the same ironlb.io/allow-shared-ip key, with ports that do not overlap and the same externalTrafficPolicy (with Local, the same selector too)",
	},
	string(allocator.SharingConflict): {
		Meaning: "both Services carry the same sharing key, but they cannot share the address: their ports overlap, or their externalTrafficPolicy differs, or with Local their selectors differ",
		Fix:     "use ports that do not overlap, align externalTrafficPolicy (and the selectors with Local), or give this Service a different sharing key",
	},
	string(allocator.PoolNotAllowed): {
		Meaning: "the Service names a pool, or asks for an address of a pool, whose spec.serviceAllocation (namespaces, namespaceSelectors, serviceSelectors) does not select it; a pool limited to some tenants refuses the others also when they ask for it by name or by address",
		Fix:     "use a pool that serves this Service's namespace, or ask the pool's owner to add the namespace or a label to its serviceAllocation (an address already held is never taken away by that edit)",
	},
	string(allocator.FamilyUnavailable): {
		Meaning: "the Service needs an address of a family (spec.ipFamilies, spec.ipFamilyPolicy) that none of its pools has, or it requests an address of a family it does not use",
		Fix:     "add addresses of that family to a pool, or change spec.ipFamilyPolicy (PreferDualStack takes what exists) or spec.ipFamilies, or request an address of the Service's family",
	},
	ironlbv1.ReasonNoNodeAddresses: {
		Meaning: "the Service opted in to node addresses (ironlb.io/node-address-fallback: \"true\") because no IPAddressPool serves it, but no node may take its traffic: each is NotReady, cordoned, excluded from load balancers (node.kubernetes.io/exclude-from-external-load-balancers), has NetworkUnavailable, has its kubelet on a TCP port of the Service, has no InternalIP of the Service's families, or, with externalTrafficPolicy: Local, has no ready endpoint; the message names each node and why. It is also given when an older Service on node addresses already takes one of this Service's ports (same protocol) on those addresses, which kube-proxy could not tell apart",
		Fix:     "bring a node back (Ready, uncordoned), give nodes an InternalIP of the Service's family (or change spec.ipFamilies), move the Service off the kubelet's port, run a ready pod of the Service (externalTrafficPolicy: Local), use ports the older Service the message names does not use, or create an IPAddressPool that serves the Service",
	},
	request.InvalidAnnotation: {
		Meaning: "an ironlb or MetalLB annotation, or spec.loadBalancerIP, has a value the controller cannot read; the message names it. A Service that already has an address keeps it",
		Fix:     "correct the value the message names (for example one address per family in ironlb.io/loadBalancerIPs, comma separated)",
	},
}

// NodeAddresses explains the True reason of a Service on node addresses, which is no
// pending reason but still surprises: its addresses are its nodes'.
var NodeAddresses = Reason{
	Meaning: "no IPAddressPool serves the Service, and it opted in to node addresses (ironlb.io/node-address-fallback: \"true\"): its external addresses are the InternalIPs of the eligible nodes, and kube-proxy on each takes the Service's ports on them (a port the node already uses collides). Nothing is announced by ARP/NDP or BGP, and the addresses change as nodes come and go",
	Fix:     "nothing, if node addresses are what you want; for a stable address of its own, create an IPAddressPool that serves the Service (it moves to the pool's address)",
}

// unknownReason explains a reason this version of the plugin does not know.
var unknownReason = Reason{
	Meaning: "the controller could not allocate an address; its message says why",
	Fix:     "follow the controller's message; `kubectl describe svc` shows the same condition and the events",
}

// Explain returns the reading of a reason.
func Explain(reason string) Reason {
	if r, ok := Reasons[reason]; ok {
		return r
	}
	return unknownReason
}
