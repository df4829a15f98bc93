package allocator

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/ironlb/ironlb/internal/ipset"
)

// The benchmarks show that one allocation costs the same however full the
// pool is. They do not assert timings; `make bench` records them.

// BenchmarkAllocateIPv4Slash16 pre-fills a /16 to a level, then measures the
// Assign and Release of one more Service per op, so the level stays put.
// "fragmented" frees every hundredth address of a full pool, so the free
// list has hundreds of intervals instead of one.
func BenchmarkAllocateIPv4Slash16(b *testing.B) {
	const size = 1 << 16
	for _, tc := range []struct {
		name       string
		fill       int
		fragmented bool
	}{
		{"1%", size / 100, false},
		{"50%", size / 2, false},
		{"99%", size * 99 / 100, false},
		{"99%-fragmented", size, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			a := newWith(pool("bench", "198.18.0.0/16"))
			for i := range tc.fill {
				if _, err := a.Assign(svc("fill/" + strconv.Itoa(i))); err != nil {
					b.Fatal(err)
				}
			}
			if tc.fragmented {
				for i := 0; i < size; i += 100 {
					a.Release("fill/" + strconv.Itoa(i))
				}
			}
			benchAssignRelease(b, a, svc("bench/one"))
		})
	}
}

// BenchmarkAllocateIPv6Slash64 measures allocations from a /64: "fresh"
// allocates b.N new Services (starting over every 10^6, outside the timer,
// so a long run does not measure a growing map), and "prefilled-1e6"
// measures Assign+Release once 10^6 addresses are held.
func BenchmarkAllocateIPv6Slash64(b *testing.B) {
	const batch = 1_000_000
	v6 := pool("bench", "2001:db8::/64")
	names := make([]string, batch)
	for i := range names {
		names[i] = "fill/" + strconv.Itoa(i)
	}
	req := func(name string) Request {
		r := svc(name)
		r.Families = []ipset.Family{ipset.IPv6}
		return r
	}

	b.Run("fresh", func(b *testing.B) {
		b.ReportAllocs()
		var a *Allocator
		i := batch
		for b.Loop() {
			if i == batch {
				b.StopTimer()
				a, i = newWith(v6), 0
				b.StartTimer()
			}
			if _, err := a.Assign(req(names[i])); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})

	b.Run("prefilled-1e6", func(b *testing.B) {
		a := newWith(v6)
		for _, n := range names {
			if _, err := a.Assign(req(n)); err != nil {
				b.Fatal(err)
			}
		}
		benchAssignRelease(b, a, req("bench/one"))
	})
}

// BenchmarkAllocateSharedKey measures a sharing request when 1,000 IPs are
// held under its key: the reuse search is linear in the key's Services, not
// in the pool.
func BenchmarkAllocateSharedKey(b *testing.B) {
	a := newWith(pool("bench", "198.18.0.0/16"))
	for i := range 1000 {
		r := sharer(fmt.Sprintf("fill/%d", i), "k", 80)
		if _, err := a.Assign(r); err != nil {
			b.Fatal(err)
		}
	}
	benchAssignRelease(b, a, sharer("bench/one", "k", 80))
}

// BenchmarkSetPool measures a pool edit with 10,000 held IPs in a /16 and
// random holes, which rebuilds the free list.
func BenchmarkSetPool(b *testing.B) {
	p := pool("bench", "198.18.0.0/16")
	a := newWith(p)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range 10_000 {
		if _, err := a.Assign(svc("fill/" + strconv.Itoa(i))); err != nil {
			b.Fatal(err)
		}
	}
	for range 2000 {
		a.Release("fill/" + strconv.Itoa(rng.IntN(10_000)))
	}
	for b.Loop() {
		a.SetPool(p)
	}
}

func benchAssignRelease(b *testing.B, a *Allocator, r Request) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Assign(r); err != nil {
			b.Fatal(err)
		}
		a.Release(r.Service)
	}
}
