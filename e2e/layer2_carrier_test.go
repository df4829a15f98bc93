package e2e

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	labhost "github.com/ironlb/ironlb/e2e/lab/host"
	"github.com/ironlb/ironlb/speaker/election"
)

// TestLayer2CarrierLossMovesAddresses: an interface that stays administratively up but
// loses carrier (a pulled cable) no longer counts as present, so the addresses announced
// on it move to another node, and come back with the carrier. Each node gets a second
// link, trunk0, one end of a veth pair whose other end plays the switch port.
func TestLayer2CarrierLossMovesAddresses(t *testing.T) {
	l := l2Lab(t)
	ctx := context.Background()
	for _, n := range l.Nodes {
		for _, args := range [][]string{
			{"link", "add", "trunk0", "type", "veth", "peer", "name", "trunk0p"},
			{"link", "set", "trunk0", "up"},
			{"link", "set", "trunk0p", "up"},
		} {
			if err := labhost.IP(ctx, n.Netns, args...); err != nil {
				t.Fatal(err)
			}
		}
	}
	extraPool(t, l, "carrier", []ironlbv1.AddressRange{"198.18.102.10-198.18.102.200", "2001:db8:100:2::10-2001:db8:100:2::ff"},
		ironlbv1.L2AdvertisementSpec{Interfaces: []ironlbv1.InterfaceName{"trunk0"}})
	svc, _ := extraService(t, l, "carrier", func(s *corev1.Service) {
		s.Annotations = map[string]string{ironlbv1.AnnotationAddressPool: "carrier"}
	}, l.Nodes[0].Name)
	a := ingressAddrs(svc)[0]
	announcer := func(not string) string {
		t.Helper()
		var node string
		re := regexp.MustCompile(`node (\S+) answers ARP/NDP for ` + regexp.QuoteMeta(a.String()) + ` on trunk0`)
		eventually(t, 20*time.Second, a.String()+" announced on trunk0 by a node other than "+not, func() error {
			got := currentService(t, l, svc)
			c := meta.FindStatusCondition(got.Status.Conditions, ironlbv1.ConditionL2Announced)
			if c == nil || c.Status != metav1.ConditionTrue {
				return fmt.Errorf("condition %+v", c)
			}
			m := re.FindStringSubmatch(c.Message)
			if m == nil || m[1] == not {
				return fmt.Errorf("condition says %q", c.Message)
			}
			node = m[1]
			return nil
		})
		return node
	}
	var all []string
	for _, n := range l.Nodes {
		all = append(all, n.Name)
	}
	// Every node's trunk0 is published within a second or so; until then the first
	// announcer may not be the winner among all three.
	x := election.Owner(a.String(), all)
	eventually(t, 20*time.Second, a.String()+" announced by "+x+", the winner among every node", func() error {
		if got := announcer(""); got != x {
			return fmt.Errorf("announced by %s", got)
		}
		return nil
	})
	if err := labhost.IP(ctx, l.Node(x).Netns, "link", "set", "trunk0p", "down"); err != nil {
		t.Fatal(err)
	}
	y := announcer(x)
	t.Logf("carrier lost on %s's trunk0: %s moved to %s", x, a, y)
	if err := labhost.IP(ctx, l.Node(x).Netns, "link", "set", "trunk0p", "up"); err != nil {
		t.Fatal(err)
	}
	if back := announcer(y); back != x {
		t.Errorf("with the carrier back %s is announced by %s, want %s (the election winner)", a, back, x)
	}
}
