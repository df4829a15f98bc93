package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2e/lab"
)

// TestLayer2KeyRotationWithoutDowntime rotates the memberlist key of running speakers by
// editing the mounted Secret only, in the README's three steps (add the new key as
// secretkey.next; make it the primary with the old one as secretkey.previous; remove the
// old one), while a client probes the address every 10 ms. No speaker restarts, none
// drops out of the cluster, and no probe fails; a speaker started afterwards with only
// the new key joins.
func TestLayer2KeyRotationWithoutDowntime(t *testing.T) {
	l := l2Lab(t)
	svc, pods := l2Service(t, l, "rotate", false, l.Nodes[0].Name)
	a := ingressAddrs(svc)[0]
	owner(t, l, a)
	reach(t, l, a, pods[0].Name)
	primary, err := l.MemberlistSecretFile()
	if err != nil {
		t.Fatal(err)
	}
	oldKey, err := os.ReadFile(primary)
	if err != nil {
		t.Fatal(err)
	}
	newKey := []byte("the rotated memberlist secret of the lab, 0123456789")
	write := func(path string, b []byte) {
		t.Helper()
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	allJoined := func(step string) {
		t.Helper()
		// The speakers read the Secret every 5 s; give each step time to reach all.
		time.Sleep(7 * time.Second)
		waitMetric(t, l, l.Nodes, "ironlb_memberlist_members", func(*lab.Node) map[string]string { return nil },
			func(v float64) bool { return v == float64(len(l.Nodes)) }, "every node ("+step+")")
	}

	probe, err := l.Probe(context.Background(), l.L2Client.Netns, lbURL(a), 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	write(primary+".next", newKey)
	allJoined("the new key accepted")
	write(primary, newKey)
	write(primary+".previous", oldKey)
	if err := os.Remove(primary + ".next"); err != nil {
		t.Fatal(err)
	}
	allJoined("sending with the new key")
	if err := os.Remove(primary + ".previous"); err != nil {
		t.Fatal(err)
	}
	allJoined("the old key removed")
	res := probe.Stop()
	t.Logf("during the rotation: %d probes, %d failed, longest gap %s", res.Successes+res.Failures, res.Failures, res.Longest)
	if res.Failures > 0 || res.Successes == 0 {
		t.Errorf("the rotation cost %d failed probes (longest gap %s, %d succeeded)", res.Failures, res.Longest, res.Successes)
	}

	// A restarted speaker reads only the new key, and joins: the rotation took effect.
	if err := l.RestartSpeaker(context.Background(), l.Nodes[2].Name); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, l, l.Nodes, "ironlb_memberlist_members", func(*lab.Node) map[string]string { return nil },
		func(v float64) bool { return v == float64(len(l.Nodes)) }, "every node after a restart with the new key")
	owner(t, l, a)
}
