package cluster

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
	"github.com/ironlb/ironlb/e2e/lab/host"
	"github.com/ironlb/ironlb/internal/testenv"
)

// controllerSelector selects the chart's controller pods.
const controllerSelector = "app.kubernetes.io/component=controller"

// TestDrainControllerLeader: `kubectl drain` of the node that runs the controller leader
// (the holder of the leader-election Lease) completes through the chart's
// PodDisruptionBudget, never leaving fewer than one ready controller; a controller on
// another node (the standby, or the replacement if it tries first) takes the Lease, and a
// Service created afterwards gets an address. The takeover time (drain
// start to new Lease holder) is reported, not asserted.
func TestDrainControllerLeader(t *testing.T) {
	l := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	applyDemo(ctx, t, l, "drain")
	pdb, err := l.Kube.PolicyV1().PodDisruptionBudgets(lab.ControllerNamespace).Get(ctx, "ironlb-controller", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the chart's PodDisruptionBudget: %v", err)
	}
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Fatalf("PodDisruptionBudget minAvailable %v, want 1", pdb.Spec.MinAvailable)
	}
	if _, err := l.WaitDeploymentAvailable(ctx, lab.ControllerNamespace, "ironlb-controller", time.Minute); err != nil {
		t.Fatal(err)
	}
	var leader, node string
	eventually(t, 30*time.Second, "a controller pod holding the Lease", func() error {
		var err error
		leader, node, err = leaseHolder(ctx, l)
		return err
	})
	pods, err := l.PodsOf(ctx, lab.ControllerNamespace, controllerSelector)
	if err != nil {
		t.Fatal(err)
	}
	var standby corev1.Pod
	for _, p := range pods {
		if p.Name != leader {
			standby = p
		}
	}
	if len(pods) != 2 || standby.Name == "" {
		t.Fatalf("%d controller pods, want the leader %s and a standby", len(pods), leader)
	}
	t.Logf("leader %s on %s, standby %s on %s", leader, node, standby.Name, standby.Spec.NodeName)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_, _ = l.Kubectl(ctx, "uncordon", node)
		if _, err := l.WaitDeploymentAvailable(ctx, lab.ControllerNamespace, "ironlb-controller", time.Minute); err != nil {
			t.Errorf("after the drain: %v", err)
		}
	})

	watch := watchTakeover(ctx, l, leader)
	start := time.Now()
	out, err := host.RunLong(ctx, 3*time.Minute, l.KubectlPath(), "--kubeconfig", l.Kubeconfig(),
		"drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=150s")
	drained := time.Since(start)
	w := watch.stop()
	if err != nil {
		t.Fatalf("kubectl drain %s: %v\n%s", node, err, out)
	}
	t.Logf("kubectl drain %s took %s", node, drained.Round(time.Millisecond))
	if w.minReady < 1 {
		t.Errorf("%d ready controller pods at some point of the drain: the PodDisruptionBudget was not respected", w.minReady)
	}
	if w.newHolder == "" {
		// The drain can end (the old leader gone) before the standby's next try.
		eventually(t, 30*time.Second, "another controller to take the Lease from "+leader, func() error {
			pod, node, err := leaseHolder(ctx, l)
			if err != nil {
				return err
			}
			if pod == leader {
				return fmt.Errorf("still held by %s", pod)
			}
			w.newHolder, w.newNode, w.at = pod, node, time.Now()
			return nil
		})
	}
	takeover := w.at.Sub(start)
	// The old leader releases the Lease as it stops, so the first controller to try
	// takes it: usually the standby, sometimes the replacement pod the ReplicaSet started
	// at once on another node. Either is a takeover; one on the drained node is not.
	who := "the replacement pod"
	if w.newHolder == standby.Name {
		who = "the standby"
	}
	t.Logf("%s %s (on %s) took the Lease %s after the drain began", who, w.newHolder, w.newNode, takeover.Round(time.Millisecond))
	if w.newNode == node {
		t.Errorf("the Lease went to %s on the drained node %s", w.newHolder, node)
	}

	svc := lab.NewLoadBalancerService("drain", "after")
	if _, err := l.CreateService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	addrs := ingressAddrs(ctx, t, l, "drain", "after")
	t.Logf("a Service created after the takeover got %v", addrs)
	if testenv.BenchEnabled() {
		t.Logf("wrote %s", testenv.WriteResult(t, "cluster-drain-leader.json", map[string]float64{
			"drainSeconds": drained.Seconds(), "takeoverSeconds": takeover.Seconds(),
		}))
	}
}

// leaseHolder returns the controller pod that holds the leader-election Lease and its
// node. controller-runtime's holder identity is the pod's host name (its name), "_", and
// a random suffix.
func leaseHolder(ctx context.Context, l *lab.Lab) (pod, node string, err error) {
	lease, err := l.Kube.CoordinationV1().Leases(lab.ControllerNamespace).Get(ctx, ironlbv1.ControllerName, metav1.GetOptions{})
	if err != nil {
		return "", "", err
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		return "", "", fmt.Errorf("Lease %s has no holder", lease.Name)
	}
	pod, _, _ = strings.Cut(*lease.Spec.HolderIdentity, "_")
	p, err := l.Kube.CoreV1().Pods(lab.ControllerNamespace).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return "", "", fmt.Errorf("Lease holder %q: %w", *lease.Spec.HolderIdentity, err)
	}
	return pod, p.Spec.NodeName, nil
}

// takeover is what watchTakeover saw.
type takeover struct {
	newHolder, newNode string
	at                 time.Time
	minReady           int
	err                error
}

type takeoverWatch struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	result takeover
}

// watchTakeover polls, every 50 ms until stopped, the Lease holder (until it is another
// pod than old) and how many controller pods are ready.
func watchTakeover(ctx context.Context, l *lab.Lab, old string) *takeoverWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &takeoverWatch{cancel: cancel, result: takeover{minReady: 1 << 30}}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for ctx.Err() == nil {
			if w.result.newHolder == "" {
				if pod, node, err := leaseHolder(ctx, l); err != nil {
					w.result.err = err
				} else if pod != old {
					w.result.newHolder, w.result.newNode, w.result.at = pod, node, time.Now()
				}
			}
			if pods, err := l.Kube.CoreV1().Pods(lab.ControllerNamespace).List(ctx, metav1.ListOptions{LabelSelector: controllerSelector}); err == nil {
				w.result.minReady = min(w.result.minReady, readyPods(pods.Items))
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *takeoverWatch) stop() takeover {
	w.cancel()
	w.wg.Wait()
	return w.result
}

func readyPods(pods []corev1.Pod) int {
	n := 0
	for _, p := range pods {
		if p.DeletionTimestamp == nil && podReady(&p) {
			n++
		}
	}
	return n
}
