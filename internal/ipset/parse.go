package ipset

import (
	"fmt"
	"net/netip"
	"strings"
)

// The examples in error messages; users see these in object status and
// events, so they show both accepted forms.
const (
	exampleCIDR  = `"198.18.0.0/24"`
	exampleRange = `"198.18.0.10-198.18.0.20"`
)

// ParseRange parses one entry of an address pool: a CIDR ("198.18.0.0/24",
// "2001:db8::/64") or an inclusive range ("198.18.0.10-198.18.0.20", spaces
// around the dash allowed). Surrounding whitespace is ignored.
//
// A bare address is refused rather than read as a /32, because a forgotten
// prefix length is more often a typo than a deliberate one-address pool.
// Every error says what is wrong and, where it can, what to write instead,
// since these messages are shown to users as they are.
func ParseRange(s string) (Range, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return Range{}, fmt.Errorf("empty address entry; write a CIDR such as %s or a range such as %s", exampleCIDR, exampleRange)
	case strings.Contains(s, "%"):
		return Range{}, zoneError(s)
	case strings.Contains(s, "-"):
		return parseDashRange(s)
	case strings.Contains(s, "/"):
		return parseCIDR(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return Range{}, fmt.Errorf("%q is not a CIDR or an address range; write a CIDR such as %s or a range such as %s", s, exampleCIDR, exampleRange)
	}
	if a.Is4In6() {
		return Range{}, mappedError(s, netip.PrefixFrom(a.Unmap(), 32))
	}
	return Range{}, fmt.Errorf("%q is a single address without a prefix length; did you mean %q?", s, netip.PrefixFrom(a, a.BitLen()))
}

func parseCIDR(s string) (Range, error) {
	addrPart, bitsPart, _ := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addrPart)
	if err != nil {
		return Range{}, fmt.Errorf("%q does not start with a valid IP address (%q); write a CIDR such as %s", s, addrPart, exampleCIDR)
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return Range{}, fmt.Errorf("%q has an invalid prefix length %q; %s prefix lengths are 0 to %d", s, bitsPart, FamilyOf(a), a.BitLen())
	}
	if a.Is4In6() {
		var hint netip.Prefix
		if p.Bits() >= 96 {
			hint = netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
		}
		return Range{}, mappedError(s, hint)
	}
	if m := p.Masked(); m != p {
		return Range{}, fmt.Errorf("%q has host bits set; did you mean %q?", s, m)
	}
	return Range{First: p.Addr(), Last: lastOf(p)}, nil
}

func parseDashRange(s string) (Range, error) {
	left, right, _ := strings.Cut(s, "-")
	left, right = strings.TrimSpace(left), strings.TrimSpace(right)
	switch {
	case strings.Contains(right, "-"):
		return Range{}, fmt.Errorf("%q has more than one \"-\"; write a range as first-last, such as %s", s, exampleRange)
	case left == "" || right == "":
		return Range{}, fmt.Errorf("%q is missing an address on one side of the \"-\"; write a range as first-last, such as %s", s, exampleRange)
	case strings.Contains(left, "/") || strings.Contains(right, "/"):
		return Range{}, fmt.Errorf("%q mixes a CIDR with a range; the ends of a range are plain addresses, such as %s", s, exampleRange)
	}
	first, err := parseRangeEnd(s, "first", left)
	if err != nil {
		return Range{}, err
	}
	last, err := parseRangeEnd(s, "last", right)
	if err != nil {
		return Range{}, err
	}
	if FamilyOf(first) != FamilyOf(last) {
		return Range{}, fmt.Errorf("%q mixes IPv4 and IPv6; both ends of a range must be the same family", s)
	}
	if first.Compare(last) > 0 {
		return Range{}, fmt.Errorf("%q has its first address %s after its last address %s; did you mean %q?", s, first, last, last.String()+"-"+first.String())
	}
	return Range{First: first, Last: last}, nil
}

func parseRangeEnd(s, which, part string) (netip.Addr, error) {
	a, err := netip.ParseAddr(part)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q: the %s address %q is not a valid IP address; write a range such as %s", s, which, part, exampleRange)
	}
	if a.Is4In6() {
		return netip.Addr{}, fmt.Errorf("%q: the %s address %q is an IPv4-mapped IPv6 address; write it as plain IPv4 %q", s, which, part, a.Unmap())
	}
	return a, nil
}

// mappedError refuses ::ffff:a.b.c.d forms: the speaker would have to
// announce them as IPv4 anyway, and accepting both spellings would let one
// host appear in a set twice. hint is the IPv4 spelling when one exists.
func mappedError(s string, hint netip.Prefix) error {
	if !hint.IsValid() {
		return fmt.Errorf("%q is an IPv4-mapped IPv6 address; write IPv4 pools in plain IPv4 form, such as %s", s, exampleCIDR)
	}
	return fmt.Errorf("%q is an IPv4-mapped IPv6 address; did you mean %q?", s, hint)
}

// zoneError refuses scoped addresses: a zone names a link on one node, which
// means nothing for a cluster-wide pool.
func zoneError(s string) error {
	zone := s[strings.Index(s, "%"):]
	if i := strings.IndexAny(zone, "/- "); i >= 0 {
		zone = zone[:i]
	}
	return fmt.Errorf("%q contains an IPv6 zone (%q); zones are not allowed in address pools, remove it", s, zone)
}
