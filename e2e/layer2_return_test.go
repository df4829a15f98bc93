package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2e/lab"
)

// TestLayer2ReannounceWhenOwnershipReturns: a frozen (then a partitioned) owner is
// replaced, and when it thaws (the partition heals) and wins its address back it
// announces it again, so the client's kernel moves its
// neighbour entry back to it without being asked, rather than keeping the interim node's
// MAC until the refresh or its own timeout. externalTrafficPolicy: Local, with a pod on
// both nodes that may announce.
func TestLayer2ReannounceWhenOwnershipReturns(t *testing.T) {
	l := l2Lab(t)
	svc, _ := l2Service(t, l, "back", true, l.Nodes[0].Name, l.Nodes[1].Name)
	a := ingressAddrs(svc)[0]
	x := owner(t, l, a)
	reach(t, l, a)
	clientHolds := func(n *lab.Node, within time.Duration) {
		t.Helper()
		eventually(t, within, "the client's neighbour entry for "+a.String()+" to be "+n.Name+"'s MAC", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			mac, err := l.ClientNeighbour(ctx, a)
			if err != nil {
				return err
			}
			if !strings.EqualFold(mac, n.MAC) {
				return fmt.Errorf("it holds %q", mac)
			}
			return nil
		})
	}
	clientHolds(x, 5*time.Second)

	if err := l.FreezeSpeaker(x.Name); err != nil {
		t.Fatal(err)
	}
	y := owner(t, l, a, x.Name)
	clientHolds(y, 5*time.Second) // y's gratuitous ARPs moved the entry
	if err := l.ThawSpeaker(x.Name); err != nil {
		t.Fatal(err)
	}
	// No traffic from here on: only a gratuitous ARP from x can move the entry back.
	clientHolds(x, 8*time.Second)
	if got := owner(t, l, a); got.Name != x.Name {
		t.Fatalf("after the thaw %s is answered by %s, want %s", a, got.Name, x.Name)
	}
	reach(t, l, a)

	// A partition: x cannot gossip, so both sides claim a; y's takeover moves the entry.
	ctx := context.Background()
	if err := l.BlockMemberlist(ctx, x.Name, 7946); err != nil {
		t.Fatal(err)
	}
	clientHolds(y, 10*time.Second)
	if err := l.UnblockMemberlist(ctx, x.Name); err != nil {
		t.Fatal(err)
	}
	// x never stopped owning a in its own view, so only the heal can tell it to announce.
	clientHolds(x, 10*time.Second)
	if got := owner(t, l, a); got.Name != x.Name {
		t.Fatalf("after the heal %s is answered by %s, want %s", a, got.Name, x.Name)
	}
	reach(t, l, a)
}
