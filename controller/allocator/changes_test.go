package allocator

import (
	"testing"

	"github.com/ironlb/ironlb/internal/ipset"
)

// TestFailedAssignFreesNothing: an all-or-nothing Assign that takes one family and gives it
// back because the other is missing frees nothing that was not free before, so it must not
// signal MayHaveFreed; if it did, the waiting Service would be retried, fail the same way
// and signal again, forever.
func TestFailedAssignFreesNothing(t *testing.T) {
	a := newWith(pool("v4only", "198.18.0.0/30"))
	<-a.MayHaveFreed() // the pool's creation
	req := svc("ns/dual")
	req.Families = []ipset.Family{ipset.IPv4, ipset.IPv6}
	req.Policy = RequireDualStack
	if _, err := a.Assign(req); err == nil {
		t.Fatal("a RequireDualStack Service got addresses from an IPv4-only pool")
	}
	select {
	case <-a.MayHaveFreed():
		t.Fatal("a failed Assign signalled that an address may have become free")
	default:
	}
	if w := a.Waiting(); len(w) != 1 || w[0] != "ns/dual" {
		t.Fatalf("waiting %v, want [ns/dual]", w)
	}
	// A real release still signals.
	b := newWith(pool("p", "198.18.0.0/30"))
	if _, err := b.Assign(svc("ns/a")); err != nil {
		t.Fatal(err)
	}
	<-b.MayHaveFreed()
	b.Release("ns/a")
	select {
	case <-b.MayHaveFreed():
	default:
		t.Fatal("a release did not signal")
	}
}
