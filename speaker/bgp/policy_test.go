package bgp

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

func TestBuildExportPolicy(t *testing.T) {
	a := netip.MustParseAddr
	pfx := netip.MustParsePrefix
	peers := map[string]Peer{
		"a":  {Name: "a", Address: a("192.0.2.1")},
		"b":  {Name: "b", Address: a("192.0.2.2")},
		"v6": {Name: "v6", Address: a("2001:db8::1")},
	}
	route := func(prefix string, to ...string) Route {
		r := Route{Prefix: pfx(prefix)}
		if to != nil {
			r.Peers = to
		}
		return r
	}
	deny := func(ps ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, p := range ps {
			out = append(out, pfx(p))
		}
		return out
	}
	cases := []struct {
		name   string
		peers  map[string]Peer
		routes []Route
		want   exportPolicy
	}{
		{
			name:  "no routes: nothing to deny",
			peers: peers,
			want:  exportPolicy{},
		},
		{
			name:  "routes without peers go everywhere: nothing to deny",
			peers: peers,
			routes: []Route{
				route("198.18.0.1/32"), route("198.18.1.0/24"), route("2001:db8:5::1/128"),
			},
			want: exportPolicy{},
		},
		{
			name:   "a route for peer a is denied to every other peer",
			peers:  peers,
			routes: []Route{route("198.18.0.1/32", "a")},
			want: exportPolicy{
				a("192.0.2.2"):   deny("198.18.0.1/32"),
				a("2001:db8::1"): deny("198.18.0.1/32"),
			},
		},
		{
			name:   "a route for every configured peer by name: nothing to deny",
			peers:  peers,
			routes: []Route{route("198.18.0.1/32", "a", "b", "v6")},
			want:   exportPolicy{},
		},
		{
			name:   "a route for a peer that is not configured is denied to all",
			peers:  peers,
			routes: []Route{route("198.18.0.1/32", "gone")},
			want: exportPolicy{
				a("192.0.2.1"):   deny("198.18.0.1/32"),
				a("192.0.2.2"):   deny("198.18.0.1/32"),
				a("2001:db8::1"): deny("198.18.0.1/32"),
			},
		},
		{
			name:  "mixed: unrestricted routes stay out of the policy",
			peers: peers,
			routes: []Route{
				route("198.18.0.1/32"),
				route("198.18.0.2/32", "b"),
				route("2001:db8:5::1/128", "v6"),
			},
			want: exportPolicy{
				a("192.0.2.1"):   deny("198.18.0.2/32", "2001:db8:5::1/128"),
				a("192.0.2.2"):   deny("2001:db8:5::1/128"),
				a("2001:db8::1"): deny("198.18.0.2/32"),
			},
		},
		{
			name:  "prefixes are sorted by address then length, IPv4 before IPv6",
			peers: map[string]Peer{"a": peers["a"], "b": peers["b"]},
			routes: []Route{
				route("2001:db8:5::1/128", "a"),
				route("198.18.1.0/24", "a"),
				route("198.18.0.9/32", "a"),
				route("198.18.0.0/24", "a"),
				route("198.18.0.0/32", "a"),
				route("2001:db8:4::/64", "a"),
			},
			want: exportPolicy{
				a("192.0.2.2"): deny("198.18.0.0/24", "198.18.0.0/32", "198.18.0.9/32", "198.18.1.0/24",
					"2001:db8:4::/64", "2001:db8:5::1/128"),
			},
		},
		{
			name:   "no peers: nothing to deny",
			peers:  map[string]Peer{},
			routes: []Route{route("198.18.0.1/32", "a")},
			want:   exportPolicy{},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := buildExportPolicy(c.peers, c.routes)
			if !samePolicy(got, c.want) {
				t.Errorf("policy:%s\nwant:%s", describePolicy(got), describePolicy(c.want))
			}
		})
	}
}

// The policy must not depend on the order routes are listed in (the map of peers has none).
func TestBuildExportPolicyIgnoresRouteOrder(t *testing.T) {
	pfx := netip.MustParsePrefix
	peers := map[string]Peer{
		"a": {Name: "a", Address: netip.MustParseAddr("192.0.2.1")},
		"b": {Name: "b", Address: netip.MustParseAddr("192.0.2.2")},
	}
	routes := []Route{
		{Prefix: pfx("198.18.0.3/32"), Peers: []string{"a"}},
		{Prefix: pfx("2001:db8::1/128"), Peers: []string{"b"}},
		{Prefix: pfx("198.18.0.1/32"), Peers: []string{"b"}},
		{Prefix: pfx("198.18.0.2/32"), Peers: []string{"a"}},
	}
	cases := []struct {
		name   string
		routes []Route
	}{
		{"reversed", reversed(routes)},
		{"rotated", append(slices.Clone(routes[2:]), routes[:2]...)},
	}
	want := buildExportPolicy(peers, routes)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := buildExportPolicy(peers, c.routes); !samePolicy(got, want) {
				t.Errorf("policy:%s\nwant:%s", describePolicy(got), describePolicy(want))
			}
		})
	}
}

func reversed[T any](in []T) []T {
	out := slices.Clone(in)
	slices.Reverse(out)
	return out
}

func samePolicy(a, b exportPolicy) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !slices.Equal(v, w) {
			return false
		}
	}
	return true
}

func describePolicy(p exportPolicy) string {
	if len(p) == 0 {
		return " (empty)"
	}
	var b strings.Builder
	for _, addr := range slices.SortedFunc(maps.Keys(p), netip.Addr.Compare) {
		fmt.Fprintf(&b, "\n  deny to %s: %v", addr, p[addr])
	}
	return b.String()
}

// TestPoliciesAreAssigned runs a real (not listening) GoBGP server: GoBGP's SetPolicies
// keeps the old assignments, so the export policy must be attached separately, or a
// restricted route would still go to every peer.
func TestPoliciesAreAssigned(t *testing.T) {
	s := New(Options{})
	defer func() { _ = s.Close(false) }()
	ctx := context.Background()
	if err := s.start(ctx, netip.MustParseAddr("198.18.0.11"), nil); err != nil {
		t.Fatal(err)
	}
	peers := map[string]Peer{
		"a": {Name: "a", Address: netip.MustParseAddr("198.18.0.254")},
		"b": {Name: "b", Address: netip.MustParseAddr("198.18.1.100")},
	}
	routes := []Route{{Prefix: netip.MustParsePrefix("198.18.103.0/32"), Peers: []string{"a"}}}
	changed, err := s.applyPolicy(ctx, peers, routes)
	if err != nil || !changed {
		t.Fatalf("applyPolicy = %v, %v; want changed", changed, err)
	}
	assigned := map[api.PolicyDirection][]string{}
	err = s.server.ListPolicyAssignment(ctx, &api.ListPolicyAssignmentRequest{Name: "global"}, func(a *api.PolicyAssignment) {
		for _, p := range a.Policies {
			assigned[a.Direction] = append(assigned[a.Direction], p.Name)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := assigned[api.PolicyDirection_POLICY_DIRECTION_EXPORT]; !slices.Equal(got, []string{exportPolicyName}) {
		t.Errorf("export policies = %v, want [%s]", got, exportPolicyName)
	}
	if got := assigned[api.PolicyDirection_POLICY_DIRECTION_IMPORT]; !slices.Equal(got, []string{importPolicy.Name}) {
		t.Errorf("import policies = %v, want [%s]", got, importPolicy.Name)
	}
	var statements int
	err = s.server.ListPolicy(ctx, &api.ListPolicyRequest{Name: exportPolicyName}, func(p *api.Policy) {
		statements += len(p.Statements)
	})
	if err != nil || statements != 1 {
		t.Errorf("export policy has %d statements (%v), want 1: peer b, IPv4", statements, err)
	}
	// Local routes must pass the import policy, or nothing would be advertised at all.
	if errs := s.applyRoutes(routes, netip.IPv4Unspecified(), netip.IPv6Unspecified()); len(errs) > 0 {
		t.Fatal(errs)
	}
	var found int
	if err := s.server.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: bgp.RF_IPv4_UC},
		func(bgp.NLRI, []*apiutil.Path) { found++ }); err != nil || found != 1 {
		t.Errorf("global RIB holds %d prefixes (%v), want 1", found, err)
	}
}
