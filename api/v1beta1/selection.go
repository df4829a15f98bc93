package v1beta1

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Selects reports whether the selection covers the pool: named in ipAddressPools, matched
// by one of ipAddressPoolSelectors, or both lists empty (every pool). The speakers and the
// controller's advertisement check share it so they can never disagree.
func (s PoolSelection) Selects(pool *IPAddressPool) bool {
	if len(s.IPAddressPools) == 0 && len(s.IPAddressPoolSelectors) == 0 {
		return true
	}
	if slices.Contains(s.IPAddressPools, pool.Name) {
		return true
	}
	return len(s.IPAddressPoolSelectors) > 0 && MatchesAnySelector(s.IPAddressPoolSelectors, pool.Labels)
}

// MatchesAnySelector is true when the list is empty or one selector matches the labels:
// the meaning of every selector list in the API. A selector that does not parse matches
// nothing.
func MatchesAnySelector(sels []metav1.LabelSelector, set map[string]string) bool {
	if len(sels) == 0 {
		return true
	}
	for i := range sels {
		s, err := metav1.LabelSelectorAsSelector(&sels[i])
		if err == nil && s.Matches(labels.Set(set)) {
			return true
		}
	}
	return false
}
