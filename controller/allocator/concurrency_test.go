package allocator

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/ironlb/ironlb/internal/ipset"
)

// TestConcurrentWorkers mimics several controller workers assigning and
// releasing at once while pools are edited; run with -race it also checks
// the locking. No IP may end up with two holders.
func TestConcurrentWorkers(t *testing.T) {
	a := newWith(pool("a", "10.0.0.0/24", "2001:db8::/120"))
	const workers, perWorker = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				r := stack(fmt.Sprintf("ns/w%d-%d", w, i%20), PreferDualStack, v4First...)
				if _, err := a.Assign(r); err != nil {
					t.Errorf("Assign: %v", err)
					return
				}
				if i%3 == 0 {
					a.Release(r.Service)
				}
				if w == 0 && i%50 == 0 {
					a.SetPool(pool("a", "10.0.0.0/24", "2001:db8::/120"))
					_ = a.Usage("a")
				}
			}
		})
	}
	wg.Wait()

	seen := map[netip.Addr]string{}
	for w := range workers {
		for i := range 20 {
			s := fmt.Sprintf("ns/w%d-%d", w, i)
			as, _ := a.Holding(s)
			for _, x := range as.IPs {
				if other, dup := seen[x]; dup {
					t.Errorf("%v held by %s and %s", x, other, s)
				}
				seen[x] = s
			}
		}
	}
	if got := a.Usage("a")[ipset.IPv4].Assigned; got != int64(len(seen)/2) {
		t.Errorf("IPv4 assigned = %d, want %d", got, len(seen)/2)
	}
}
