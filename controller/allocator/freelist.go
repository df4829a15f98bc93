package allocator

import (
	"encoding/binary"
	"math/big"
	"net/netip"

	"github.com/google/btree"

	"github.com/ironlb/ironlb/internal/ipset"
)

// interval is an inclusive run [first, last] of free addresses of one family.
type interval struct{ first, last netip.Addr }

func intervalLess(a, b interval) bool { return a.first.Less(b.first) }

// freeList holds the free addresses of one family of one pool as ordered,
// disjoint intervals, so that the lowest free address is the tree's minimum
// (O(log n)) however full the pool is, and a /64 is one interval rather than
// 2^64 entries.
//
// With avoidBuggy, IPv4 .0 and .255 addresses are "don't care": intervals
// never start or end on one (so the minimum is always assignable), may span
// them in their interior, and are skipped lazily as the interval is
// consumed. That keeps a /8 a single interval instead of 65,536 of them.
type freeList struct {
	tree       *btree.BTreeG[interval]
	avoidBuggy bool
}

// btreeDegree is a typical node fan-out for small items; any value works.
const btreeDegree = 16

func newFreeList(avoidBuggy bool) *freeList {
	return &freeList{tree: btree.NewG(btreeDegree, intervalLess), avoidBuggy: avoidBuggy}
}

// buildFreeList makes the free list of ranges (one family, sorted, disjoint)
// minus held (sorted ascending); it is O(len(ranges) + len(held)) tree
// inserts, which is what keeps a pool edit proportional to what is held.
func buildFreeList(ranges []ipset.Range, held []netip.Addr, avoidBuggy bool) *freeList {
	fl := newFreeList(avoidBuggy)
	for _, r := range ranges {
		for len(held) > 0 && held[0].Less(r.First) {
			held = held[1:]
		}
		cur, done := r.First, false
		for len(held) > 0 && !r.Last.Less(held[0]) {
			ip := held[0]
			held = held[1:]
			if cur.Less(ip) {
				fl.insertTrimmed(interval{cur, ip.Prev()})
			}
			if ip == r.Last {
				done = true
				break
			}
			cur = ip.Next()
		}
		if !done {
			fl.insertTrimmed(interval{cur, r.Last})
		}
	}
	return fl
}

// skipped reports whether automatic assignment must never hand out ip
// because of avoidBuggy.
func (fl *freeList) skipped(ip netip.Addr) bool { return fl.avoidBuggy && isBuggy(ip) }

// insertTrimmed inserts iv after moving its ends off skipped addresses; an
// interval of only skipped addresses is dropped.
func (fl *freeList) insertTrimmed(iv interval) {
	for fl.skipped(iv.first) {
		if iv.first == iv.last {
			return
		}
		iv.first = iv.first.Next()
	}
	for fl.skipped(iv.last) {
		// iv.first is not skipped, so iv.last != iv.first here.
		iv.last = iv.last.Prev()
	}
	fl.tree.ReplaceOrInsert(iv)
}

// lowest returns the lowest free address.
func (fl *freeList) lowest() (netip.Addr, bool) {
	iv, ok := fl.tree.Min()
	return iv.first, ok
}

// containing returns the interval that contains ip, if any.
func (fl *freeList) containing(ip netip.Addr) (interval, bool) {
	var found interval
	ok := false
	fl.tree.DescendLessOrEqual(interval{first: ip}, func(iv interval) bool {
		found, ok = iv, true
		return false
	})
	if !ok || found.last.Less(ip) {
		return interval{}, false
	}
	return found, true
}

// take removes ip from the free list by splitting or shrinking the interval
// that holds it. It does nothing if ip is not free.
func (fl *freeList) take(ip netip.Addr) {
	iv, ok := fl.containing(ip)
	if !ok {
		return
	}
	fl.tree.Delete(iv)
	if ip != iv.first {
		fl.insertTrimmed(interval{iv.first, ip.Prev()})
	}
	if ip != iv.last {
		fl.insertTrimmed(interval{ip.Next(), iv.last})
	}
}

// put returns ip to the free list, merging it with its neighbours so that a
// fill-and-release cycle leaves the tree as small as it was.
func (fl *freeList) put(ip netip.Addr) {
	if fl.skipped(ip) {
		return
	}
	iv := interval{ip, ip}
	var pred interval
	hasPred := false
	fl.tree.DescendLessOrEqual(interval{first: ip}, func(p interval) bool {
		pred, hasPred = p, true
		return false
	})
	if hasPred {
		if !pred.last.Less(ip) {
			return // already free
		}
		if fl.adjacent(pred.last, ip) {
			fl.tree.Delete(pred)
			iv.first = pred.first
		}
	}
	var succ interval
	hasSucc := false
	fl.tree.AscendGreaterOrEqual(interval{first: ip}, func(s interval) bool {
		succ, hasSucc = s, true
		return false
	})
	if hasSucc && fl.adjacent(ip, succ.first) {
		fl.tree.Delete(succ)
		iv.last = succ.last
	}
	fl.tree.ReplaceOrInsert(iv)
}

// adjacent reports whether nothing but skipped addresses lies strictly
// between a and b (a < b), so one interval may cover both. At most two
// addresses (.255 and the next .0) can be skipped in a row.
func (fl *freeList) adjacent(a, b netip.Addr) bool {
	x := a.Next()
	for range 3 {
		if x == b {
			return true
		}
		if !x.IsValid() || !fl.skipped(x) {
			return false
		}
		x = x.Next()
	}
	return false
}

// isBuggy reports whether ip is an IPv4 address ending in .0 or .255, which old stacks
// take for a network or broadcast address, or the first address of an IPv6 /64, the
// subnet-router anycast address (RFC 4291 2.6.1) that routers answer themselves.
func isBuggy(ip netip.Addr) bool {
	if !ip.Is4() {
		return ip.Is6() && binary.BigEndian.Uint64(ip.AsSlice()[8:]) == 0
	}
	last := ip.As4()[3]
	return last == 0 || last == 255
}

// countAssignable counts the addresses of ranges (one family) that automatic
// assignment may hand out: all of them, or with avoidBuggy all but the IPv4
// .0 and .255 ones. It uses arithmetic, never iteration, so a /8 is instant.
func countAssignable(ranges []ipset.Range, avoidBuggy bool) *big.Int {
	n := new(big.Int)
	for _, r := range ranges {
		if avoidBuggy && r.First.Is4() {
			n.Add(n, new(big.Int).SetUint64(nonBuggyUpTo(r.Last)-nonBuggyBelow(r.First)))
			continue
		}
		n.Add(n, r.Size())
		if avoidBuggy {
			n.Sub(n, anycastIn(r))
		}
	}
	return n
}

// anycastIn counts the first addresses of /64s in an IPv6 range: one per /64 the range
// enters, plus its own first address when that starts a /64.
func anycastIn(r ipset.Range) *big.Int {
	hi := func(a netip.Addr) *big.Int { return new(big.Int).SetUint64(binary.BigEndian.Uint64(a.AsSlice()[:8])) }
	n := new(big.Int).Sub(hi(r.Last), hi(r.First))
	if isBuggy(r.First) {
		n.Add(n, big.NewInt(1))
	}
	return n
}

// nonBuggyUpTo counts the IPv4 addresses in [0.0.0.0, ip] that are not .0 or
// .255: 254 per full /24 plus the part of ip's own /24.
func nonBuggyUpTo(ip netip.Addr) uint64 {
	v := ipv4Uint(ip)
	return uint64(v>>8)*254 + uint64(min(v&0xff, 254))
}

// nonBuggyBelow counts the non-buggy IPv4 addresses in [0.0.0.0, ip).
func nonBuggyBelow(ip netip.Addr) uint64 {
	if ipv4Uint(ip) == 0 {
		return 0
	}
	return nonBuggyUpTo(ip.Prev())
}

func ipv4Uint(ip netip.Addr) uint32 {
	b := ip.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
