package allocator

import (
	"strings"
	"testing"

	"github.com/ironlb/ironlb/internal/ipset"
)

// sharer builds a Service with a sharing key and TCP ports.
func sharer(key, sharingKey string, ports ...int32) Request {
	r := svc(key)
	r.SharingKey = sharingKey
	for _, p := range ports {
		r.Ports = append(r.Ports, Port{Protocol: "TCP", Port: p})
	}
	return r
}

func local(r Request, selector map[string]string) Request {
	r.TrafficPolicyLocal = true
	r.Selector = selector
	return r
}

func TestSharing(t *testing.T) {
	udp := sharer("ns/dns-udp", "k")
	udp.Ports = []Port{{Protocol: "UDP", Port: 53}}
	tcp := sharer("ns/dns-tcp", "k", 53)
	app := map[string]string{"app": "web"}
	other := map[string]string{"app": "db"}
	explicit := func(r Request) Request { r.IPs = ips("10.0.0.0"); return r }

	tests := []struct {
		name   string
		first  Request
		second Request
		// shared: the second Service gets the first one's IP; otherwise
		// automatic assignment gives it another IP, and an explicit request
		// for the first one's IP fails with reason.
		shared bool
		reason Reason
	}{
		{"same key, disjoint ports", sharer("ns/a", "k", 80), sharer("ns/b", "k", 443), true, ""},
		{"same port number, other protocol", tcp, udp, true, ""},
		{"three ports vs two, disjoint", sharer("ns/a", "k", 80, 81, 82), sharer("ns/b", "k", 83, 84), true, ""},
		{"Local with the same selector", local(sharer("ns/a", "k", 80), app), local(sharer("ns/b", "k", 443), app), true, ""},
		{"overlapping ports", sharer("ns/a", "k", 80, 443), sharer("ns/b", "k", 443), false, SharingConflict},
		{"Local with different selectors", local(sharer("ns/a", "k", 80), app), local(sharer("ns/b", "k", 443), other), false, SharingConflict},
		{"Local and Cluster", local(sharer("ns/a", "k", 80), app), sharer("ns/b", "k", 443), false, SharingConflict},
		{"different keys", sharer("ns/a", "k1", 80), sharer("ns/b", "k2", 443), false, SharingConflict},
		{"requester has no key", sharer("ns/a", "k", 80), sharer("ns/b", "", 443), false, RequestedIPInUse},
		{"holder has no key", sharer("ns/a", "", 80), sharer("ns/b", "k", 443), false, RequestedIPInUse},
		{"neither has a key", sharer("ns/a", "", 80), sharer("ns/b", "", 443), false, RequestedIPInUse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newWith(pool("p", "10.0.0.0/24"))
			checkAssignment(t, mustAssign(t, a, tt.first), []string{"10.0.0.0"}, nil)
			want := "10.0.0.1"
			if tt.shared {
				want = "10.0.0.0"
			}
			checkAssignment(t, mustAssign(t, a, tt.second), []string{want}, nil)

			// The same with an explicit request for the first one's IP.
			a.Release(tt.second.Service)
			as, err := a.Assign(explicit(tt.second))
			if tt.shared {
				if err != nil {
					t.Fatalf("explicit sharing refused: %v", err)
				}
				checkAssignment(t, as, []string{"10.0.0.0"}, []string{"p"})
				return
			}
			checkErr(t, err, tt.reason, "10.0.0.0", tt.first.Service, tt.second.Service)
			checkHolding(t, a, tt.first.Service, "10.0.0.0")
			checkHolding(t, a, tt.second.Service)
		})
	}
}

// TestSharedIPLifetime: a shared IP stays held until its last holder
// releases it, and a sharer whose ports change to collide moves away while
// the other keeps the IP.
func TestSharedIPLifetime(t *testing.T) {
	a := newWith(pool("p", "10.0.0.0/30"))
	mustAssign(t, a, sharer("ns/a", "k", 80))
	mustAssign(t, a, sharer("ns/b", "k", 443))
	mustAssign(t, a, sharer("ns/c", "k", 8080))
	if u := a.Usage("p")[ipset.IPv4]; u.Assigned != 1 || u.Available.Int64() != 3 {
		t.Errorf("usage with one shared IP = %d assigned, %v available; want 1, 3", u.Assigned, u.Available)
	}

	// ns/b now also wants port 80: it cannot stay with ns/a.
	checkAssignment(t, mustAssign(t, a, sharer("ns/b", "k", 443, 80)), []string{"10.0.0.1"}, nil)
	checkHolding(t, a, "ns/a", "10.0.0.0")
	checkHolding(t, a, "ns/c", "10.0.0.0")

	// ns/c drops its key: it no longer may share, so it moves.
	checkAssignment(t, mustAssign(t, a, sharer("ns/c", "", 8080)), []string{"10.0.0.2"}, nil)

	a.Release("ns/a")
	checkAssignment(t, mustAssign(t, a, svc("ns/d")), []string{"10.0.0.0"}, nil)
}

// TestSharingReuseOrder: a sharing request reuses the lowest compatible IP
// of its key in the first candidate pool that has one, and never a
// reserved one.
func TestSharingReuseOrder(t *testing.T) {
	first := withAlloc(pool("first", "10.0.1.0/24"), ServiceAllocation{Priority: prio(1)})
	second := pool("second", "10.0.2.0/24")
	first.Reserved = ipset.MustParse("10.0.1.200/32")

	a := newWith(first, second)
	// Key k holds: 10.0.2.5 (second), 10.0.1.9 (first), 10.0.1.7 (port 80
	// taken), the reserved 10.0.1.200.
	for _, c := range []struct {
		svc, ip string
		port    int32
	}{
		{"ns/in-second", "10.0.2.5", 1},
		{"ns/nine", "10.0.1.9", 2},
		{"ns/seven", "10.0.1.7", 80},
		{"ns/reserved", "10.0.1.200", 3},
	} {
		r := sharer(c.svc, "k", c.port)
		r.IPs = ips(c.ip)
		mustAssign(t, a, r)
	}
	checkAssignment(t, mustAssign(t, a, sharer("ns/x", "k", 80)), []string{"10.0.1.9"}, []string{"first"})
	checkAssignment(t, mustAssign(t, a, sharer("ns/y", "k", 443)), []string{"10.0.1.7"}, []string{"first"})

	// Restricted to the second pool, it reuses the IP there.
	r := sharer("ns/z", "k", 80)
	r.Pool = "second"
	checkAssignment(t, mustAssign(t, a, r), []string{"10.0.2.5"}, []string{"second"})

	// Another key reuses nothing.
	checkAssignment(t, mustAssign(t, a, sharer("ns/w", "other", 80)), []string{"10.0.1.0"}, []string{"first"})
}

// TestWhyNotShare: every refusal says which rule it broke, since the
// message is all a user sees in `kubectl describe svc`.
func TestWhyNotShare(t *testing.T) {
	app := map[string]string{"app": "web"}
	tests := []struct {
		a, b Request
		want string
	}{
		{sharer("ns/a", "", 80), sharer("ns/b", "", 443), "neither has"},
		{sharer("ns/a", "", 80), sharer("ns/b", "k", 443), "requesting Service has no"},
		{sharer("ns/a", "k", 80), sharer("ns/b", "", 443), "holding Service has no"},
		{sharer("ns/a", "k1", 80), sharer("ns/b", "k2", 443), `"k1" and "k2"`},
		{sharer("ns/a", "k", 80, 443), sharer("ns/b", "k", 443, 80), "TCP/443, TCP/80"},
		{local(sharer("ns/a", "k", 80), app), sharer("ns/b", "k", 443), "Local and the other Cluster"},
		{local(sharer("ns/a", "k", 80), app), local(sharer("ns/b", "k", 443), nil), "select different pods"},
	}
	for _, tt := range tests {
		pa, pb := profileOf(tt.a), profileOf(tt.b)
		if canShare(pa, pb) || canShare(pb, pa) {
			t.Errorf("%+v and %+v may share, want refused", pa, pb)
			continue
		}
		if got := whyNotShare(pa, pb); !strings.Contains(got, tt.want) {
			t.Errorf("whyNotShare = %q, want it to mention %q", got, tt.want)
		}
	}
}

// TestSharingFingerprint: the fingerprint changes with every field canShare reads and with
// nothing else, so start-up neither misses a changed sharing request nor takes a contested
// address from a Service that only reordered its ports or relabelled a Cluster Service's pods.
func TestSharingFingerprint(t *testing.T) {
	base := sharer("ns/a", "k", 80, 443)
	same := map[string]Request{
		"ports reordered":          sharer("ns/a", "k", 443, 80),
		"other Service, same view": sharer("ns/b", "k", 80, 443),
		"selector, traffic Cluster": func() Request {
			r := base
			r.Selector = map[string]string{"app": "other"}
			return r
		}(),
		"requested pool and IPs": func() Request {
			r := base
			r.Pool, r.Families = "p", []ipset.Family{ipset.IPv6}
			return r
		}(),
	}
	for name, r := range same {
		if got, want := SharingFingerprint(r), SharingFingerprint(base); got != want {
			t.Errorf("%s: fingerprint %s, want %s as before", name, got, want)
		}
	}
	differ := map[string]Request{
		"key":                       sharer("ns/a", "j", 80, 443),
		"no key":                    sharer("ns/a", "", 80, 443),
		"a port":                    sharer("ns/a", "k", 80, 8443),
		"a port less":               sharer("ns/a", "k", 80),
		"protocol":                  func() Request { r := sharer("ns/a", "k", 80, 443); r.Ports[0].Protocol = "UDP"; return r }(),
		"traffic Local":             local(base, map[string]string{"app": "a"}),
		"selector with Local":       local(base, map[string]string{"app": "b"}),
		"selector label with Local": local(base, map[string]string{"app": "a", "tier": "web"}),
	}
	seen := map[string]string{SharingFingerprint(base): "base"}
	for name, r := range differ {
		fp := SharingFingerprint(r)
		if prev, ok := seen[fp]; ok {
			t.Errorf("%s: fingerprint %s is the same as for %s", name, fp, prev)
		}
		seen[fp] = name
	}
}
