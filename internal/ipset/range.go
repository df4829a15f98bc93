// Package ipset parses the address lists of IPAddressPool objects and does
// the set arithmetic that the controller (allocation) and the speaker
// (announcement) both need, so that the two can never disagree about which
// addresses a pool holds.
//
// Everything is expressed as inclusive ranges of netip.Addr rather than as
// prefixes, because users may write arbitrary ranges such as
// "198.18.0.10-198.18.0.20", and because a range stays a range under
// intersection and subtraction while a prefix does not.
package ipset

import (
	"fmt"
	"math/big"
	"net/netip"
	"strings"
)

// Family is an IP address family.
type Family int

// The values are the conventional version numbers so that a Family prints
// sensibly even through %d.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

func (f Family) String() string {
	switch f {
	case IPv4:
		return "IPv4"
	case IPv6:
		return "IPv6"
	}
	return fmt.Sprintf("Family(%d)", int(f))
}

// FamilyOf reports the family of a. An IPv4-mapped IPv6 address is IPv6,
// matching how netip compares and orders it. An invalid address has family 0.
func FamilyOf(a netip.Addr) Family {
	switch {
	case a.Is4():
		return IPv4
	case a.Is6():
		return IPv6
	}
	return 0
}

// Range is an inclusive range [First, Last] of one family.
//
// Ranges produced by ParseRange are always valid; a hand-built Range must
// have both ends valid, of one family, without zones, and First <= Last, or
// New will reject it.
//
// Addresses inside ::ffff:0:0/96 are ordinary IPv6 values here: ParseRange
// refuses them as written ends, but a wide IPv6 range such as ::/80 or ::/0
// contains them, and set arithmetic on such ranges can end a range there.
type Range struct{ First, Last netip.Addr }

// valid is the invariant every Range inside a Set satisfies; keeping it in
// one place lets the set algorithms assume it without re-checking.
func (r Range) valid() bool {
	return validAddr(r.First) && validAddr(r.Last) &&
		r.First.BitLen() == r.Last.BitLen() &&
		r.First.Compare(r.Last) <= 0
}

// validAddr rejects zones because a zoned address sorts between two
// unzoned ones and would break the ordering the Set relies on.
func validAddr(a netip.Addr) bool {
	return a.IsValid() && a.Zone() == ""
}

// Family reports the family of the range's addresses.
func (r Range) Family() Family { return FamilyOf(r.First) }

// Contains reports whether a lies within r. Zoned addresses are never
// contained, as with netip.Prefix.Contains: a pool address is not scoped to
// an interface.
func (r Range) Contains(a netip.Addr) bool {
	return r.valid() && a.Zone() == "" &&
		r.First.Compare(a) <= 0 && a.Compare(r.Last) <= 0
}

// Size returns the number of addresses in r as a big.Int, because an IPv6
// range can hold 2^128 addresses. An invalid range has size 0.
func (r Range) Size() *big.Int {
	if !r.valid() {
		return new(big.Int)
	}
	n := new(big.Int).SetBytes(r.Last.AsSlice())
	n.Sub(n, new(big.Int).SetBytes(r.First.AsSlice()))
	return n.Add(n, big.NewInt(1))
}

// String prefers CIDR notation because that is what users usually write
// and what the speaker announces; any other range uses "first-last". Either
// form parses back to the same Range.
func (r Range) String() string {
	if !r.valid() {
		return "invalid Range"
	}
	if p, ok := r.prefix(); ok {
		return fmt.Sprintf("%s/%d", formatAddr(p.Addr()), p.Bits())
	}
	return formatAddr(r.First) + "-" + formatAddr(r.Last)
}

// formatAddr writes addresses in ::ffff:0:0/96 in hex rather than netip's
// dotted "::ffff:1.2.3.4", which would read as an IPv4 address although the
// Set treats it as IPv6.
func formatAddr(a netip.Addr) string {
	if !a.Is4In6() {
		return a.String()
	}
	b := a.As16()
	return fmt.Sprintf("::ffff:%x:%x", uint16(b[12])<<8|uint16(b[13]), uint16(b[14])<<8|uint16(b[15]))
}

// prefix returns the single prefix covering exactly r, if there is one.
func (r Range) prefix() (netip.Prefix, bool) {
	for bits := 0; bits <= r.First.BitLen(); bits++ {
		p := netip.PrefixFrom(r.First, bits)
		if p.Masked().Addr() == r.First && lastOf(p) == r.Last {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// lastOf returns the highest address of p, i.e. its network address with
// every host bit set.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		switch lo := i * 8; {
		case lo >= bits:
			b[i] = 0xff
		case lo+8 > bits:
			b[i] |= 0xff >> (bits - lo)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// FormatAddrs joins addresses for messages users read, such as "198.18.0.1, 2001:db8::1".
func FormatAddrs(addrs []netip.Addr) string {
	parts := make([]string, len(addrs))
	for i, a := range addrs {
		parts[i] = a.String()
	}
	return strings.Join(parts, ", ")
}
