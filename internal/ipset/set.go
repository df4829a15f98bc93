package ipset

import (
	"fmt"
	"iter"
	"math/big"
	"net/netip"
	"slices"
	"sort"
	"strings"
)

// Set is an immutable, normalized set of addresses of both families.
//
// The ranges are kept sorted by netip.Addr.Compare (which puts all IPv4
// before IPv6), non-overlapping, and with adjacent ranges merged. Because
// the representation is canonical, two Sets hold the same addresses exactly
// when their range lists are identical, and lookups can binary-search.
// The zero Set is empty and ready to use.
type Set struct {
	ranges []Range
}

// Parse builds a Set from the address entries of a pool. Entries may
// overlap, repeat, and mix families; only malformed entries are errors, and
// the error names the entry's zero-based index so the user can find it.
func Parse(entries []string) (Set, error) {
	ranges := make([]Range, 0, len(entries))
	for i, e := range entries {
		r, err := ParseRange(e)
		if err != nil {
			return Set{}, fmt.Errorf("address entry %d: %w", i, err)
		}
		ranges = append(ranges, r)
	}
	return New(ranges...), nil
}

// MustParse is for tests and package-level constants, where a bad entry is a
// programming error.
func MustParse(entries ...string) Set {
	s, err := Parse(entries)
	if err != nil {
		panic("ipset.MustParse: " + err.Error())
	}
	return s
}

// New normalizes ranges into a Set. It panics on an invalid Range (see
// Range), because those can only come from code building Ranges by hand,
// and silently dropping or guessing would hide the bug.
func New(ranges ...Range) Set {
	for _, r := range ranges {
		if !r.valid() {
			panic(fmt.Sprintf("ipset.New: invalid range [%v, %v]", r.First, r.Last))
		}
	}
	rs := slices.Clone(ranges)
	slices.SortFunc(rs, func(a, b Range) int { return a.First.Compare(b.First) })
	return Set{ranges: merge(rs)}
}

// merge coalesces sorted, valid ranges in place. Ranges of different
// families never merge: Next of the highest IPv4 address is the invalid
// Addr, not the lowest IPv6 one.
func merge(rs []Range) []Range {
	if len(rs) == 0 {
		return nil
	}
	out := rs[:1]
	for _, r := range rs[1:] {
		cur := &out[len(out)-1]
		if r.First.Compare(cur.Last) <= 0 || cur.Last.Next() == r.First {
			if r.Last.Compare(cur.Last) > 0 {
				cur.Last = r.Last
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

// Ranges returns a copy so callers cannot break the Set's invariants.
func (s Set) Ranges() []Range { return slices.Clone(s.ranges) }

// IsEmpty reports whether s holds no addresses.
func (s Set) IsEmpty() bool { return len(s.ranges) == 0 }

// search returns the index of the first range whose Last is >= a, which is
// the only range that can contain a.
func (s Set) search(a netip.Addr) int {
	return sort.Search(len(s.ranges), func(i int) bool {
		return s.ranges[i].Last.Compare(a) >= 0
	})
}

// Contains reports whether a is in s. Zoned addresses are never members.
func (s Set) Contains(a netip.Addr) bool {
	if a.Zone() != "" {
		return false
	}
	i := s.search(a)
	return i < len(s.ranges) && s.ranges[i].First.Compare(a) <= 0
}

// Overlaps reports whether s and o share any address, without building the
// intersection.
func (s Set) Overlaps(o Set) bool {
	a, b := s.ranges, o.ranges
	for len(a) > 0 && len(b) > 0 {
		if maxAddr(a[0].First, b[0].First).Compare(minAddr(a[0].Last, b[0].Last)) <= 0 {
			return true
		}
		if a[0].Last.Compare(b[0].Last) < 0 {
			a = a[1:]
		} else {
			b = b[1:]
		}
	}
	return false
}

// Intersect returns the addresses in both s and o.
func (s Set) Intersect(o Set) Set {
	var out []Range
	a, b := s.ranges, o.ranges
	for len(a) > 0 && len(b) > 0 {
		lo, hi := maxAddr(a[0].First, b[0].First), minAddr(a[0].Last, b[0].Last)
		if lo.Compare(hi) <= 0 {
			out = append(out, Range{First: lo, Last: hi})
		}
		if a[0].Last.Compare(b[0].Last) < 0 {
			a = a[1:]
		} else {
			b = b[1:]
		}
	}
	// Pieces of two normalized sets are disjoint and sorted, and cannot be
	// adjacent (a gap in either input separates them), so out is normalized.
	return Set{ranges: out}
}

// Union returns the addresses in s or o.
func (s Set) Union(o Set) Set {
	return New(append(slices.Clone(s.ranges), o.ranges...)...)
}

// Subtract returns the addresses in s that are not in o; the controller uses
// it to find the free part of a pool.
func (s Set) Subtract(o Set) Set {
	var out []Range
	holes := o.ranges
	for _, r := range s.ranges {
		// Holes ending before r cannot affect r or any later range.
		for len(holes) > 0 && holes[0].Last.Compare(r.First) < 0 {
			holes = holes[1:]
		}
		cur, whole := r, false
		for _, h := range holes {
			if h.First.Compare(cur.Last) > 0 {
				break
			}
			if h.First.Compare(cur.First) > 0 {
				out = append(out, Range{First: cur.First, Last: h.First.Prev()})
			}
			if h.Last.Compare(cur.Last) >= 0 {
				whole = true
				break
			}
			cur.First = h.Last.Next()
		}
		if !whole {
			out = append(out, cur)
		}
	}
	return Set{ranges: out}
}

// OfFamily returns the part of s in family f, e.g. for a Service that asks
// for a single family.
func (s Set) OfFamily(f Family) Set {
	var out []Range
	for _, r := range s.ranges {
		if r.Family() == f {
			out = append(out, r)
		}
	}
	return Set{ranges: out}
}

// Families reports which families s holds addresses of, IPv4 first, so a
// dual-stack request can check it can be satisfied.
func (s Set) Families() []Family {
	var fs []Family
	for _, r := range s.ranges {
		if f := r.Family(); len(fs) == 0 || fs[len(fs)-1] != f {
			fs = append(fs, f)
		}
	}
	return fs
}

// Size counts the addresses of family f in s; per family, because a sum
// across families is rarely meaningful.
func (s Set) Size(f Family) *big.Int {
	n := new(big.Int)
	for _, r := range s.ranges {
		if r.Family() == f {
			n.Add(n, r.Size())
		}
	}
	return n
}

// All yields every address in s in ascending order, IPv4 before IPv6. It
// produces addresses one at a time, so iterating the start of a huge IPv6
// range is cheap; ranging over all of it is not.
func (s Set) All() iter.Seq[netip.Addr] {
	return s.From(netip.Addr{})
}

// From yields the members of s that are >= a, in ascending order. For an
// IPv4 a that means the remaining IPv4 members followed by all the IPv6
// ones; for an IPv6 a only IPv6 members. This lets the allocator resume a
// scan where it last stopped instead of starting over. a's zone, if any, is
// ignored; the invalid Addr sorts before everything, so From(netip.Addr{})
// is the same as All.
func (s Set) From(a netip.Addr) iter.Seq[netip.Addr] {
	a = a.WithZone("")
	return func(yield func(netip.Addr) bool) {
		for i := s.search(a); i < len(s.ranges); i++ {
			r := s.ranges[i]
			for x := maxAddr(r.First, a); ; x = x.Next() {
				if !yield(x) {
					return
				}
				if x == r.Last {
					break
				}
			}
		}
	}
}

// Equal reports whether s and o hold the same addresses; normalization makes
// that a plain comparison of the range lists.
func (s Set) Equal(o Set) bool { return slices.Equal(s.ranges, o.ranges) }

// String joins the ranges with ", " so the output can be split on "," and
// fed back to Parse. The one exception is a range that begins or ends inside
// ::ffff:0:0/96, which ParseRange refuses as IPv4-mapped; only arithmetic on
// IPv6 ranges at least that wide (such as ::/0) can produce one.
func (s Set) String() string {
	parts := make([]string, len(s.ranges))
	for i, r := range s.ranges {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}

func maxAddr(a, b netip.Addr) netip.Addr {
	if a.Compare(b) >= 0 {
		return a
	}
	return b
}

func minAddr(a, b netip.Addr) netip.Addr {
	if a.Compare(b) <= 0 {
		return a
	}
	return b
}
