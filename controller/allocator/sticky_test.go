package allocator

import (
	"slices"
	"testing"

	"github.com/ironlb/ironlb/internal/ipset"
)

// TestStickyAcrossPoolChanges: once a Service holds an IP, no pool change
// moves it (invariant 2), and the IP is handed to no one else.
func TestStickyAcrossPoolChanges(t *testing.T) {
	base := pool("a", "10.0.0.0/24")
	tests := []struct {
		name   string
		change func(a *Allocator)
		// wantShrunk: Shrunk("a") must list ns/x after the change.
		wantShrunk bool
		// next is what a new Service gets afterwards ("" = an error).
		next string
	}{
		{"same pool again", func(a *Allocator) { a.SetPool(base) }, false, "10.0.0.1"},
		{"pool shrunk away from the IP", func(a *Allocator) { a.SetPool(pool("a", "10.0.0.128/25")) }, true, "10.0.0.128"},
		{"pool moved entirely", func(a *Allocator) { a.SetPool(pool("a", "10.9.0.0/24")) }, true, "10.9.0.0"},
		{"IP became reserved", func(a *Allocator) {
			p := base
			p.Reserved = ipset.MustParse("10.0.0.0/30")
			a.SetPool(p)
		}, false, "10.0.0.4"},
		{"autoAssign turned off", func(a *Allocator) {
			p := base
			p.AutoAssign = false
			a.SetPool(p)
		}, false, ""},
		{"pool now in conflict", func(a *Allocator) {
			p := base
			p.Conflict = true
			a.SetPool(p)
		}, false, ""},
		{"serviceAllocation no longer selects it", func(a *Allocator) {
			a.SetPool(withAlloc(base, ServiceAllocation{Namespaces: []string{"elsewhere"}}))
		}, false, ""},
		{"avoidBuggyIPs turned on", func(a *Allocator) {
			p := base
			p.AvoidBuggyIPs = true
			a.SetPool(p)
		}, false, "10.0.0.1"},
		{"pool deleted", func(a *Allocator) { a.DeletePool("a") }, true, ""},
		{"pool deleted, another pool covers the IP", func(a *Allocator) {
			a.DeletePool("a")
			a.SetPool(pool("b", "10.0.0.0/30"))
		}, true, "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newWith(base)
			checkAssignment(t, mustAssign(t, a, svc("ns/x")), []string{"10.0.0.0"}, []string{"a"})
			tt.change(a)

			// The holder asks again with the same request: nothing moves.
			checkAssignment(t, mustAssign(t, a, svc("ns/x")), []string{"10.0.0.0"}, []string{"a"})
			if got := a.Holders("a"); got != 1 {
				t.Errorf("Holders(a) = %d, want 1", got)
			}
			if got := slices.Contains(a.Shrunk("a"), "ns/x"); got != tt.wantShrunk {
				t.Errorf("Shrunk(a) = %v, want ns/x listed: %v", a.Shrunk("a"), tt.wantShrunk)
			}

			// Someone else never gets the held IP.
			as, err := a.Assign(svc("ns/y"))
			if tt.next == "" {
				if err == nil {
					t.Errorf("ns/y got %v, want an error", as.IPs)
				}
			} else if err != nil || as.IPs[0].String() != tt.next {
				t.Errorf("ns/y got %v (%v), want %s", as.IPs, err, tt.next)
			}

			// Releasing frees the holding and the pool's count.
			a.Release("ns/x")
			a.Release("ns/y")
			checkHolding(t, a, "ns/x")
			if got := a.Holders("a"); got != 0 {
				t.Errorf("Holders(a) after release = %d, want 0", got)
			}
		})
	}
}

// TestRequestChanges: a held IP that no longer fits the request is given
// up; one that still fits is kept.
func TestRequestChanges(t *testing.T) {
	pools := []Pool{pool("a", "10.0.1.0/24"), pool("b", "10.0.2.0/24")}
	withIP := func(r Request, s string) Request { r.IPs = ips(s); return r }
	withPool := func(r Request, p string) Request { r.Pool = p; return r }
	tests := []struct {
		name   string
		first  Request
		then   Request
		want   []string
		reason Reason
	}{
		{"same request keeps the IP", svc("ns/x"), svc("ns/x"), []string{"10.0.1.0"}, ""},
		{"requesting the held IP keeps it", svc("ns/x"), withIP(svc("ns/x"), "10.0.1.0"), []string{"10.0.1.0"}, ""},
		{"requesting the held pool keeps it", svc("ns/x"), withPool(svc("ns/x"), "a"), []string{"10.0.1.0"}, ""},
		{"another IP moves", svc("ns/x"), withIP(svc("ns/x"), "10.0.2.9"), []string{"10.0.2.9"}, ""},
		{"another pool moves", svc("ns/x"), withPool(svc("ns/x"), "b"), []string{"10.0.2.0"}, ""},
		{"dropping the explicit IP keeps it", withIP(svc("ns/x"), "10.0.2.9"), svc("ns/x"), []string{"10.0.2.9"}, ""},
		{"requested IP in use: holds nothing", svc("ns/x"), withIP(svc("ns/x"), "10.0.1.1"), nil, RequestedIPInUse},
		{"requested IP outside pools: holds nothing", svc("ns/x"), withIP(svc("ns/x"), "10.0.3.1"), nil, RequestedIPNotInPool},
		{"unknown pool: holds nothing", svc("ns/x"), withPool(svc("ns/x"), "zz"), nil, NoMatchingPool},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newWith(pools...)
			mustAssign(t, a, tt.first)
			mustAssign(t, a, svc("ns/other")) // holds the next address of the first pool
			as, err := a.Assign(tt.then)
			checkErr(t, err, tt.reason)
			if err == nil {
				checkAssignment(t, as, tt.want, nil)
			}
			checkHolding(t, a, "ns/x", tt.want...)
		})
	}
}

// TestReleasedIPIsReused: released addresses go back to the pool and the
// lowest is handed out again.
func TestReleasedIPIsReused(t *testing.T) {
	a := newWith(pool("a", "10.0.0.0/29"))
	for _, s := range []string{"ns/0", "ns/1", "ns/2", "ns/3"} {
		mustAssign(t, a, svc(s))
	}
	a.Release("ns/1")
	a.Release("ns/2")
	a.Release("ns/never-held") // a no-op
	checkAssignment(t, mustAssign(t, a, svc("ns/x")), []string{"10.0.0.1"}, nil)
	checkAssignment(t, mustAssign(t, a, svc("ns/y")), []string{"10.0.0.2"}, nil)
	checkAssignment(t, mustAssign(t, a, svc("ns/z")), []string{"10.0.0.4"}, nil)
}

// TestDeletedPoolIPsStayHeld: a deleted pool's IPs are not handed out by an
// overlapping pool that appears later, until their holders release them.
func TestDeletedPoolIPsStayHeld(t *testing.T) {
	a := newWith(pool("a", "10.0.0.0/30"))
	mustAssign(t, a, svc("ns/x"))
	mustAssign(t, a, svc("ns/y"))
	a.DeletePool("a")
	if got := a.Holders("a"); got != 2 {
		t.Fatalf("Holders(a) after delete = %d, want 2", got)
	}
	a.SetPool(pool("b", "10.0.0.0/30"))
	checkAssignment(t, mustAssign(t, a, svc("ns/z")), []string{"10.0.0.2"}, []string{"b"})
	// A Service asking for the deleted pool keeps its IP...
	r := svc("ns/x")
	r.Pool = "a"
	checkAssignment(t, mustAssign(t, a, r), []string{"10.0.0.0"}, []string{"a"})
	// ...and the deleted pool's holders drain as they release.
	a.Release("ns/x")
	a.Release("ns/y")
	if got := a.Holders("a"); got != 0 {
		t.Errorf("Holders(a) after release = %d, want 0", got)
	}
	checkAssignment(t, mustAssign(t, a, svc("ns/w")), []string{"10.0.0.0"}, []string{"b"})
}

// TestUnnamedPoolIgnored: "" means "no pool" in holdings, so a pool may not
// take that name.
func TestUnnamedPoolIgnored(t *testing.T) {
	a := newWith(pool("", "10.0.0.0/24"))
	_, err := a.Assign(svc("ns/x"))
	checkErr(t, err, NoMatchingPool)
}
