package bgp

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

// TestFailedWithdrawalIsRetried: when the server refuses to withdraw a route, Apply says
// so and keeps the route in mind, so the next Apply withdraws it; it is never forgotten
// while it is still advertised. A real (not listening) GoBGP server, no peer.
func TestFailedWithdrawalIsRetried(t *testing.T) {
	s := New(Options{})
	defer func() { _ = s.Close(false) }()
	ctx := context.Background()
	if err := s.start(ctx, netip.MustParseAddr("198.18.0.11"), nil); err != nil {
		t.Fatal(err)
	}
	rib := func() int {
		t.Helper()
		n := 0
		if err := s.server.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: bgp.RF_IPv4_UC},
			func(bgp.NLRI, []*apiutil.Path) { n++ }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	routes := []Route{{Prefix: netip.MustParsePrefix("198.18.103.1/32")}}
	nh4, nh6 := netip.IPv4Unspecified(), netip.IPv6Unspecified()
	if errs := s.applyRoutes(routes, nh4, nh6); len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := rib(); got != 1 {
		t.Fatalf("RIB holds %d routes, want 1", got)
	}

	real := s.deletePath
	s.deletePath = func(apiutil.DeletePathRequest) error { return errors.New("injected failure") }
	errs := s.applyRoutes(nil, nh4, nh6)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "withdrawing 198.18.103.1/32") {
		t.Fatalf("errors %v, want one about withdrawing 198.18.103.1/32", errs)
	}
	if got := rib(); got != 1 {
		t.Fatalf("after the failed withdrawal the RIB holds %d routes; the route is still advertised (1)", got)
	}

	s.deletePath = real
	if errs := s.applyRoutes(nil, nh4, nh6); len(errs) > 0 {
		t.Fatalf("retry: %v", errs)
	}
	if got := rib(); got != 0 {
		t.Fatalf("after the retry the RIB holds %d routes, want 0: the failed withdrawal was forgotten", got)
	}
}
