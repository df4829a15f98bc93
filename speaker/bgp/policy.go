package bgp

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"

	api "github.com/osrg/gobgp/v4/api"
)

// exportPolicy holds, per peer address, the prefixes that must not be sent to it: the
// routes whose advertisements name other peers. GoBGP keeps one path per prefix and only
// route-server clients have their own policies, so a route that goes to some peers only is
// filtered by one global export policy with a statement per restricted peer.
type exportPolicy map[netip.Addr][]netip.Prefix

func buildExportPolicy(peers map[string]Peer, routes []Route) exportPolicy {
	out := exportPolicy{}
	for _, r := range routes {
		if r.Peers == nil {
			continue
		}
		for name, p := range peers {
			if !slices.Contains(r.Peers, name) {
				out[p.Address] = append(out[p.Address], r.Prefix)
			}
		}
	}
	for a := range out {
		slices.SortFunc(out[a], comparePrefix)
	}
	return out
}

// applyPolicy installs the export policy when it changed and reports whether it did.
func (s *Speaker) applyPolicy(ctx context.Context, peers map[string]Peer, routes []Route) (bool, error) {
	want := buildExportPolicy(peers, routes)
	if reflect.DeepEqual(want, s.policy) || (len(want) == 0 && len(s.policy) == 0) {
		return false, nil
	}
	if err := s.server.SetPolicies(ctx, policies(want)); err != nil {
		return false, fmt.Errorf("setting the export policy: %w", err)
	}
	s.policy = want
	return true, nil
}

const exportPolicyName = "ironlb-export"

// importPolicy rejects every route received from a peer: ironlb only advertises, and a
// route it learned must never be used or even kept. Its own routes (type local) pass.
var importPolicy = &api.Policy{Name: "ironlb-import", Statements: []*api.Statement{
	{Name: "reject-internal", Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_INTERNAL},
		Actions: &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_REJECT}},
	{Name: "reject-external", Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_EXTERNAL},
		Actions: &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_REJECT}},
}}

// policies defines the import policy and the export policy for want. GoBGP's
// SetPolicies replaces definitions but keeps the assignments; assignPolicies makes those.
func policies(want exportPolicy) *api.SetPoliciesRequest {
	req := &api.SetPoliciesRequest{Policies: []*api.Policy{importPolicy}}
	policy := &api.Policy{Name: exportPolicyName}
	for i, addr := range slices.SortedFunc(maps.Keys(want), netip.Addr.Compare) {
		neighbors := fmt.Sprintf("ironlb-peer-%d", i)
		req.DefinedSets = append(req.DefinedSets, &api.DefinedSet{
			DefinedType: api.DefinedType_DEFINED_TYPE_NEIGHBOR, Name: neighbors,
			List: []string{netip.PrefixFrom(addr, addr.BitLen()).String()},
		})
		// A prefix set holds one family, so each family gets its own set and statement.
		for _, fam := range []struct {
			name string
			is4  bool
		}{{"v4", true}, {"v6", false}} {
			var prefixes []*api.Prefix
			for _, p := range want[addr] {
				if p.Addr().Is4() == fam.is4 {
					prefixes = append(prefixes, &api.Prefix{IpPrefix: p.String(), MaskLengthMin: uint32(p.Bits()), MaskLengthMax: uint32(p.Bits())})
				}
			}
			if len(prefixes) == 0 {
				continue
			}
			set := fmt.Sprintf("ironlb-deny-%d-%s", i, fam.name)
			req.DefinedSets = append(req.DefinedSets, &api.DefinedSet{DefinedType: api.DefinedType_DEFINED_TYPE_PREFIX, Name: set, Prefixes: prefixes})
			policy.Statements = append(policy.Statements, &api.Statement{
				Name: set,
				Conditions: &api.Conditions{
					NeighborSet: &api.MatchSet{Type: api.MatchSet_TYPE_ANY, Name: neighbors},
					PrefixSet:   &api.MatchSet{Type: api.MatchSet_TYPE_ANY, Name: set},
				},
				Actions: &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_REJECT},
			})
		}
	}
	// The export policy is always defined, even without statements, so the assignments
	// made once at start keep pointing at it.
	req.Policies = append(req.Policies, policy)
	return req
}

// assignPolicies attaches both policies to the global RIB, in which every peer that is not
// a route-server client is evaluated.
func (s *Speaker) assignPolicies(ctx context.Context) error {
	for _, a := range []*api.PolicyAssignment{
		{Name: "global", Direction: api.PolicyDirection_POLICY_DIRECTION_IMPORT,
			Policies: []*api.Policy{{Name: importPolicy.Name}}, DefaultAction: api.RouteAction_ROUTE_ACTION_ACCEPT},
		{Name: "global", Direction: api.PolicyDirection_POLICY_DIRECTION_EXPORT,
			Policies: []*api.Policy{{Name: exportPolicyName}}, DefaultAction: api.RouteAction_ROUTE_ACTION_ACCEPT},
	} {
		if err := s.server.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: a}); err != nil {
			return fmt.Errorf("assigning the %s policy: %w", a.Direction, err)
		}
	}
	return nil
}
