package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PoolSelection picks address pools by name, by label, or both (the union). With neither,
// every pool is selected.
type PoolSelection struct {
	// IPAddressPools names pools to select.
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=253
	// +listType=set
	// +optional
	IPAddressPools []string `json:"ipAddressPools,omitempty"`

	// IPAddressPoolSelectors select pools by their labels.
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	IPAddressPoolSelectors []metav1.LabelSelector `json:"ipAddressPoolSelectors,omitempty"`
}

// TargetSelection narrows an advertisement to some nodes and some Services. Empty lists
// select everything; several selectors in one list select the union.
type TargetSelection struct {
	// NodeSelectors select the nodes that may announce.
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`

	// ServiceSelectors select the Services whose addresses are announced.
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	ServiceSelectors []metav1.LabelSelector `json:"serviceSelectors,omitempty"`

	// ExcludeCordonedNodes takes a cordoned node (spec.unschedulable, as set by
	// `kubectl cordon` and by `kubectl drain` before it evicts pods) out of this
	// advertisement, so traffic leaves the node before its pods do: in layer 2 another node
	// takes the addresses over (its gratuitous ARP / unsolicited NA moves the clients), and
	// in BGP the node withdraws the routes but keeps its sessions up. Uncordoning brings the
	// node back. When several advertisements cover an address, a cordoned node stays
	// eligible through any of them that selects it without this flag.
	//
	// It is off by default: MetalLB once excluded cordoned nodes always and reverted it,
	// because a cordon alone (maintenance on a node whose pods keep running, or a cluster
	// whose nodes are all cordoned during an upgrade) then silently dropped traffic.
	// +kubebuilder:default=false
	// +optional
	ExcludeCordonedNodes bool `json:"excludeCordonedNodes,omitempty"`
}

// InterfaceName is a Linux network interface name.
//
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=15
// +kubebuilder:validation:XValidation:rule=`self.matches('^[^\\s/:]+$') && self != '.' && self != '..'`,messageExpression=`'"' + self + '" is not a network interface name (at most 15 characters, no spaces, "/" or ":")'`
type InterfaceName string

// L2AdvertisementSpec says which addresses are announced with ARP (IPv4) and NDP (IPv6),
// from which nodes and on which interfaces.
type L2AdvertisementSpec struct {
	PoolSelection   `json:",inline"`
	TargetSelection `json:",inline"`

	// Interfaces the announcing node answers on. Empty means every interface that has an
	// address and is up, except loopback and virtual links of pods.
	// +kubebuilder:validation:MaxItems=64
	// +listType=set
	// +optional
	Interfaces []InterfaceName `json:"interfaces,omitempty"`
}

// AdvertisementStatus reports problems a user must fix, such as a selected pool that does
// not exist.
type AdvertisementStatus struct {
	// Conditions: Ready when every named pool and peer exists.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// L2Advertisement announces pool addresses on the local network segment: one elected node
// per address answers ARP and NDP for it.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=l2adv,categories=ironlb
// +kubebuilder:printcolumn:name="Pools",type=string,JSONPath=`.spec.ipAddressPools`
// +kubebuilder:printcolumn:name="Interfaces",type=string,JSONPath=`.spec.interfaces`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type L2Advertisement struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec L2AdvertisementSpec `json:"spec,omitempty"`
	// +optional
	Status AdvertisementStatus `json:"status,omitempty"`
}

// L2AdvertisementList is a list of L2Advertisement.
//
// +kubebuilder:object:root=true
type L2AdvertisementList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []L2Advertisement `json:"items"`
}

// Community is a BGP community: a standard one as AA:NN (each 0-65535), a large one as
// large:A:B:C (each 0-4294967295), or a well-known name.
//
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=40
// +kubebuilder:validation:XValidation:rule=`(self.matches('^[0-9]{1,5}:[0-9]{1,5}$') && int(self.split(':')[0]) <= 65535 && int(self.split(':')[1]) <= 65535) || (self.matches('^large:[0-9]{1,10}:[0-9]{1,10}:[0-9]{1,10}$') && int(self.split(':')[1]) <= 4294967295 && int(self.split(':')[2]) <= 4294967295 && int(self.split(':')[3]) <= 4294967295) || self in ['no-export', 'no-advertise', 'no-export-subconfed', 'no-peer', 'blackhole', 'graceful-shutdown', 'accept-own', 'llgr-stale', 'no-llgr']`,messageExpression=`'"' + self + '" is not a community: use AA:NN (each 0-65535), large:A:B:C (each 0-4294967295) or one of no-export, no-advertise, no-export-subconfed, no-peer, blackhole, graceful-shutdown, accept-own, llgr-stale, no-llgr'`
type Community string

// BGPAdvertisementSpec says how pool addresses are advertised to BGP peers. When several
// advertisements select the same address, each produces its own route attributes and the
// speaker sends one path per distinct prefix: communities are merged and the highest
// localPref wins for a prefix advertised by more than one of them.
type BGPAdvertisementSpec struct {
	PoolSelection   `json:",inline"`
	TargetSelection `json:",inline"`

	// AggregationLength is the IPv4 prefix length advertised for an address: 32 sends the
	// address alone, a shorter length sends the prefix that contains it.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=32
	// +kubebuilder:default=32
	// +optional
	AggregationLength *int32 `json:"aggregationLength,omitempty"`

	// AggregationLengthV6 is the IPv6 prefix length advertised for an address.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=128
	// +kubebuilder:default=128
	// +optional
	AggregationLengthV6 *int32 `json:"aggregationLengthV6,omitempty"`

	// LocalPref is the BGP LOCAL_PREF attribute; it is sent to iBGP peers only.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +optional
	LocalPref *int64 `json:"localPref,omitempty"`

	// Communities attached to the routes: AA:NN, large:A:B:C or a well-known name.
	// +kubebuilder:validation:MaxItems=64
	// +listType=set
	// +optional
	Communities []Community `json:"communities,omitempty"`

	// Peers names the BGPPeer objects to advertise to. Empty means every peer.
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=253
	// +listType=set
	// +optional
	Peers []string `json:"peers,omitempty"`

	// EndpointWeightedECMP attaches the BGP link-bandwidth extended community
	// (non-transitive, RFC 10005) to the routes of Services with externalTrafficPolicy
	// Local, worth LinkBandwidthPerEndpoint for each ready endpoint the node has for the
	// Service. A router that honours it (FRR: bgp bestpath bandwidth, with maximum-paths)
	// then weights its ECMP next hops by endpoint count instead of splitting traffic evenly
	// between nodes, so a node with 3 pods gets 3 times the traffic of a node with 1.
	// A node with no ready endpoint still withdraws the route, as without this field.
	//
	// It has no effect on routes of Services with externalTrafficPolicy Cluster (any node
	// forwards to every endpoint, so node weights would mean nothing): they are sent
	// without the community. A prefix shared by several Services (a shared address, or an
	// aggregate) carries the sum of their endpoints, and none when any of them is Cluster.
	// +kubebuilder:default=false
	// +optional
	EndpointWeightedECMP bool `json:"endpointWeightedECMP,omitempty"`
}

// BGPAdvertisement advertises pool addresses to BGP peers from every eligible node.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=bgpadv,categories=ironlb
// +kubebuilder:printcolumn:name="Pools",type=string,JSONPath=`.spec.ipAddressPools`
// +kubebuilder:printcolumn:name="Peers",type=string,JSONPath=`.spec.peers`
// +kubebuilder:printcolumn:name="Aggregation",type=integer,JSONPath=`.spec.aggregationLength`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BGPAdvertisement struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec BGPAdvertisementSpec `json:"spec,omitempty"`
	// +optional
	Status AdvertisementStatus `json:"status,omitempty"`
}

// BGPAdvertisementList is a list of BGPAdvertisement.
//
// +kubebuilder:object:root=true
type BGPAdvertisementList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPAdvertisement `json:"items"`
}

func init() {
	register(&L2Advertisement{}, &L2AdvertisementList{}, &BGPAdvertisement{}, &BGPAdvertisementList{})
}
