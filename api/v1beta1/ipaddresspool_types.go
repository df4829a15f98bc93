package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IPAddressPoolSpec says which addresses ironlb may give to LoadBalancer Services.
type IPAddressPoolSpec struct {
	// Addresses the pool hands out: CIDRs (198.18.0.0/24, 2001:db8::/120) and inclusive
	// ranges of one family (198.18.0.10-198.18.0.20). IPv4 and IPv6 may be mixed in one pool.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=128
	// +listType=atomic
	Addresses []AddressRange `json:"addresses"`

	// AutoAssign lets the controller give addresses from this pool to Services that did not
	// ask for a pool or an address. Set it to false for a pool that only serves explicit
	// requests (the ironlb.io/address-pool annotation or a requested IP).
	// +kubebuilder:default=true
	// +optional
	AutoAssign *bool `json:"autoAssign,omitempty"`

	// AvoidBuggyIPs skips, for automatic assignment, IPv4 addresses ending in .0 and .255,
	// which some old client stacks and routers drop as if they were network or broadcast
	// addresses, and the subnet-router anycast addresses of IPv6, which routers answer
	// themselves: the first address of each /64 and of each entry written as a prefix
	// longer than /64 (and shorter than /127). They can still be requested by address. The
	// unspecified addresses 0.0.0.0 and :: are never handed out automatically.
	// +kubebuilder:default=false
	// +optional
	AvoidBuggyIPs bool `json:"avoidBuggyIPs,omitempty"`

	// Reserved addresses are part of the pool but are never handed out automatically; a
	// Service gets one only by asking for it by address. Use it for addresses you promise
	// to someone in advance, such as a DNS record that already exists.
	// +kubebuilder:validation:MaxItems=128
	// +listType=atomic
	// +optional
	Reserved []AddressRange `json:"reserved,omitempty"`

	// ServiceAllocation limits this pool to some Services and orders pools: the controller
	// tries matching pools with serviceAllocation first, lower priority numbers first, then
	// the auto-assign pools without it. A pool that names namespaces or selectors serves
	// only the Services they select, also when a Service asks for the pool by annotation
	// or for one of its addresses (others wait with the reason PoolNotAllowed). This is
	// checked when a Service takes an address: an address a Service already holds stays
	// with it when the rule changes.
	// +optional
	ServiceAllocation *ServiceAllocation `json:"serviceAllocation,omitempty"`

	// AllowCrossNamespaceSharing lets Services of different namespaces share an address of
	// this pool when they carry the same ironlb.io/allow-shared-ip key. By default a sharing
	// key only joins Services of one namespace, so that a Service cannot attach itself to
	// another team's address by guessing its key. Like serviceAllocation it is checked
	// when a Service takes an address: turning it off leaves addresses already shared
	// across namespaces where they are. It sits beside serviceAllocation, not in it, because
	// a serviceAllocation also changes the order in which pools are tried.
	// +kubebuilder:default=false
	// +optional
	AllowCrossNamespaceSharing bool `json:"allowCrossNamespaceSharing,omitempty"`
}

// ServiceAllocation selects the Services a pool serves automatically. All the given
// selectors must match (namespaces and namespaceSelectors are alternatives to each other).
type ServiceAllocation struct {
	// Priority orders matching pools: lower numbers are tried first, pools without a
	// priority after those with one, and ties are broken by pool name so the choice is
	// the same on every controller.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000
	// +optional
	Priority *int32 `json:"priority,omitempty"`

	// Namespaces the pool serves, by name.
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +listType=set
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`

	// NamespaceSelectors select the namespaces the pool serves by their labels.
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	NamespaceSelectors []metav1.LabelSelector `json:"namespaceSelectors,omitempty"`

	// ServiceSelectors select the Services the pool serves by their labels.
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	ServiceSelectors []metav1.LabelSelector `json:"serviceSelectors,omitempty"`
}

// FamilyUsage counts one address family of a pool. Totals are decimal strings because an
// IPv6 pool can hold more addresses than a 64-bit integer counts.
type FamilyUsage struct {
	// Total addresses of this family in the pool, reserved ones included.
	Total string `json:"total"`
	// Assigned addresses of this family held by Services.
	Assigned int64 `json:"assigned"`
	// Available addresses left for automatic assignment.
	Available string `json:"available"`
}

// IPAddressPoolStatus reports how full the pool is and whether it can be used.
type IPAddressPoolStatus struct {
	// IPv4 usage, when the pool has IPv4 addresses.
	// +optional
	IPv4 *FamilyUsage `json:"ipv4,omitempty"`
	// IPv6 usage, when the pool has IPv6 addresses.
	// +optional
	IPv6 *FamilyUsage `json:"ipv6,omitempty"`
	// Conditions: Ready (the pool is in use), Conflict (it overlaps an older pool and is
	// not used until that is fixed), Exhausted (no address left for automatic assignment).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// IPAddressPool is a set of addresses that ironlb hands out to LoadBalancer Services.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=ippool;ippools,categories=ironlb
// +kubebuilder:printcolumn:name="Addresses",type=string,JSONPath=`.spec.addresses`
// +kubebuilder:printcolumn:name="Auto Assign",type=boolean,JSONPath=`.spec.autoAssign`
// +kubebuilder:printcolumn:name="IPv4 Assigned",type=integer,JSONPath=`.status.ipv4.assigned`
// +kubebuilder:printcolumn:name="IPv4 Available",type=string,JSONPath=`.status.ipv4.available`
// +kubebuilder:printcolumn:name="IPv6 Assigned",type=integer,JSONPath=`.status.ipv6.assigned`
// +kubebuilder:printcolumn:name="IPv6 Available",type=string,JSONPath=`.status.ipv6.available`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type IPAddressPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec IPAddressPoolSpec `json:"spec"`
	// +optional
	Status IPAddressPoolStatus `json:"status,omitempty"`
}

// IPAddressPoolList is a list of IPAddressPool.
//
// +kubebuilder:object:root=true
type IPAddressPoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IPAddressPool `json:"items"`
}

func init() {
	register(&IPAddressPool{}, &IPAddressPoolList{})
}
