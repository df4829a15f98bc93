package cluster

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
)

// TestIsolatedSpeakerBehindABlockedPort: a speaker Pod that starts on a node whose
// memberlist port is blocked never reaches the others, while the API shows their speaker
// Pods Ready. It must not elect itself for every address (each would then be answered by
// two MACs): it announces nothing, raises SpeakerIsolated on its Node, and joins and
// announces once the port is open again.
func TestIsolatedSpeakerBehindABlockedPort(t *testing.T) {
	l := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	applyDemo(ctx, t, l, "iso")
	isolated := l.Nodes[len(l.Nodes)-1]
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = l.UnblockMemberlist(ctx, isolated.Name)
	})
	if _, err := l.CreateDeployment(ctx, lab.NewPodserverDeployment("iso", "web", 2)); err != nil {
		t.Fatal(err)
	}
	var addrs []netip.Addr
	for _, name := range []string{"web", "web-2", "web-3"} {
		spec := lab.NewLoadBalancerService("iso", name)
		spec.Spec.Selector = map[string]string{"app": "web"}
		spec.Annotations = map[string]string{ironlbv1.AnnotationAddressPool: "demo"}
		spec.Spec.Ports[0].TargetPort = intstr.FromInt32(lab.PodPort)
		if _, err := l.CreateService(ctx, spec); err != nil {
			t.Fatal(err)
		}
		svc, err := l.WaitForIngress(ctx, "iso", name, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			addrs = append(addrs, netip.MustParseAddr(ing.IP))
		}
	}
	oneOwnerEach := func(not string) error {
		for _, a := range addrs {
			ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			macs, err := l.WhoHas(ctx, a)
			cancel()
			if err != nil {
				return err
			}
			if len(macs) != 1 {
				return fmt.Errorf("%s answered by %v", a, macs)
			}
			if n := l.NodeByMAC(macs[0]); n == nil || n.Name == not {
				return fmt.Errorf("%s answered by %s, the isolated node", a, macs[0])
			}
		}
		return nil
	}
	eventually(t, 30*time.Second, "one owner per address", func() error { return oneOwnerEach("") })

	if err := l.BlockMemberlist(ctx, isolated.Name, 7946); err != nil {
		t.Fatal(err)
	}
	old := speakerPodOn(ctx, t, l, isolated.Name)
	kubectl(ctx, t, l, "-n", lab.ControllerNamespace, "delete", "pod", old, "--wait=true")
	eventually(t, 90*time.Second, "a new Ready speaker Pod on "+isolated.Name, func() error {
		pods, err := l.PodsOf(ctx, lab.ControllerNamespace, "app.kubernetes.io/component=speaker")
		if err != nil {
			return err
		}
		for _, p := range pods {
			if p.Spec.NodeName == isolated.Name && p.Name != old && podReady(&p) {
				return nil
			}
		}
		return fmt.Errorf("none yet")
	})
	eventually(t, 30*time.Second, "a SpeakerIsolated event on Node "+isolated.Name, func() error {
		return l.FindEvent(ctx, "Node", isolated.Name, ironlbv1.EventSpeakerIsolated, "has a Ready speaker never reached")
	})
	// Well past the join grace, still one owner per address, never the isolated node.
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) {
		if err := oneOwnerEach(isolated.Name); err != nil {
			t.Fatalf("while %s is isolated: %v", isolated.Name, err)
		}
	}

	if err := l.UnblockMemberlist(ctx, isolated.Name); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "a SpeakerJoined event on Node "+isolated.Name, func() error {
		return l.FindEvent(ctx, "Node", isolated.Name, ironlbv1.EventSpeakerJoined, "joined the other speakers")
	})
	eventually(t, 30*time.Second, "one owner per address after the port opened", func() error { return oneOwnerEach("") })
}

// speakerPodOn names the speaker Pod of a node.
func speakerPodOn(ctx context.Context, t *testing.T, l *lab.Lab, node string) string {
	t.Helper()
	pods, err := l.PodsOf(ctx, lab.ControllerNamespace, "app.kubernetes.io/component=speaker")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if p.Spec.NodeName == node {
			return p.Name
		}
	}
	t.Fatalf("no speaker Pod on %s", node)
	return ""
}
