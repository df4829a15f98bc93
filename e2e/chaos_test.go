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

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
	local bool
	pod   string // node name
	addrs []netip.Addr
}

// TestLayer2Chaos applies random faults (kills, graceful stops, link cuts, freezes and
// memberlist partitions that heal, restarts) to the speakers of a three-node lab and,
// after each step, checks against a model what a client on the segment sees: every
// address is answered by exactly one MAC, that of the node the election picks among the
// nodes whose speaker runs with its link up (with externalTrafficPolicy: Local, among
// those with the pod), and the L2Announced condition names that node. At least one node
// stays whole. IRONLB_CHAOS_SEED replays a run; IRONLB_CHAOS_OPS sets its length (make
// test: 8, make bench: more).
func TestLayer2Chaos(t *testing.T) {
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
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	l := l2Lab(t)
	model := map[string]*chaosNode{}
	for _, n := range l.Nodes {
		model[n.Name] = &chaosNode{speaker: true, link: true}
	}
	var services []chaosService
	for i, local := range []bool{false, false, true, true} {
		n := l.Nodes[i%len(l.Nodes)].Name
		svc, _ := l2Service(t, l, fmt.Sprintf("chaos-%d", i), local, n)
		services = append(services, chaosService{name: svc.Name, local: local, pod: n, addrs: ingressAddrs(svc)})
	}
	check := func(step string) {
		t.Helper()
		eventually(t, 20*time.Second, step+": every address answered by the elected node alone", func() error {
			return chaosCheck(l, model, services)
		})
	}
	check("start")
	ctx := context.Background()
	for i := range ops {
		node := l.Nodes[rng.IntN(len(l.Nodes))].Name
		m := model[node]
		whole := 0
		for _, s := range model {
			if s.speaker && s.link {
				whole++
			}
		}
		var step string
		var err error
		switch op := rng.IntN(6); {
		case !m.speaker:
			step, err = "start the speaker of "+node, l.StartSpeaker(ctx, node)
			m.speaker = err == nil
		case !m.link:
			step, err = "plug the cable of "+node+" back", l.LinkUp(ctx, node)
			m.link = err == nil
		case op == 0 && whole > 1:
			step, err = "kill the speaker of "+node, l.KillSpeaker(node)
			m.speaker = err != nil
		case op == 1 && whole > 1:
			step, err = "stop the speaker of "+node+" gracefully", l.StopSpeaker(node)
			m.speaker = err != nil
		case op == 2 && whole > 1:
			step, err = "cut the cable of "+node, l.LinkDown(ctx, node)
			m.link = err != nil
		case op == 3:
			d := time.Duration(500+rng.IntN(2500)) * time.Millisecond
			step = fmt.Sprintf("freeze the speaker of %s for %s", node, d)
			if err = l.FreezeSpeaker(node); err == nil {
				time.Sleep(d)
				err = l.ThawSpeaker(node)
			}
		case op == 4:
			d := time.Duration(500+rng.IntN(3500)) * time.Millisecond
			step = fmt.Sprintf("partition the memberlist of %s for %s", node, d)
			if err = l.BlockMemberlist(ctx, node, 7946); err == nil {
				time.Sleep(d)
				err = l.UnblockMemberlist(ctx, node)
			}
		default:
			step, err = "restart the speaker of "+node, l.RestartSpeaker(ctx, node)
		}
		if err != nil {
			t.Fatalf("step %d (%s): %v", i, step, err)
		}
		t.Logf("step %d: %s", i, step)
		check(fmt.Sprintf("after step %d (%s)", i, step))
	}
}

// chaosCheck compares what the L2 client sees, and the conditions, with the model.
func chaosCheck(l *lab.Lab, model map[string]*chaosNode, services []chaosService) error {
	var whole []string
	for name, n := range model {
		if n.speaker && n.link {
			whole = append(whole, name)
		}
	}
	slices.Sort(whole)
	for _, s := range services {
		candidates := whole
		if s.local {
			candidates = nil
			if slices.Contains(whole, s.pod) {
				candidates = []string{s.pod}
			}
		}
		for _, a := range s.addrs {
			want := election.Owner(a.String(), candidates)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			macs, err := l.WhoHas(ctx, a)
			cancel()
			if err != nil {
				return err
			}
			var got []string
			for _, mac := range macs {
				if n := l.NodeByMAC(mac); n != nil {
					got = append(got, n.Name)
				} else {
					got = append(got, mac)
				}
			}
			if (want == "" && len(got) != 0) || (want != "" && !slices.Equal(got, []string{want})) {
				return fmt.Errorf("%s: %s is answered by %v, want only %q (whole nodes %v)", s.name, a, got, want, whole)
			}
		}
		svc, err := l.Kube.CoreV1().Services("e2e").Get(context.Background(), s.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		c := meta.FindStatusCondition(svc.Status.Conditions, ironlbv1.ConditionL2Announced)
		wantStatus := metav1.ConditionTrue
		if len(candidates) == 0 {
			wantStatus = metav1.ConditionFalse
		}
		if c == nil || c.Status != wantStatus {
			return fmt.Errorf("%s: condition %+v, want status %s", s.name, c, wantStatus)
		}
		for _, a := range s.addrs {
			if want := election.Owner(a.String(), candidates); want != "" &&
				!strings.Contains(c.Message, "node "+want+" answers ARP/NDP for "+a.String()) {
				return fmt.Errorf("%s: condition says %q, want node %s for %s", s.name, c.Message, want, a)
			}
		}
	}
	return nil
}
