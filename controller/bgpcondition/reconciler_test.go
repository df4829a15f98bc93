package bgpcondition

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/testenv"
)

// These tests run the reconciler against a real API server (envtest): the speakers'
// BGPPeer status writes are played by the test, and a watch on the Service counts the
// condition writes the reconciler makes.

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }

// fixture is one Service "web" in its own namespace and of its own class (so a test's
// reconciler serves only its Service) with an address of pool p, a
// BGPAdvertisement of that pool, a ready endpoint on the node, and one BGPPeer whose
// status the test writes as the node's speaker would.
type fixture struct {
	ns, node, peer string
	svc            *corev1.Service
	recorder       *events.FakeRecorder // the events the reconciler raises
}

func setup(t *testing.T, name string, octet int, interval time.Duration, opts ...func(*Reconciler)) *fixture {
	t.Helper()
	e := testenv.Require(t, env)
	ctx := context.Background()
	f := &fixture{ns: "bgpc-" + name, node: "node-" + name, peer: "peer-" + name}
	e.EnsureNamespace(t, f.ns, nil)
	objs := []client.Object{
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: f.node, Labels: map[string]string{"bgpc": name}}},
		&ironlbv1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "pool-" + name},
			Spec: ironlbv1.IPAddressPoolSpec{Addresses: []ironlbv1.AddressRange{ironlbv1.AddressRange(fmt.Sprintf("198.18.%d.0/24", octet))}}},
		&ironlbv1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "adv-" + name},
			Spec: ironlbv1.BGPAdvertisementSpec{PoolSelection: ironlbv1.PoolSelection{IPAddressPools: []string{"pool-" + name}},
				TargetSelection: ironlbv1.TargetSelection{NodeSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"bgpc": name}}}}}},
		&ironlbv1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: f.peer},
			Spec: ironlbv1.BGPPeerSpec{MyASN: 64512, PeerASN: 64500, PeerAddress: "198.18.0.1",
				NodeSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"bgpc": name}}}}},
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "web-1", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"198.18.200.1"}, NodeName: ptr.To(f.node),
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}}},
	}
	f.svc = &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "web"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, LoadBalancerClass: ptr.To("test.ironlb.io/" + name),
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}}}}
	objs = append(objs, f.svc)
	for _, o := range objs {
		if err := e.Client.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
		t.Cleanup(func() { _ = e.Client.Delete(context.Background(), o) })
	}
	// Ready, as its kubelet would say.
	setNodeReady(t, f.node, corev1.ConditionTrue)
	// The address, as the allocator would write it.
	f.svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: fmt.Sprintf("198.18.%d.1", octet)}}
	if err := e.Client.Status().Update(ctx, f.svc); err != nil {
		t.Fatal(err)
	}
	f.start(t, "test.ironlb.io/"+name, interval, opts...)
	return f
}

// setNodeReady writes the node's Ready condition.
func setNodeReady(t *testing.T, name string, status corev1.ConditionStatus) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var n corev1.Node
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, &n); err != nil {
			return err
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status, Reason: "Test", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		return env.Client.Status().Update(context.Background(), &n)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) start(t *testing.T, class string, interval time.Duration, opts ...func(*Reconciler)) {
	t.Helper()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0", Controller: config.Controller{SkipNameValidation: ptr.To(true)}})
	if err != nil {
		t.Fatal(err)
	}
	f.recorder = events.NewFakeRecorder(100)
	r := &Reconciler{Client: mgr.GetClient(), Class: class, MinInterval: interval, Recorder: f.recorder}
	for _, o := range opts {
		o(r)
	}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// report writes the node's session entry in the peer's status, as its speaker does.
func (f *fixture) report(t *testing.T, state string, prefixes int32) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var p ironlbv1.BGPPeer
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: f.peer}, &p); err != nil {
			return err
		}
		since := metav1.Now()
		p.Status.Nodes = []ironlbv1.PeerNodeStatus{{Node: f.node, State: state, PrefixesSent: prefixes, Since: &since}}
		return env.Client.Status().Update(context.Background(), &p)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) condition(t *testing.T) *metav1.Condition {
	t.Helper()
	var svc corev1.Service
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(f.svc), &svc); err != nil {
		t.Fatal(err)
	}
	return meta.FindStatusCondition(svc.Status.Conditions, ironlbv1.ConditionBGPAdvertised)
}

func (f *fixture) waitCondition(t *testing.T, timeout time.Duration, status metav1.ConditionStatus, reason string) *metav1.Condition {
	t.Helper()
	var c *metav1.Condition
	testenv.Eventually(t, timeout, 20*time.Millisecond, fmt.Sprintf("%s %s %s", ironlbv1.ConditionBGPAdvertised, status, reason), func() error {
		if c = f.condition(t); c == nil || c.Status != status || c.Reason != reason {
			return fmt.Errorf("condition is %+v", c)
		}
		return nil
	})
	return c
}

// writes counts the updates of the Service that change its BGPAdvertised condition, from
// a watch, until the returned function is called.
func (f *fixture) writes(t *testing.T) func() int {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	w, err := cs.CoreV1().Services(f.ns).Watch(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n, last := 0, f.condition(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			svc, ok := ev.Object.(*corev1.Service)
			if !ok || ev.Type != watch.Modified {
				continue
			}
			c := meta.FindStatusCondition(svc.Status.Conditions, ironlbv1.ConditionBGPAdvertised)
			mu.Lock()
			if fmt.Sprint(c) != fmt.Sprint(last) {
				n++
			}
			last = c
			mu.Unlock()
		}
	}()
	return func() int {
		w.Stop()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

// With SpeakerPods, the node's Established session counts only while a Ready speaker Pod
// runs on it, and only while the Node is Ready: the condition follows the Pod's readiness,
// its deletion and the Node's Ready condition, though the session entry stays Established
// throughout (a speaker that died without a word).
func TestUntrustedNodesAreNotCounted(t *testing.T) {
	sel := labels.SelectorFromSet(labels.Set{"app": "speaker-dead"})
	f := setup(t, "dead", 34, time.Millisecond, func(r *Reconciler) { r.SpeakerPods, r.SpeakerNamespace = sel, "bgpc-dead" })
	f.report(t, Established, 1)
	notReady := fmt.Sprintf("1 node should advertise it (%s), but none has an Established session to 1 peer (%s 198.18.0.1); see the BGPPeers' status.nodes; speaker on node %s is not ready",
		f.node, f.peer, f.node)
	c := f.waitCondition(t, 10*time.Second, metav1.ConditionFalse, ironlbv1.ReasonNoEstablishedSession)
	if c.Message != notReady {
		t.Fatalf("without a speaker Pod: message %q, want %q", c.Message, notReady)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "speaker", Labels: map[string]string{"app": "speaker-dead"}},
		Spec: corev1.PodSpec{NodeName: f.node, Containers: []corev1.Container{{Name: "speaker", Image: "speaker"}}}}
	// A Pod of the selector in another namespace is not a speaker.
	other := pod.DeepCopy()
	other.Namespace = "default"
	for _, p := range []*corev1.Pod{pod, other} {
		if err := env.Client.Create(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), p, client.GracePeriodSeconds(0)) })
	}
	setPodReady(t, other, corev1.ConditionTrue)
	time.Sleep(300 * time.Millisecond)
	if c := f.condition(t); c.Status != metav1.ConditionFalse {
		t.Fatalf("a Ready Pod in another namespace made the node count: %+v", c)
	}
	setPodReady(t, pod, corev1.ConditionTrue)
	f.waitCondition(t, 10*time.Second, metav1.ConditionTrue, ironlbv1.ReasonAdvertised)

	setPodReady(t, pod, corev1.ConditionFalse)
	if c := f.waitCondition(t, 10*time.Second, metav1.ConditionFalse, ironlbv1.ReasonNoEstablishedSession); c.Message != notReady {
		t.Errorf("speaker Pod not Ready: message %q, want %q", c.Message, notReady)
	}
	setPodReady(t, pod, corev1.ConditionTrue)
	f.waitCondition(t, 10*time.Second, metav1.ConditionTrue, ironlbv1.ReasonAdvertised)

	setNodeReady(t, f.node, corev1.ConditionUnknown)
	c = f.waitCondition(t, 10*time.Second, metav1.ConditionFalse, ironlbv1.ReasonNoEstablishedSession)
	if want := "; node " + f.node + " is not Ready"; !strings.HasSuffix(c.Message, want) {
		t.Errorf("Node not Ready: message %q, want it to end with %q", c.Message, want)
	}
	setNodeReady(t, f.node, corev1.ConditionTrue)
	f.waitCondition(t, 10*time.Second, metav1.ConditionTrue, ironlbv1.ReasonAdvertised)

	if err := env.Client.Delete(context.Background(), pod, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	if c := f.waitCondition(t, 10*time.Second, metav1.ConditionFalse, ironlbv1.ReasonNoEstablishedSession); c.Message != notReady {
		t.Errorf("speaker Pod deleted: message %q, want %q", c.Message, notReady)
	}
}

// setPodReady writes the Pod's Ready condition, as its kubelet would.
func setPodReady(t *testing.T, pod *corev1.Pod, status corev1.ConditionStatus) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var p corev1.Pod
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(pod), &p); err != nil {
			return err
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.Now()}}
		return env.Client.Status().Update(context.Background(), &p)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Once the condition is written, what the speakers rewrite all the time (prefix counts,
// timestamps) and edits that change nothing for the Service cause no write.
func TestUnchangedIsNotWritten(t *testing.T) {
	f := setup(t, "same", 31, time.Millisecond)
	f.report(t, Established, 1)
	c := f.waitCondition(t, 10*time.Second, metav1.ConditionTrue, ironlbv1.ReasonAdvertised)
	want := fmt.Sprintf("advertised by 1 node to 1 peer (%s 198.18.0.1): %s", f.peer, f.node)
	if c.Message != want {
		t.Fatalf("message %q, want %q", c.Message, want)
	}
	stop := f.writes(t)
	for i := range 10 {
		f.report(t, Established, int32(2+i)) // new counter and since on every report
		time.Sleep(50 * time.Millisecond)
	}
	var node corev1.Node
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: f.node}, &node); err != nil {
		t.Fatal(err)
	}
	node.Labels["unrelated"] = "yes"
	if err := env.Client.Update(context.Background(), &node); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if n := stop(); n != 0 {
		t.Errorf("%d condition writes while nothing changed for the Service, want 0", n)
	}
}

// A session flapping every 50 ms for 6 s costs the Service at most one write per interval
// (1 s here), and the condition ends on the last state.
func TestFlappingIsBounded(t *testing.T) {
	f := setup(t, "flap", 32, time.Second)
	f.report(t, Established, 1)
	f.waitCondition(t, 10*time.Second, metav1.ConditionTrue, ironlbv1.ReasonAdvertised)
	count := f.writes(t)
	start := time.Now()
	for i := 0; time.Since(start) < 6*time.Second; i++ {
		state := Established
		if i%2 == 0 {
			state = "Active"
		}
		f.report(t, state, 1)
		time.Sleep(50 * time.Millisecond)
	}
	f.report(t, "Active", 0)
	f.waitCondition(t, 3*time.Second, metav1.ConditionFalse, ironlbv1.ReasonNoEstablishedSession)
	elapsed := time.Since(start)
	n := count()
	limit := int(elapsed/time.Second) + 1
	t.Logf("%d condition writes in %v of flapping at 20 changes a second (limit %d)", n, elapsed.Round(time.Millisecond), limit)
	if n > limit || n < 2 {
		t.Errorf("%d condition writes in %v, want between 2 and %d (one per second)", n, elapsed, limit)
	}
}

// The BGPAttributes condition follows the annotations: Applied when they are valid,
// InvalidBGPAttributes with one Warning event when one is not, gone when they go; the
// BGPAdvertised condition beside it is kept throughout.
func TestAttributesCondition(t *testing.T) {
	f := setup(t, "attrs", 33, time.Millisecond)
	f.report(t, Established, 1)
	f.waitCondition(t, 10*time.Second, metav1.ConditionTrue, ironlbv1.ReasonAdvertised)
	annotate := func(kv map[string]*string) {
		t.Helper()
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var svc corev1.Service
			if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(f.svc), &svc); err != nil {
				return err
			}
			if svc.Annotations == nil {
				svc.Annotations = map[string]string{}
			}
			for k, v := range kv {
				if v == nil {
					delete(svc.Annotations, k)
				} else {
					svc.Annotations[k] = *v
				}
			}
			return env.Client.Update(context.Background(), &svc)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	attrs := func() (*metav1.Condition, *metav1.Condition) {
		var svc corev1.Service
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(f.svc), &svc); err != nil {
			t.Fatal(err)
		}
		return meta.FindStatusCondition(svc.Status.Conditions, ironlbv1.ConditionBGPAttributes),
			meta.FindStatusCondition(svc.Status.Conditions, ironlbv1.ConditionBGPAdvertised)
	}
	wait := func(what string, ok func(c *metav1.Condition) bool) *metav1.Condition {
		t.Helper()
		var c *metav1.Condition
		testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, what, func() error {
			var adv *metav1.Condition
			if c, adv = attrs(); !ok(c) {
				return fmt.Errorf("BGPAttributes is %+v", c)
			}
			if adv == nil || adv.Reason != ironlbv1.ReasonAdvertised {
				return fmt.Errorf("BGPAdvertised is %+v, want it kept", adv)
			}
			return nil
		})
		return c
	}

	annotate(map[string]*string{ironlbv1.AnnotationBGPCommunities: ptr.To("65000:100,no-export"), ironlbv1.AnnotationBGPLocalPref: ptr.To("400")})
	c := wait("Applied", func(c *metav1.Condition) bool { return c != nil && c.Reason == ironlbv1.ReasonApplied })
	if c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "localPref 400") {
		t.Errorf("Applied condition %+v", c)
	}
	if len(f.recorder.Events) != 0 {
		t.Errorf("an event for valid annotations: %s", <-f.recorder.Events)
	}

	annotate(map[string]*string{ironlbv1.AnnotationBGPCommunities: ptr.To("65000:100,bogus")})
	c = wait("InvalidBGPAttributes", func(c *metav1.Condition) bool {
		return c != nil && c.Reason == ironlbv1.ReasonInvalidBGPAttributes
	})
	if c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, ironlbv1.AnnotationBGPCommunities) || !strings.Contains(c.Message, `"bogus"`) {
		t.Errorf("invalid condition %+v, want it to name the annotation and the bad value", c)
	}
	select {
	case ev := <-f.recorder.Events:
		if !strings.Contains(ev, "Warning "+ironlbv1.ReasonInvalidBGPAttributes) || !strings.Contains(ev, `"bogus"`) {
			t.Errorf("event %q, want a Warning %s naming the bad value", ev, ironlbv1.ReasonInvalidBGPAttributes)
		}
	case <-time.After(5 * time.Second):
		t.Error("no event for the invalid annotation")
	}
	// Unrelated edits of the invalid Service raise no second event.
	annotate(map[string]*string{"example.com/unrelated": ptr.To("1")})
	time.Sleep(500 * time.Millisecond)
	if n := len(f.recorder.Events); n != 0 {
		t.Errorf("%d more events while the annotation stayed the same, want 0", n)
	}

	annotate(map[string]*string{ironlbv1.AnnotationBGPCommunities: nil, ironlbv1.AnnotationBGPLocalPref: nil})
	wait("BGPAttributes removed", func(c *metav1.Condition) bool { return c == nil })
}
