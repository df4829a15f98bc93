package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2e/lab"
)

// TestSpeakerWaitsForAPIServer starts a speaker on a node cut off from the API server, as
// on a node that boots before the network is up. The speaker must wait and become
// healthy once the node is reconnected, not exit (and sit in CrashLoopBackOff).
func TestSpeakerWaitsForAPIServer(t *testing.T) {
	l := startLab(t, lab.Options{Nodes: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	node := l.Nodes[0].Name
	if err := l.LinkDown(ctx, node); err != nil {
		t.Fatal(err)
	}
	started := make(chan error, 1)
	go func() { started <- l.StartSpeaker(ctx, node, "--layer2=false") }()
	select {
	case err := <-started:
		t.Fatalf("the speaker started (or failed) while the API server was unreachable: %v", err)
	case <-time.After(4 * time.Second):
	}
	if err := l.LinkUp(ctx, node); err != nil {
		t.Fatal(err)
	}
	if err := <-started; err != nil {
		t.Fatalf("the speaker did not become healthy after the API server became reachable: %v", err)
	}
}
