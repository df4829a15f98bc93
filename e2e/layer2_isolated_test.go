package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
)

// TestLayer2IsolatedSpeakerClaimsNothing: a speaker restarted with another gossip key
// cannot join the others. It must not elect itself for every address (every address would
// then be answered by two MACs); it says why in a metric and an event on its Node, and
// announces again once it has the right key.
func TestLayer2IsolatedSpeakerClaimsNothing(t *testing.T) {
	l := l2Lab(t)
	svc, pods := l2Service(t, l, "web", false, l.Nodes[0].Name)
	addrs := ingressAddrs(svc)
	// A second Service gives more addresses, so the isolated node would win some of them.
	svc2, pods2 := l2Service(t, l, "api", false, l.Nodes[1].Name)
	addrs2 := ingressAddrs(svc2)
	isolated := l.Nodes[2]
	for _, a := range append(addrs, addrs2...) {
		owner(t, l, a)
	}

	wrong := filepath.Join(t.TempDir(), "wrong-secret")
	if err := os.WriteFile(wrong, []byte("not the cluster's memberlist secret, 32+ bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := l.StopSpeaker(isolated.Name); err != nil {
		t.Fatal(err)
	}
	if err := l.StartSpeaker(ctx, isolated.Name, "--memberlist-secret-file="+wrong); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, l, []*lab.Node{isolated}, "ironlb_memberlist_join_failures_total",
		func(*lab.Node) map[string]string { return map[string]string{"cause": "key_rejected"} },
		func(v float64) bool { return v > 0 }, "above 0")
	waitMetric(t, l, []*lab.Node{isolated}, "ironlb_speaker_isolated",
		func(*lab.Node) map[string]string { return nil }, func(v float64) bool { return v == 1 }, "1")
	eventually(t, 20*time.Second, "a SpeakerIsolated event on Node "+isolated.Name, func() error {
		return l.FindEvent(ctx, "Node", isolated.Name, ironlbv1.EventSpeakerIsolated, "rejects this speaker's gossip key")
	})
	// Well past the join grace (3 s), every address still has exactly one MAC, and it is
	// not the isolated node's.
	consistently(t, 6*time.Second, "one owner per address, not the isolated node", func() error {
		for _, a := range append(addrs, addrs2...) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			macs, err := l.WhoHas(ctx, a)
			cancel()
			if err != nil {
				return err
			}
			if len(macs) != 1 {
				return fmt.Errorf("%s answered by %v", a, macs)
			}
			if n := l.NodeByMAC(macs[0]); n == nil || n.Name == isolated.Name {
				return fmt.Errorf("%s answered by %v, the isolated node", a, macs)
			}
		}
		return nil
	})
	reach(t, l, addrs[0], pods[0].Name)
	reach(t, l, addrs2[0], pods2[0].Name)

	// With the right key it joins, announces again and says so.
	if err := l.StopSpeaker(isolated.Name); err != nil {
		t.Fatal(err)
	}
	if err := l.StartSpeaker(ctx, isolated.Name); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, l, []*lab.Node{isolated}, "ironlb_memberlist_members",
		func(*lab.Node) map[string]string { return nil }, func(v float64) bool { return v == 3 }, "3")
	for _, a := range append(addrs, addrs2...) {
		owner(t, l, a)
	}
}
