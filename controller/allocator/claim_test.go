package allocator

import (
	"fmt"
	"slices"
	"testing"
)

func TestClaim(t *testing.T) {
	conflict := pool("late", "10.0.0.0/24")
	conflict.Conflict = true
	manual := pool("manual", "10.0.5.0/24")
	manual.AutoAssign = false
	tests := []struct {
		name      string
		pools     []Pool
		ips       []string
		hint      string
		wantIPs   []string
		wantPools []string
		orphan    bool
	}{
		{"IP in a pool", []Pool{pool("a", "10.0.0.0/24")}, []string{"10.0.0.7"}, "", []string{"10.0.0.7"}, []string{"a"}, false},
		{"hint wins when it contains the IP", []Pool{pool("a", "10.0.0.0/24"), conflict}, []string{"10.0.0.7"}, "late", []string{"10.0.0.7"}, []string{"late"}, false},
		{"hint kept when its pool shrank away from the IP", []Pool{pool("a", "10.0.0.0/24"), manual}, []string{"10.0.0.7"}, "manual", []string{"10.0.0.7"}, []string{"manual"}, false},
		{"hint of a dual-stack Service, one pool per family", []Pool{pool("v4", "10.0.0.0/24"), pool("v6", "2001:db8::/120"), pool("both", "10.0.0.0/24", "2001:db8::/120")},
			[]string{"10.0.0.7", "2001:db8::7"}, "v4,v6", []string{"10.0.0.7", "2001:db8::7"}, []string{"v4", "v6"}, false},
		{"non-conflict pool preferred", []Pool{pool("z", "10.0.0.0/24"), conflict}, []string{"10.0.0.7"}, "", []string{"10.0.0.7"}, []string{"z"}, false},
		{"conflict pool as a last resort", []Pool{conflict}, []string{"10.0.0.7"}, "", []string{"10.0.0.7"}, []string{"late"}, false},
		{"IP in no pool is an orphan", []Pool{pool("a", "10.0.0.0/24")}, []string{"10.9.9.9"}, "", []string{"10.9.9.9"}, []string{""}, true},
		{"one IP per family, first wins", []Pool{pool("a", "10.0.0.0/24", "2001:db8::/120")}, []string{"10.0.0.1", "2001:db8::1", "10.0.0.2"}, "", []string{"10.0.0.1", "2001:db8::1"}, []string{"a", "a"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newWith(tt.pools...)
			if err := a.Claim(svc("ns/x"), ips(tt.ips...), tt.hint); err != nil {
				t.Fatal(err)
			}
			as, ok := a.Holding("ns/x")
			if !ok {
				t.Fatal("nothing held after Claim")
			}
			checkAssignment(t, as, tt.wantIPs, tt.wantPools)
			if got := slices.Contains(a.Orphans(), "ns/x"); got != tt.orphan {
				t.Errorf("Orphans() = %v, want ns/x listed: %v", a.Orphans(), tt.orphan)
			}
			// A claimed IP is never handed out automatically, and the holder
			// keeps it when it asks again.
			for i := range 3 {
				if as, err := a.Assign(svc(fmt.Sprintf("ns/other%d", i))); err == nil && slices.Contains(tt.wantIPs, as.IPs[0].String()) {
					t.Errorf("claimed IP %v handed to another Service", as.IPs[0])
				}
			}
			checkAssignment(t, mustAssign(t, a, svc("ns/x")), tt.wantIPs[:1], nil)
		})
	}
}

// TestClaimOrder: the controller claims in creation order, so the older
// Service keeps a contested IP and the newer one records nothing.
func TestClaimOrder(t *testing.T) {
	a := newWith(pool("a", "10.0.0.0/24", "2001:db8::/120"))
	if err := a.Claim(svc("ns/old"), ips("10.0.0.5"), ""); err != nil {
		t.Fatal(err)
	}
	err := a.Claim(stack("ns/new", RequireDualStack, v4First...), ips("2001:db8::5", "10.0.0.5"), "")
	checkErr(t, err, RequestedIPInUse, "10.0.0.5", "ns/old", "ns/new")
	checkHolding(t, a, "ns/new")
	checkHolding(t, a, "ns/old", "10.0.0.5")
	// Nothing of the failed claim leaked: its IPv6 address is free.
	checkAssignment(t, mustAssign(t, a, stack("ns/v6", SingleStack, v6First...)), []string{"2001:db8::"}, nil)
	if err := a.Claim(svc("ns/v6b"), ips("2001:db8::5"), ""); err != nil {
		t.Errorf("2001:db8::5 was left held by the failed claim: %v", err)
	}

	// Compatible sharers may claim the same IP.
	if err := a.Claim(sharer("ns/s1", "k", 80), ips("10.0.0.9"), ""); err != nil {
		t.Fatal(err)
	}
	if err := a.Claim(sharer("ns/s2", "k", 443), ips("10.0.0.9"), ""); err != nil {
		t.Errorf("compatible sharer refused: %v", err)
	}
	err = a.Claim(sharer("ns/s3", "k", 443), ips("10.0.0.9"), "")
	checkErr(t, err, RequestedIPInUse, "ns/s", "TCP/443")
}

// TestClaimReplacesHolding: claiming again makes the holding exactly the
// claimed IPs.
func TestClaimReplacesHolding(t *testing.T) {
	a := newWith(pool("a", "10.0.0.0/24"))
	mustAssign(t, a, svc("ns/x"))
	if err := a.Claim(svc("ns/x"), ips("10.0.0.9"), ""); err != nil {
		t.Fatal(err)
	}
	checkHolding(t, a, "ns/x", "10.0.0.9")
	checkAssignment(t, mustAssign(t, a, svc("ns/y")), []string{"10.0.0.0"}, nil)
	if err := a.Claim(svc("ns/x"), nil, ""); err != nil {
		t.Fatal(err)
	}
	checkHolding(t, a, "ns/x")
}

// TestOrphanAdoptedByNewPool: an orphan is attributed to a pool that later
// covers it, and that pool does not hand it out.
func TestOrphanAdoptedByNewPool(t *testing.T) {
	a := New()
	if err := a.Claim(svc("ns/x"), ips("10.0.0.0"), ""); err != nil {
		t.Fatal(err)
	}
	if got := a.Orphans(); !slices.Equal(got, []string{"ns/x"}) {
		t.Fatalf("Orphans() = %v", got)
	}
	a.SetPool(pool("a", "10.0.0.0/30"))
	if got := a.Orphans(); len(got) != 0 {
		t.Errorf("Orphans() after the pool appeared = %v, want none", got)
	}
	if got := a.Holders("a"); got != 1 {
		t.Errorf("Holders(a) = %d, want 1", got)
	}
	checkAssignment(t, mustAssign(t, a, svc("ns/y")), []string{"10.0.0.1"}, nil)
	checkAssignment(t, mustAssign(t, a, svc("ns/x")), []string{"10.0.0.0"}, []string{"a"})
}

// TestClaimKeepsShrunkAddressOfNamedPool: a Service that names its pool and holds an
// address the pool no longer contains keeps it across a restart, as it does while the
// controller runs, even when another pool now contains the address (found by
// TestModelChecker: the restart attributed the address elsewhere, so the Service's next
// Assign released it).
func TestClaimKeepsShrunkAddressOfNamedPool(t *testing.T) {
	req := svc("ns/x")
	req.Pool, req.IPs = "wide", ips("10.0.0.14")
	running := newWith(pool("wide", "10.0.0.0/28"))
	checkAssignment(t, mustAssign(t, running, req), []string{"10.0.0.14"}, []string{"wide"})
	running.SetPool(pool("wide", "10.0.0.0/29"))
	running.SetPool(pool("late", "10.0.0.8/29"))
	checkAssignment(t, mustAssign(t, running, req), []string{"10.0.0.14"}, []string{"wide"})

	for _, others := range [][]Pool{nil, {pool("late", "10.0.0.8/29")}} {
		restarted := newWith(append([]Pool{pool("wide", "10.0.0.0/29")}, others...)...)
		if err := restarted.Claim(req, ips("10.0.0.14"), "wide"); err != nil {
			t.Fatal(err)
		}
		checkAssignment(t, mustAssign(t, restarted, req), []string{"10.0.0.14"}, []string{"wide"})
	}
}

// TestClaimSharerWithUnreadableKey: a sharer whose allow-shared-ip annotation is malformed
// keeps its shared address across a restart: the controller claims it after the others,
// with the key its co-holders use, exactly as the running controller kept the key it had
// (found by TestModelChecker: the restart claimed it with no key, so the other sharer, or
// it, lost the address).
func TestClaimSharerWithUnreadableKey(t *testing.T) {
	a := newWith(pool("p", "10.0.0.0/24"))
	good := sharer("ns/good", "k", 80)
	broken := sharer("ns/broken", "", 443)
	broken.SharingKeyUnknown = true
	if err := a.Claim(good, ips("10.0.0.1"), "p"); err != nil {
		t.Fatal(err)
	}
	if err := a.Claim(broken, ips("10.0.0.1"), "p"); err != nil {
		t.Fatalf("the sharer with an unreadable key lost its address: %v", err)
	}
	// Its ports are still checked: a colliding one is refused.
	clash := sharer("ns/clash", "", 80)
	clash.SharingKeyUnknown = true
	checkErr(t, a.Claim(clash, ips("10.0.0.1"), "p"), RequestedIPInUse, "ns/good")
	checkHolding(t, a, "ns/broken", "10.0.0.1")
}
