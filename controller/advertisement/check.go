// Package advertisement checks L2Advertisements and BGPAdvertisements against the objects
// they refer to, which the CRD's own validation cannot see: pools and peers named but
// missing, and BGP aggregates that would reach beyond a pool. The result is each
// advertisement's Ready condition, so `kubectl describe` says what is wrong.
package advertisement

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/ipset"
)

// Reasons of the Ready condition.
const (
	ReasonReady                 = "Ready"
	ReasonPoolNotFound          = "PoolNotFound"
	ReasonPeerNotFound          = "PeerNotFound"
	ReasonAggregationBeyondPool = "AggregationBeyondPool"
	ReasonNoPoolSelected        = "NoPoolSelected"
)

// Check returns the Ready condition of an advertisement with this pool selection; bgp is
// nil for an L2Advertisement.
func Check(sel ironlbv1.PoolSelection, bgp *ironlbv1.BGPAdvertisementSpec, pools []ironlbv1.IPAddressPool, peers []ironlbv1.BGPPeer) metav1.Condition {
	ready := func(s metav1.ConditionStatus, reason, msg string) metav1.Condition {
		return metav1.Condition{Type: ironlbv1.ConditionReady, Status: s, Reason: reason, Message: msg}
	}
	if missing := missingNames(sel.IPAddressPools, pools, func(p ironlbv1.IPAddressPool) string { return p.Name }); len(missing) > 0 {
		return ready(metav1.ConditionFalse, ReasonPoolNotFound,
			fmt.Sprintf("spec.ipAddressPools: no IPAddressPool named %s; its addresses are not announced until it exists", strings.Join(missing, ", ")))
	}
	if bgp != nil {
		if missing := missingNames(bgp.Peers, peers, func(p ironlbv1.BGPPeer) string { return p.Name }); len(missing) > 0 {
			return ready(metav1.ConditionFalse, ReasonPeerNotFound,
				fmt.Sprintf("spec.peers: no BGPPeer named %s; routes go only to the peers that exist", strings.Join(missing, ", ")))
		}
	}
	var selected []*ironlbv1.IPAddressPool
	for i := range pools {
		if sel.Selects(&pools[i]) {
			selected = append(selected, &pools[i])
		}
	}
	if len(selected) == 0 {
		return ready(metav1.ConditionFalse, ReasonNoPoolSelected,
			"no IPAddressPool matches spec.ipAddressPools or spec.ipAddressPoolSelectors, so nothing is announced")
	}
	if bgp != nil {
		if problems := aggregationProblems(bgp, selected); len(problems) > 0 {
			return ready(metav1.ConditionFalse, ReasonAggregationBeyondPool, strings.Join(problems, "; "))
		}
	}
	names := make([]string, len(selected))
	for i, p := range selected {
		names[i] = p.Name
	}
	return ready(metav1.ConditionTrue, ReasonReady, "announces the addresses of pool(s) "+strings.Join(names, ", "))
}

// missingNames lists the wanted names that no object has, sorted.
func missingNames[T any](want []string, objs []T, name func(T) string) []string {
	var missing []string
	for _, w := range want {
		if !slices.ContainsFunc(objs, func(o T) bool { return name(o) == w }) {
			missing = append(missing, w)
		}
	}
	sort.Strings(missing)
	return missing
}

// aggregationProblems names the selected pools that an aggregationLength would reach
// beyond: the speakers advertise those pools' addresses alone instead.
func aggregationProblems(bgp *ironlbv1.BGPAdvertisementSpec, pools []*ironlbv1.IPAddressPool) []string {
	var out []string
	for _, p := range pools {
		entries := make([]string, len(p.Spec.Addresses))
		for i, a := range p.Spec.Addresses {
			entries[i] = string(a)
		}
		set, err := ipset.Parse(entries)
		if err != nil {
			continue // the pool reports its own invalid addresses
		}
		for _, f := range []struct {
			field  string
			length *int32
			family ipset.Family
		}{{"spec.aggregationLength", bgp.AggregationLength, ipset.IPv4}, {"spec.aggregationLengthV6", bgp.AggregationLengthV6, ipset.IPv6}} {
			if f.length == nil || !beyond(set, f.family, int(*f.length)) {
				continue
			}
			out = append(out, fmt.Sprintf("%s %d reaches beyond pool %s (%s): the speakers advertise its %s addresses alone",
				f.field, *f.length, p.Name, strings.Join(entries, ", "), f.family))
		}
	}
	return out
}

// beyond reports whether widening the set's ranges of one family to whole /length blocks
// adds addresses outside the set.
func beyond(set ipset.Set, family ipset.Family, length int) bool {
	for _, r := range set.Ranges() {
		if r.Family() != family || length >= r.First.BitLen() {
			continue
		}
		first, _ := r.First.Prefix(length)
		last, _ := r.Last.Prefix(length)
		widened := ipset.New(ipset.Range{First: first.Addr(), Last: lastAddr(last)})
		if !widened.Subtract(set).IsEmpty() {
			return true
		}
	}
	return false
}

// lastAddr is the last address of a prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
