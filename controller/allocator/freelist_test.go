package allocator

import (
	"math/big"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/ironlb/ironlb/internal/ipset"
)

// members lists the addresses the free list offers (interval contents minus
// skipped addresses) and checks the structural promises: sorted, disjoint
// intervals whose ends are never skipped addresses.
func members(t *testing.T, fl *freeList) []netip.Addr {
	t.Helper()
	var out []netip.Addr
	var prev interval
	first := true
	fl.tree.Ascend(func(iv interval) bool {
		if iv.last.Less(iv.first) {
			t.Fatalf("interval %v-%v is reversed", iv.first, iv.last)
		}
		if !first && !prev.last.Less(iv.first) {
			t.Fatalf("intervals %v-%v and %v-%v overlap", prev.first, prev.last, iv.first, iv.last)
		}
		if fl.skipped(iv.first) || fl.skipped(iv.last) {
			t.Fatalf("interval %v-%v starts or ends on a skipped address", iv.first, iv.last)
		}
		for x := iv.first; ; x = x.Next() {
			if !fl.skipped(x) {
				out = append(out, x)
			}
			if x == iv.last {
				break
			}
		}
		prev, first = iv, false
		return true
	})
	return out
}

func TestBuildFreeList(t *testing.T) {
	tests := []struct {
		name   string
		ranges []string
		held   []string
		avoid  bool
		want   []string // intervals as "first-last"
	}{
		{"whole range", []string{"10.0.0.0/30"}, nil, false, []string{"10.0.0.0-10.0.0.3"}},
		{"held in the middle", []string{"10.0.0.0/30"}, []string{"10.0.0.1"}, false, []string{"10.0.0.0-10.0.0.0", "10.0.0.2-10.0.0.3"}},
		{"held at both ends", []string{"10.0.0.0/30"}, []string{"10.0.0.0", "10.0.0.3"}, false, []string{"10.0.0.1-10.0.0.2"}},
		{"all held", []string{"10.0.0.0/31"}, []string{"10.0.0.0", "10.0.0.1"}, false, nil},
		{"held outside ignored", []string{"10.0.0.4/30"}, []string{"10.0.0.1", "10.0.0.9"}, false, []string{"10.0.0.4-10.0.0.7"}},
		{"avoid buggy trims ends", []string{"10.0.0.0/23"}, nil, true, []string{"10.0.0.1-10.0.1.254"}},
		{"avoid buggy drops buggy-only", []string{"10.0.0.255-10.0.1.0"}, nil, true, nil},
		{"top of IPv4", []string{"255.255.255.254/31"}, []string{"255.255.255.255"}, false, []string{"255.255.255.254-255.255.255.254"}},
		{"top of IPv4 avoid", []string{"255.255.255.0/24"}, nil, true, []string{"255.255.255.1-255.255.255.254"}},
		{"ipv6 /64 is one interval", []string{"2001:db8::/64"}, []string{"2001:db8::"}, true, []string{"2001:db8::1-2001:db8::ffff:ffff:ffff:ffff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fl := buildFreeList(ipset.MustParse(tt.ranges...).Ranges(), ips(tt.held...), tt.avoid)
			var got []string
			fl.tree.Ascend(func(iv interval) bool {
				got = append(got, iv.first.String()+"-"+iv.last.String())
				return true
			})
			if !slices.Equal(got, tt.want) {
				t.Errorf("intervals = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestFreeListAgainstModel takes and puts random addresses of a range that
// crosses several /24 boundaries and compares with a plain set after every
// step, with and without avoidBuggy.
func TestFreeListAgainstModel(t *testing.T) {
	r := ipset.MustParse("10.0.0.250-10.0.3.5").Ranges()[0]
	var all []netip.Addr
	for x := r.First; ; x = x.Next() {
		all = append(all, x)
		if x == r.Last {
			break
		}
	}
	for _, avoid := range []bool{false, true} {
		rng := rand.New(rand.NewPCG(1, uint64(len(all))))
		fl := buildFreeList([]ipset.Range{r}, nil, avoid)
		free := map[netip.Addr]bool{}
		for _, x := range all {
			free[x] = !avoid || !isBuggy(x)
		}
		for step := range 5000 {
			x := all[rng.IntN(len(all))]
			if rng.IntN(2) == 0 {
				fl.take(x)
				free[x] = false
			} else {
				fl.put(x)
				free[x] = !avoid || !isBuggy(x)
			}
			if step%50 != 0 {
				continue
			}
			var want []netip.Addr
			for _, y := range all {
				if free[y] {
					want = append(want, y)
				}
			}
			got := members(t, fl)
			if !slices.Equal(got, want) {
				t.Fatalf("avoid=%v step %d: free list has %d addresses, model %d", avoid, step, len(got), len(want))
			}
			low, ok := fl.lowest()
			if ok != (len(want) > 0) || ok && low != want[0] {
				t.Fatalf("avoid=%v step %d: lowest = %v %v, want %v", avoid, step, low, ok, want)
			}
		}
	}
}

// TestFreeListMergesBack checks that releasing everything leaves one
// interval, so fill-and-release cycles cannot fragment the tree, including
// across the .255/.0 gaps that avoidBuggy skips.
func TestFreeListMergesBack(t *testing.T) {
	for _, avoid := range []bool{false, true} {
		fl := buildFreeList(ipset.MustParse("10.0.0.0/22").Ranges(), nil, avoid)
		var taken []netip.Addr
		for {
			x, ok := fl.lowest()
			if !ok {
				break
			}
			fl.take(x)
			taken = append(taken, x)
		}
		rand.New(rand.NewPCG(2, 3)).Shuffle(len(taken), func(i, j int) { taken[i], taken[j] = taken[j], taken[i] })
		for _, x := range taken {
			fl.put(x)
		}
		if n := fl.tree.Len(); n != 1 {
			t.Errorf("avoid=%v: %d intervals after releasing everything, want 1", avoid, n)
		}
		wantTaken := 1024
		if avoid {
			wantTaken = 4 * 254
		}
		if len(taken) != wantTaken {
			t.Errorf("avoid=%v: handed out %d addresses, want %d", avoid, len(taken), wantTaken)
		}
	}
}

func TestCountAssignable(t *testing.T) {
	tests := []struct {
		ranges []string
		avoid  bool
		want   string
	}{
		{[]string{"10.0.0.0/24"}, false, "256"},
		{[]string{"10.0.0.0/24"}, true, "254"},
		{[]string{"10.0.0.0/16"}, true, "65024"},
		{[]string{"0.0.0.0/0"}, true, "4261412864"},
		{[]string{"10.0.0.255-10.0.1.0"}, true, "0"},
		{[]string{"10.0.0.254-10.0.1.1"}, true, "2"},
		{[]string{"0.0.0.0/32"}, true, "0"},
		// The subnet-router anycast address of the /64 is skipped (#12).
		{[]string{"2001:db8::/64"}, true, "18446744073709551615"},
		{[]string{"2001:db8::/64"}, false, "18446744073709551616"},
		{[]string{"2001:db8::5-2001:db8:0:2::"}, true, "36893488147419103226"},
	}
	for _, tt := range tests {
		got := countAssignable(ipset.MustParse(tt.ranges...).Ranges(), tt.avoid)
		want, _ := new(big.Int).SetString(tt.want, 10)
		if got.Cmp(want) != 0 {
			t.Errorf("countAssignable(%v, %v) = %v, want %v", tt.ranges, tt.avoid, got, want)
		}
	}
}
