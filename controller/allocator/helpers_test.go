package allocator

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/ironlb/ironlb/internal/ipset"
)

// pool builds an auto-assign pool; tests adjust the other fields.
func pool(name string, addrs ...string) Pool {
	return Pool{Name: name, Addresses: ipset.MustParse(addrs...), AutoAssign: true}
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func ips(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = ip(s)
	}
	return out
}

// svc builds a request for Service "ns/name" from "ns/name".
func svc(key string) Request {
	ns, _, _ := strings.Cut(key, "/")
	return Request{Service: key, Namespace: ns}
}

// labelsSelector keeps the scenario tables short.
type labelsSelector = labels.Selector

func prio(n int32) *int32 { return &n }

func sel(kv ...string) labels.Selector {
	set := labels.Set{}
	for i := 0; i+1 < len(kv); i += 2 {
		set[kv[i]] = kv[i+1]
	}
	return labels.SelectorFromSet(set)
}

func withAlloc(p Pool, sa ServiceAllocation) Pool {
	p.Allocation = &sa
	return p
}

func newWith(pools ...Pool) *Allocator {
	a := New()
	for _, p := range pools {
		a.SetPool(p)
	}
	return a
}

func reasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	if err != nil {
		return "not an *Error: " + Reason(err.Error())
	}
	return ""
}

func ipStrings(as []netip.Addr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

// mustAssign fails the test when the assignment fails.
func mustAssign(t *testing.T, a *Allocator, req Request) Assignment {
	t.Helper()
	as, err := a.Assign(req)
	if err != nil {
		t.Fatalf("Assign(%s): %v", req.Service, err)
	}
	return as
}

// checkAssignment compares IPs and pools (nil wantPools means do not care).
func checkAssignment(t *testing.T, as Assignment, wantIPs, wantPools []string) {
	t.Helper()
	if got := ipStrings(as.IPs); !slices.Equal(got, wantIPs) {
		t.Errorf("IPs = %v, want %v", got, wantIPs)
	}
	if wantPools != nil && !slices.Equal(as.Pools, wantPools) {
		t.Errorf("Pools = %v, want %v", as.Pools, wantPools)
	}
}

// checkHolding compares what a Service holds with the given IPs (none means
// it must hold nothing).
func checkHolding(t *testing.T, a *Allocator, service string, want ...string) {
	t.Helper()
	as, ok := a.Holding(service)
	if len(want) == 0 {
		if ok {
			t.Errorf("%s holds %v, want nothing", service, ipStrings(as.IPs))
		}
		return
	}
	if !ok {
		t.Errorf("%s holds nothing, want %v", service, want)
		return
	}
	if got := ipStrings(as.IPs); !slices.Equal(got, want) {
		t.Errorf("%s holds %v, want %v", service, got, want)
	}
}

// checkErr checks the reason and that the message names what it should.
func checkErr(t *testing.T, err error, want Reason, mentions ...string) {
	t.Helper()
	if got := reasonOf(err); got != want {
		t.Fatalf("reason = %q (err %v), want %q", got, err, want)
	}
	if err == nil {
		return
	}
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("message %q does not mention %q", err.Error(), m)
		}
	}
	if msg := err.Error(); !strings.HasSuffix(msg, ".") {
		t.Errorf("message %q is not a full sentence", msg)
	}
}
