// Package bgpattr reads the BGP attributes a Service asks for with its annotations
// (ironlb.io/bgp-communities, ironlb.io/bgp-local-pref), and the community syntax they
// share with BGPAdvertisements. The speaker puts them on the Service's routes and the
// controller reports them on the Service's ironlb.io/BGPAttributes condition: both call
// Parse, so the two can never disagree about what is valid.
package bgpattr

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
)

// MaxCommunities bounds one Service's list, as the CRD bounds a BGPAdvertisement's.
const MaxCommunities = 64

// Attributes are what a Service's annotations add to its routes.
type Attributes struct {
	// Communities are added to the advertisements' communities: canonical (see
	// ParseCommunity), sorted, no duplicates.
	Communities []ironlbv1.Community
	// LocalPref replaces the advertisements' localPref; nil keeps theirs.
	LocalPref *int64
}

// IsZero reports whether the attributes change nothing.
func (a Attributes) IsZero() bool { return len(a.Communities) == 0 && a.LocalPref == nil }

// Error is one refused annotation: which one, the value refused, and why.
type Error struct {
	Annotation string
	Value      string // the refused entry (a community of the list, or the whole value)
	Reason     string
}

func (e *Error) Error() string {
	return fmt.Sprintf("annotation %s: %q %s", e.Annotation, e.Value, e.Reason)
}

// Errors are the refused annotations of one Service, one entry per annotation.
type Errors []*Error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Annotated reports whether the annotations hold any of the BGP attribute annotations,
// valid or not: only such Services get the condition.
func Annotated(annotations map[string]string) bool {
	_, c := annotations[ironlbv1.AnnotationBGPCommunities]
	_, l := annotations[ironlbv1.AnnotationBGPLocalPref]
	return c || l
}

// Parse reads a Service's BGP attribute annotations. It is all or nothing: when any
// annotation is malformed it returns no attributes and an Errors naming each bad one, so
// a route never carries half of what was asked (a raised localPref without the no-export
// that was meant to go with it). Entries of the community list may be surrounded by
// spaces; an empty list adds nothing.
func Parse(annotations map[string]string) (Attributes, error) {
	var a Attributes
	var errs Errors
	if v, ok := annotations[ironlbv1.AnnotationBGPCommunities]; ok {
		comms, err := parseCommunities(v)
		if err != nil {
			errs = append(errs, err)
		}
		a.Communities = comms
	}
	if v, ok := annotations[ironlbv1.AnnotationBGPLocalPref]; ok {
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
		if err != nil {
			errs = append(errs, &Error{Annotation: ironlbv1.AnnotationBGPLocalPref, Value: v,
				Reason: "is not a localPref: use a whole number from 0 to 4294967295"})
		}
		lp := int64(n)
		a.LocalPref = &lp
	}
	if len(errs) > 0 {
		return Attributes{}, errs
	}
	return a, nil
}

// parseCommunities reads the comma list, refusing it at its first bad entry.
func parseCommunities(v string) ([]ironlbv1.Community, *Error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	fail := func(value, reason string) *Error {
		return &Error{Annotation: ironlbv1.AnnotationBGPCommunities, Value: value, Reason: reason}
	}
	var out []ironlbv1.Community
	for _, entry := range strings.Split(v, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			return nil, fail(v, "has an empty entry (two commas in a row, or one at an end)")
		}
		std, large, err := ParseCommunity(entry)
		if err != nil {
			return nil, fail(entry, "is not a community: use AA:NN (each 0-65535), large:A:B:C (each 0-4294967295) or a well-known name such as no-export")
		}
		out = append(out, ironlbv1.Community(canonical(entry, std, large)))
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxCommunities {
		return nil, fail(v, fmt.Sprintf("has %d communities, at most %d", len(out), MaxCommunities))
	}
	return out, nil
}
