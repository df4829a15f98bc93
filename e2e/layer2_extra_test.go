package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"

	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
	"github.com/ironlb/ironlb/speaker/election"
)

// announceLabel is the Node label the node-selector test matches on.
const announceLabel = "e2e.ironlb.io/announce"

// extraPool creates a dual-stack pool and an L2Advertisement for it alone, and narrows the
// lab's default advertisement ("l2", which selects every pool) to its own pool, so only
// the new advertisement decides how the new pool's addresses are announced.
func extraPool(t *testing.T, l *lab.Lab, name string, addrs []ironlbv1.AddressRange, spec ironlbv1.L2AdvertisementSpec) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	updateAdvertisement(t, l, "l2", func(s *ironlbv1.L2AdvertisementSpec) { s.IPAddressPools = []string{"l2"} })
	pool := &ironlbv1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       ironlbv1.IPAddressPoolSpec{Addresses: addrs, AutoAssign: ptrTo(false)},
	}
	if err := l.Client.Create(ctx, pool); err != nil {
		t.Fatal(err)
	}
	spec.IPAddressPools = []string{name}
	adv := &ironlbv1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	if err := l.Client.Create(ctx, adv); err != nil {
		t.Fatal(err)
	}
}

func ptrTo[T any](v T) *T { return &v }

// updateObject re-reads the cluster-scoped object name into obj, changes it and updates
// it, retrying on conflicts with the controllers' own writes.
func updateObject[T client.Object](t *testing.T, l *lab.Lab, name string, obj T, change func(T)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := l.Client.Get(ctx, types.NamespacedName{Name: name}, obj); err != nil {
			return err
		}
		change(obj)
		return l.Client.Update(ctx, obj)
	})
	if err != nil {
		t.Fatalf("update %T %s: %v", obj, name, err)
	}
}

// updateAdvertisement changes an L2Advertisement's spec.
func updateAdvertisement(t *testing.T, l *lab.Lab, name string, change func(*ironlbv1.L2AdvertisementSpec)) {
	t.Helper()
	updateObject(t, l, name, &ironlbv1.L2Advertisement{}, func(a *ironlbv1.L2Advertisement) { change(&a.Spec) })
}

// labelNode sets (value != "") or removes a label of a Node object.
func labelNode(t *testing.T, l *lab.Lab, node, key, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v := "null"
	if value != "" {
		v = strconv.Quote(value)
	}
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%s}}}`, key, v)
	if _, err := l.Kube.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("label Node %s: %v", node, err)
	}
}

// wonBy returns an address of the range first..last (same family) whose rendezvous-hash
// winner among every node of the lab is want: the node that would announce it if nothing
// narrowed the choice.
func wonBy(t *testing.T, l *lab.Lab, want string, first, last netip.Addr) netip.Addr {
	t.Helper()
	var names []string
	for _, n := range l.Nodes {
		names = append(names, n.Name)
	}
	for a := first; a.Compare(last) <= 0; a = a.Next() {
		if election.Owner(a.String(), names) == want {
			return a
		}
	}
	t.Fatalf("no address in %s-%s is won by %s", first, last, want)
	return netip.Addr{}
}

// extraService creates a dual-stack LoadBalancer Service (changed by mutate) with one pod
// per given node and returns it once it has an IPv4 and an IPv6 address.
func extraService(t *testing.T, l *lab.Lab, name string, mutate func(*corev1.Service), nodes ...string) (*corev1.Service, []*lab.Pod) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var pods []*lab.Pod
	for i, n := range nodes {
		p, err := l.StartPod(ctx, n, fmt.Sprintf("%s-%d", name, i), map[string]string{"app": name})
		if err != nil {
			t.Fatal(err)
		}
		pods = append(pods, p)
	}
	svc := lab.NewLoadBalancerService("e2e", name)
	if mutate != nil {
		mutate(svc)
	}
	svc, err := l.CreateService(ctx, svc)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetEndpoints(ctx, svc, lab.Ready(pods...)); err != nil {
		t.Fatal(err)
	}
	svc, err = l.WaitForIngress(ctx, svc.Namespace, svc.Name, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.Status.LoadBalancer.Ingress) != 2 {
		t.Fatalf("want an IPv4 and an IPv6 address, got %+v", svc.Status.LoadBalancer.Ingress)
	}
	return svc, pods
}

// nobodyAnswers checks that no node answers ARP/NDP for a, for a few seconds in a row.
func nobodyAnswers(t *testing.T, l *lab.Lab, a netip.Addr) {
	t.Helper()
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		macs, err := l.WhoHas(ctx, a)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if len(macs) > 0 {
			t.Fatalf("%s is answered by %v, want nobody", a, macs)
		}
	}
}

// reachPort is reach for another Service port.
func reachPort(t *testing.T, l *lab.Lab, a netip.Addr, port int, want string) {
	t.Helper()
	url := "http://" + net.JoinHostPort(a.String(), strconv.Itoa(port)) + "/"
	eventually(t, 20*time.Second, "curl "+url, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		body, err := l.Curl(ctx, l.L2Client.Netns, url)
		if err != nil {
			return err
		}
		if strings.TrimSpace(body) != want {
			return fmt.Errorf("answered by %q, want %q", body, want)
		}
		return nil
	})
}

// TestLayer2NodeSelectors: an L2Advertisement's nodeSelectors decide which node announces,
// whatever the hash prefers; changing them moves the address.
func TestLayer2NodeSelectors(t *testing.T) {
	l := l2Lab(t)
	v4First, v4Last := netip.MustParseAddr("198.18.101.10"), netip.MustParseAddr("198.18.101.200")
	v6First, v6Last := netip.MustParseAddr("2001:db8:100:1::10"), netip.MustParseAddr("2001:db8:100:1::ff")
	extraPool(t, l, "selected", []ironlbv1.AddressRange{"198.18.101.10-198.18.101.200", "2001:db8:100:1::10-2001:db8:100:1::ff"},
		ironlbv1.L2AdvertisementSpec{TargetSelection: ironlbv1.TargetSelection{
			NodeSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{announceLabel: "yes"}}},
		}})
	node1, node2, node3 := l.Nodes[0].Name, l.Nodes[1].Name, l.Nodes[2].Name
	labelNode(t, l, node3, announceLabel, "yes")
	// Addresses that node-1 would win with every node eligible, so neither node-3 nor
	// (later) node-2 is the hash winner.
	want4, want6 := wonBy(t, l, node1, v4First, v4Last), wonBy(t, l, node1, v6First, v6Last)
	svc, pods := extraService(t, l, "selected", func(s *corev1.Service) {
		s.Annotations = map[string]string{ironlbv1.AnnotationLoadBalancerIPs: want4.String() + "," + want6.String()}
	}, node1)
	addrs := ingressAddrs(svc)
	if !slices.Contains(addrs, want4) || !slices.Contains(addrs, want6) {
		t.Fatalf("got addresses %v, requested %s and %s", addrs, want4, want6)
	}

	t.Run("only the labelled node announces", func(t *testing.T) {
		for _, a := range addrs {
			if got := owner(t, l, a); got.Name != node3 {
				t.Errorf("%s announced by %s, want %s, the only selected node", a, got.Name, node3)
			}
			reach(t, l, a, pods[0].Name)
		}
		announcedCondition(t, l, svc, metav1.ConditionTrue, "node "+node3)
	})

	t.Run("changing the advertisement's selector moves the address", func(t *testing.T) {
		updateAdvertisement(t, l, "selected", func(s *ironlbv1.L2AdvertisementSpec) {
			s.NodeSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"kubernetes.io/hostname": node2}}}
		})
		for _, a := range addrs {
			if got := owner(t, l, a, node3); got.Name != node2 {
				t.Errorf("%s announced by %s, want %s", a, got.Name, node2)
			}
			reach(t, l, a, pods[0].Name)
		}
		announcedCondition(t, l, svc, metav1.ConditionTrue, "node "+node2)
	})

	t.Run("no node selected: not announced, and the condition says why", func(t *testing.T) {
		updateAdvertisement(t, l, "selected", func(s *ironlbv1.L2AdvertisementSpec) {
			s.NodeSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{announceLabel: "no-such-node"}}}
		})
		announcedCondition(t, l, svc, metav1.ConditionFalse, "not selected by an L2Advertisement")
		for _, a := range addrs {
			nobodyAnswers(t, l, a)
		}
	})
}

// TestLayer2Interfaces: an L2Advertisement that names interfaces announces only on them;
// one that names an interface no node has announces nothing and says so.
func TestLayer2Interfaces(t *testing.T) {
	l := l2Lab(t)
	extraPool(t, l, "ifaces", []ironlbv1.AddressRange{"198.18.102.10-198.18.102.200", "2001:db8:100:2::10-2001:db8:100:2::ff"},
		ironlbv1.L2AdvertisementSpec{Interfaces: []ironlbv1.InterfaceName{"nosuch0"}})
	svc, pods := extraService(t, l, "ifaces", func(s *corev1.Service) {
		s.Annotations = map[string]string{ironlbv1.AnnotationAddressPool: "ifaces"}
	}, l.Nodes[0].Name)
	addrs := ingressAddrs(svc)

	t.Run("an interface no node has: not announced", func(t *testing.T) {
		announcedCondition(t, l, svc, metav1.ConditionFalse, "lacks its interfaces")
		for _, a := range addrs {
			nobodyAnswers(t, l, a)
		}
	})

	t.Run("the nodes' real link: announced on it", func(t *testing.T) {
		link := l.Nodes[0].Link
		for _, n := range l.Nodes {
			if n.Link != link {
				t.Fatalf("the nodes' links differ (%s, %s): the test assumes one name", link, n.Link)
			}
		}
		updateAdvertisement(t, l, "ifaces", func(s *ironlbv1.L2AdvertisementSpec) {
			s.Interfaces = []ironlbv1.InterfaceName{ironlbv1.InterfaceName(link)}
		})
		o4 := owner(t, l, addrs[0])
		owner(t, l, addrs[1])
		for _, a := range addrs {
			reach(t, l, a, pods[0].Name)
		}
		// Each family is elected on its own; the IPv4 owner's part of the condition names
		// the interface.
		announcedCondition(t, l, svc, metav1.ConditionTrue, fmt.Sprintf("node %s answers ARP/NDP for %s on %s", o4.Name, addrs[0], link))
	})
}

// TestLayer2SharedIP: two Services with one sharing key and different ports on one
// requested address are announced by one node and both reached through that address.
func TestLayer2SharedIP(t *testing.T) {
	l := l2Lab(t)
	const v4, v6 = "198.18.100.77", "2001:db8:100::77"
	share := func(port int32) func(*corev1.Service) {
		return func(s *corev1.Service) {
			s.Annotations = map[string]string{
				ironlbv1.AnnotationAllowSharedIP:   "e2e-shared",
				ironlbv1.AnnotationLoadBalancerIPs: v4 + "," + v6,
			}
			s.Spec.Ports = []corev1.ServicePort{{
				Name: "http", Protocol: corev1.ProtocolTCP, Port: port, TargetPort: intstr.FromInt32(lab.PodPort),
			}}
		}
	}
	// The two Services' pods run behind different nodes, so each answer also proves that
	// kube-proxy on the announcing node picked the right Service by port.
	svcA, podsA := extraService(t, l, "shared-a", share(80), l.Nodes[0].Name)
	svcB, podsB := extraService(t, l, "shared-b", share(81), l.Nodes[1].Name)
	addrs := ingressAddrs(svcA)
	if got := ingressAddrs(svcB); !slices.Equal(addrs, got) {
		t.Fatalf("the Services got different addresses: %v and %v", addrs, got)
	}
	if !slices.Contains(addrs, netip.MustParseAddr(v4)) || !slices.Contains(addrs, netip.MustParseAddr(v6)) {
		t.Fatalf("got %v, requested %s and %s", addrs, v4, v6)
	}
	for _, a := range addrs {
		o := owner(t, l, a)
		t.Logf("%s announced by %s for both Services", a, o.Name)
		reachPort(t, l, a, 80, podsA[0].Name)
		reachPort(t, l, a, 81, podsB[0].Name)
	}
	// Both Services name the same owner for the IPv4 address.
	o4 := owner(t, l, addrs[0])
	for _, svc := range []*corev1.Service{svcA, svcB} {
		announcedCondition(t, l, svc, metav1.ConditionTrue, fmt.Sprintf("node %s answers ARP/NDP for %s", o4.Name, addrs[0]))
	}
	got, err := l.Kube.CoreV1().Services(svcA.Namespace).Get(context.Background(), svcA.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := meta.FindStatusCondition(got.Status.Conditions, ironlbv1.ConditionL2Announced); c != nil {
		t.Logf("condition of %s: %s", svcA.Name, c.Message)
	}
}
