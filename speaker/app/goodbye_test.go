package app

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/status"
)

// goodbyeFixture is a bgpReconciler of node "n1" on a fake client with BGPPeers "a"
// (entries of n1 and n2), "b" (n2 only) and "c" (n1 only), recording the status patches
// (or blocking them when hang is set).
type goodbyeFixture struct {
	b       *bgpReconciler
	c       client.Client
	mu      sync.Mutex
	patched []string // "peer body"
}

func newGoodbyeFixture(t *testing.T, hang bool) *goodbyeFixture {
	t.Helper()
	s := runtime.NewScheme()
	if err := ironlbv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	peer := func(name string, nodes ...string) *ironlbv1.BGPPeer {
		p := &ironlbv1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: name}}
		for _, n := range nodes {
			p.Status.Nodes = append(p.Status.Nodes, ironlbv1.PeerNodeStatus{Node: n, State: "Established"})
		}
		return p
	}
	f := &goodbyeFixture{}
	f.c = fake.NewClientBuilder().WithScheme(s).WithObjects(peer("a", "n1", "n2"), peer("b", "n2"), peer("c", "n1")).
		WithInterceptorFuncs(interceptor.Funcs{
			SubResourcePatch: func(ctx context.Context, _ client.Client, _ string, obj client.Object, p client.Patch, _ ...client.SubResourcePatchOption) error {
				if hang {
					<-ctx.Done()
					return ctx.Err()
				}
				data, err := p.Data(obj)
				if err != nil {
					return err
				}
				f.mu.Lock()
				defer f.mu.Unlock()
				f.patched = append(f.patched, obj.GetName()+" "+string(data))
				return nil
			},
		}).Build()
	f.b = &bgpReconciler{nodeName: "n1", client: f.c, logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		applier: status.NewApplier(f.c, ironlbv1.SpeakerFieldManager("n1"))}
	return f
}

// At shutdown the speaker gives up its entries, with an empty status applied under its
// field manager, in exactly the BGPPeers that hold one.
func TestGoodbyeRemovesThisNodesEntries(t *testing.T) {
	f := newGoodbyeFixture(t, false)
	f.b.goodbye(f.c)
	slices.Sort(f.patched)
	want := []string{
		`a {"apiVersion":"ironlb.io/v1beta1","kind":"BGPPeer","metadata":{"name":"a"},"status":{}}`,
		`c {"apiVersion":"ironlb.io/v1beta1","kind":"BGPPeer","metadata":{"name":"c"},"status":{}}`,
	}
	if !slices.Equal(f.patched, want) {
		t.Errorf("patches %q, want %q", f.patched, want)
	}
}

// An API server that does not answer holds the shutdown no longer than goodbyeTimeout.
func TestGoodbyeIsBounded(t *testing.T) {
	f := newGoodbyeFixture(t, true)
	start := time.Now()
	f.b.goodbye(f.c)
	if took := time.Since(start); took > goodbyeTimeout+time.Second {
		t.Errorf("goodbye took %v against a hung API server, want at most about %v", took, goodbyeTimeout)
	}
}
