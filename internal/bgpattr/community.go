package bgpattr

import (
	"fmt"
	"strconv"
	"strings"
)

// wellKnownCommunities are the named communities of RFC 1997, 7999, 8326, 7611 and the
// long-lived graceful restart draft, by the names the API accepts.
var wellKnownCommunities = map[string]uint32{
	"no-export":           0xFFFFFF01,
	"no-advertise":        0xFFFFFF02,
	"no-export-subconfed": 0xFFFFFF03,
	"no-peer":             0xFFFFFF04,
	"blackhole":           0xFFFF029A,
	"graceful-shutdown":   0xFFFF0000,
	"accept-own":          0xFFFF0001,
	"llgr-stale":          0xFFFF0006,
	"no-llgr":             0xFFFF0007,
}

// ParseCommunity reads a community as the API writes it: AA:NN, large:A:B:C or a
// well-known name. Exactly one of the results is set when err is nil.
func ParseCommunity(s string) (standard *uint32, large *[3]uint32, err error) {
	if v, ok := wellKnownCommunities[s]; ok {
		return &v, nil, nil
	}
	if rest, ok := strings.CutPrefix(s, "large:"); ok {
		parts := strings.Split(rest, ":")
		if len(parts) != 3 {
			return nil, nil, fmt.Errorf("community %q: a large community is large:A:B:C", s)
		}
		var l [3]uint32
		for i, p := range parts {
			n, err := strconv.ParseUint(p, 10, 32)
			if err != nil {
				return nil, nil, fmt.Errorf("community %q: %q is not a number from 0 to 4294967295", s, p)
			}
			l[i] = uint32(n)
		}
		return nil, &l, nil
	}
	hi, lo, ok := strings.Cut(s, ":")
	if !ok {
		return nil, nil, fmt.Errorf("community %q: use AA:NN, large:A:B:C or a well-known name", s)
	}
	a, err1 := strconv.ParseUint(hi, 10, 16)
	b, err2 := strconv.ParseUint(lo, 10, 16)
	if err1 != nil || err2 != nil {
		return nil, nil, fmt.Errorf("community %q: both halves of AA:NN are numbers from 0 to 65535", s)
	}
	v := uint32(a)<<16 | uint32(b)
	return &v, nil, nil
}

// canonical is the one spelling of a community that ParseCommunity accepted (no leading
// zeros; well-known names kept), so that "64512:0100" from an annotation and "64512:100"
// from a BGPAdvertisement merge into one community on the route.
func canonical(s string, standard *uint32, large *[3]uint32) string {
	if large != nil {
		return fmt.Sprintf("large:%d:%d:%d", large[0], large[1], large[2])
	}
	if _, named := wellKnownCommunities[s]; named {
		return s
	}
	return fmt.Sprintf("%d:%d", *standard>>16, *standard&0xFFFF)
}
