package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
	"github.com/ironlb/ironlb/speaker/election"
)

// chaosNode is the model's view of one node: whether its speaker runs and its link is up.
type chaosNode struct {
	speaker bool // running (not killed or stopped)
	link    bool // its cable is in
}

// chaosService is a Service of the chaos test with the node of its one pod.
type chaosService struct {
	name  string
	bgp   bool // from the BGP pool (announced by BGP), else from the layer-2 one
	local bool
	pod   *lab.Pod
	addrs []netip.Addr
}

// The chaos lab's pools: one announced by ARP/NDP, one by BGP, so one run checks both.
const (
	chaosL2Pool  = "l2"
	chaosBGPPool = "bgp"
	// chaosMaxServices bounds the churn (each Service has a pod process).
	chaosMaxServices = 8
)

// TestChaos applies random faults and user actions to a three-node lab whose speakers
// announce one pool by layer 2 and another by BGP (with BFD, so a dead node leaves the
// router within a second): speaker kills, graceful stops, restarts and freezes, link cuts
// (carrier loss), memberlist partitions that heal, Services created and deleted, pods of
// externalTrafficPolicy: Local Services moved to another node, and the layer-2 pool shrunk
// below its Services' addresses and grown back (they keep them, and stay announced). At
// least one node stays whole. After each step it checks against a model what the network
// does:
//   - layer 2: every address is answered by exactly one MAC as the L2 client sees it
//     (arping/ndisc), that of the node the election picks among the nodes whose speaker
//     runs with its link up (for Local, among those with the pod), and L2Announced names
//     that node; an address without such a node is dark and its condition False;
//   - BGP: the router's next hops for every address are exactly those nodes.
//
// IRONLB_CHAOS_SEED replays a run; IRONLB_CHAOS_OPS sets its length (make test: 8, make
// bench: 100).
func TestChaos(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("IRONLB_CHAOS_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("IRONLB_CHAOS_SEED: %v", err)
		}
	}
	ops := 8
	if s := os.Getenv("IRONLB_CHAOS_OPS"); s != "" {
		var err error
		if ops, err = strconv.Atoi(s); err != nil {
			t.Fatalf("IRONLB_CHAOS_OPS: %v", err)
		}
	}
	t.Logf("chaos seed %d, %d steps (replay: IRONLB_CHAOS_SEED=%d IRONLB_CHAOS_OPS=%d)", seed, ops, seed, ops)
	c := &chaos{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), l: chaosLab(t), model: map[string]*chaosNode{}}
	for _, n := range c.l.Nodes {
		c.model[n.Name] = &chaosNode{speaker: true, link: true}
	}
	for i, local := range []bool{false, true, false, true} {
		c.addService(i%2 == 1, local, c.l.Nodes[i%len(c.l.Nodes)].Name)
	}
	c.check("start")
	for i := range ops {
		step, err := c.step()
		if err != nil {
			t.Fatalf("step %d (%s): %v", i, step, err)
		}
		t.Logf("step %d: %s", i, step)
		c.check(fmt.Sprintf("after step %d (%s)", i, step))
	}
}

// chaosLab starts the lab with both pools, their advertisements, and BGP peers (IPv4 and
// IPv6 sessions) with BFD.
func chaosLab(t *testing.T) *lab.Lab {
	t.Helper()
	return bgpLab(t, lab.Options{}, func(l *lab.Lab) []client.Object {
		withBFD := func(s *ironlbv1.BGPPeerSpec) { s.BFDProfile = "chaos" }
		return []client.Object{
			&ironlbv1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: chaosL2Pool},
				Spec: ironlbv1.IPAddressPoolSpec{Addresses: chaosL2Addresses, AvoidBuggyIPs: true}},
			&ironlbv1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: chaosL2Pool},
				Spec: ironlbv1.L2AdvertisementSpec{PoolSelection: ironlbv1.PoolSelection{IPAddressPools: []string{chaosL2Pool}}}},
			bgpPool(chaosBGPPool, "198.18.103.0/24", "2001:db8:100:3::/64"),
			&ironlbv1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: chaosBGPPool},
				Spec: ironlbv1.BGPAdvertisementSpec{PoolSelection: ironlbv1.PoolSelection{IPAddressPools: []string{chaosBGPPool}}}},
			&ironlbv1.BFDProfile{ObjectMeta: metav1.ObjectMeta{Name: "chaos"},
				Spec: ironlbv1.BFDProfileSpec{ReceiveInterval: ptrTo(int32(300)), TransmitInterval: ptrTo(int32(300)), DetectMultiplier: ptrTo(int32(3))}},
			bgpPeer("router4", l.NodeASN(), l.Router.ASN, l.Router.IPv4, withBFD),
			bgpPeer("router6", l.NodeASN(), l.Router.ASN, l.Router.IPv6, withBFD),
		}
	})
}

// chaosL2Addresses is the layer-2 pool; shrinking it keeps only its first part, which the
// first Services take (the controller hands out the lowest free address).
var (
	chaosL2Addresses = []ironlbv1.AddressRange{"198.18.100.0/24", "2001:db8:100::10-2001:db8:100::ff"}
	chaosL2Shrunk    = []ironlbv1.AddressRange{"198.18.100.1-198.18.100.2", "2001:db8:100::10-2001:db8:100::11"}
)

type chaos struct {
	t        *testing.T
	rng      *rand.Rand
	l        *lab.Lab
	model    map[string]*chaosNode
	services []chaosService
	next     int  // the next Service's number
	shrunk   bool // the layer-2 pool holds only chaosL2Shrunk
}

func (c *chaos) randomNode() string { return c.l.Nodes[c.rng.IntN(len(c.l.Nodes))].Name }

// whole lists the nodes whose speaker runs with the link up, sorted.
func (c *chaos) whole() []string {
	var out []string
	for name, n := range c.model {
		if n.speaker && n.link {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// step applies one random fault or user action and says which.
func (c *chaos) step() (string, error) {
	ctx := context.Background()
	node := c.randomNode()
	m := c.model[node]
	spare := len(c.whole()) > 1 // another node stays whole if this one breaks
	switch op := c.rng.IntN(10); {
	case !m.speaker:
		err := c.l.StartSpeaker(ctx, node)
		m.speaker = err == nil
		return "start the speaker of " + node, err
	case !m.link:
		err := c.l.LinkUp(ctx, node)
		m.link = err == nil
		return "plug the cable of " + node + " back", err
	case op == 0 && spare:
		err := c.l.KillSpeaker(node)
		m.speaker = err != nil
		return "kill the speaker of " + node, err
	case op == 1 && spare:
		err := c.l.StopSpeaker(node)
		m.speaker = err != nil
		return "stop the speaker of " + node + " gracefully", err
	case op == 2 && spare:
		err := c.l.LinkDown(ctx, node)
		m.link = err != nil
		return "cut the cable of " + node, err
	case op == 3:
		d := time.Duration(500+c.rng.IntN(2500)) * time.Millisecond
		err := c.l.FreezeSpeaker(node)
		if err == nil {
			time.Sleep(d)
			err = c.l.ThawSpeaker(node)
		}
		return fmt.Sprintf("freeze the speaker of %s for %s", node, d), err
	case op == 4:
		d := time.Duration(500+c.rng.IntN(3500)) * time.Millisecond
		err := c.l.BlockMemberlist(ctx, node, 7946)
		if err == nil {
			time.Sleep(d)
			err = c.l.UnblockMemberlist(ctx, node)
		}
		return fmt.Sprintf("partition the memberlist of %s for %s", node, d), err
	case op == 5:
		return "restart the speaker of " + node, c.l.RestartSpeaker(ctx, node)
	default:
		return c.userStep(ctx, node)
	}
}

// userStep creates or deletes a Service, moves a Local Service's pod, or shrinks or grows
// the layer-2 pool.
func (c *chaos) userStep(ctx context.Context, node string) (string, error) {
	switch op := c.rng.IntN(4); {
	case op == 0 && len(c.services) < chaosMaxServices && !c.shrunk:
		s := c.addService(c.rng.IntN(2) == 0, c.rng.IntN(2) == 0, node)
		return fmt.Sprintf("create %s (bgp %t, local %t, pod on %s): %v", s.name, s.bgp, s.local, node, s.addrs), nil
	case op == 1 && len(c.services) > 2:
		i := c.rng.IntN(len(c.services))
		s := c.services[i]
		c.services = slices.Delete(c.services, i, i+1)
		if err := c.l.DeleteService(ctx, "e2e", s.name); err != nil {
			return "delete " + s.name, err
		}
		return "delete " + s.name, c.l.StopPod(ctx, s.pod)
	case op == 2:
		var locals []int
		for i, s := range c.services {
			if s.local && s.pod.Node.Name != node {
				locals = append(locals, i)
			}
		}
		if len(locals) == 0 {
			return "no Local Service to move", nil
		}
		s := &c.services[locals[c.rng.IntN(len(locals))]]
		return fmt.Sprintf("move the pod of %s from %s to %s", s.name, s.pod.Node.Name, node), c.movePod(ctx, s, node)
	default:
		c.shrunk = !c.shrunk
		want, what := chaosL2Addresses, "grow the layer-2 pool back"
		if c.shrunk {
			want, what = chaosL2Shrunk, "shrink the layer-2 pool below its Services' addresses"
		}
		return what, c.setL2Pool(ctx, want)
	}
}

// addService creates a Service with one pod on node, from the BGP or the layer-2 pool.
func (c *chaos) addService(bgp, local bool, node string) chaosService {
	c.t.Helper()
	name := fmt.Sprintf("chaos-%d", c.next)
	c.next++
	pool := chaosL2Pool
	if bgp {
		pool = chaosBGPPool
	}
	svc, pods := extraService(c.t, c.l, name, func(s *corev1.Service) {
		s.Annotations = map[string]string{ironlbv1.AnnotationAddressPool: pool}
		if local {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}
	}, node)
	s := chaosService{name: name, bgp: bgp, local: local, pod: pods[0], addrs: ingressAddrs(svc)}
	c.services = append(c.services, s)
	return s
}

func (c *chaos) movePod(ctx context.Context, s *chaosService, node string) error {
	p, err := c.l.MovePod(ctx, s.pod, node)
	if err != nil {
		return err
	}
	s.pod = p
	svc, err := c.l.Kube.CoreV1().Services("e2e").Get(ctx, s.name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	return c.l.SetEndpoints(ctx, svc, lab.Ready(p))
}

func (c *chaos) setL2Pool(ctx context.Context, addrs []ironlbv1.AddressRange) error {
	var p ironlbv1.IPAddressPool
	if err := c.l.Client.Get(ctx, client.ObjectKey{Name: chaosL2Pool}, &p); err != nil {
		return err
	}
	p.Spec.Addresses = addrs
	return c.l.Client.Update(ctx, &p)
}

// check waits until the network and the conditions agree with the model.
func (c *chaos) check(step string) {
	c.t.Helper()
	eventually(c.t, 30*time.Second, step+": every address answered as the model says", func() error {
		whole := c.whole()
		for _, s := range c.services {
			candidates := whole
			if s.local {
				candidates = nil
				if slices.Contains(whole, s.pod.Node.Name) {
					candidates = []string{s.pod.Node.Name}
				}
			}
			var err error
			if s.bgp {
				err = c.checkBGP(s, candidates)
			} else {
				err = c.checkL2(s, candidates)
			}
			if err != nil {
				return fmt.Errorf("%w (whole nodes %v)", err, whole)
			}
		}
		return nil
	})
}

// checkBGP: the router's next hops for each address are the candidates.
func (c *chaos) checkBGP(s chaosService, candidates []string) error {
	for _, a := range s.addrs {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		got, err := nextHopNodes(ctx, c.l, host(a))
		cancel()
		if err != nil {
			return err
		}
		if len(got)+len(candidates) > 0 && !slices.Equal(got, candidates) { // nil and empty agree
			return fmt.Errorf("%s: the router's next hops for %s are %v, want %v", s.name, a, got, candidates)
		}
	}
	return nil
}

// checkL2: each address is answered by the elected candidate alone, and L2Announced says so.
func (c *chaos) checkL2(s chaosService, candidates []string) error {
	for _, a := range s.addrs {
		want := election.Owner(a.String(), candidates)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		macs, err := c.l.WhoHas(ctx, a)
		cancel()
		if err != nil {
			return err
		}
		var got []string
		for _, mac := range macs {
			if n := c.l.NodeByMAC(mac); n != nil {
				got = append(got, n.Name)
			} else {
				got = append(got, mac)
			}
		}
		if (want == "" && len(got) != 0) || (want != "" && !slices.Equal(got, []string{want})) {
			return fmt.Errorf("%s: %s is answered by %v, want only %q", s.name, a, got, want)
		}
	}
	svc, err := c.l.Kube.CoreV1().Services("e2e").Get(context.Background(), s.name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	cond := meta.FindStatusCondition(svc.Status.Conditions, ironlbv1.ConditionL2Announced)
	wantStatus := metav1.ConditionTrue
	if len(candidates) == 0 {
		wantStatus = metav1.ConditionFalse
	}
	if cond == nil || cond.Status != wantStatus {
		return fmt.Errorf("%s: condition %+v, want status %s", s.name, cond, wantStatus)
	}
	for _, a := range s.addrs {
		if want := election.Owner(a.String(), candidates); want != "" &&
			!strings.Contains(cond.Message, "node "+want+" answers ARP/NDP for "+a.String()) {
			return fmt.Errorf("%s: condition says %q, want node %s for %s", s.name, cond.Message, want, a)
		}
	}
	return nil
}
