package chart

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/status"
	"github.com/ironlb/ironlb/internal/testenv"
)

// policyRule is the prefix of every message of the chart's speaker status policy.
const policyRule = "ironlb speaker-status-policy"

// TestSpeakerStatusPolicy applies the rendered chart to a real API server and acts as the
// speaker's ServiceAccount (impersonation, so the chart's own RBAC and admission policy
// decide): the speaker's real writes (strategic merge patches that set, change and remove
// ironlb.io/L2Announced) pass; a write of status.loadBalancer.ingress or of another
// condition is refused with a message that names the rule; the controller is not matched.
func TestSpeakerStatusPolicy(t *testing.T) {
	env := startAPIServer(t, true)
	kubectl(t, env, "", "create", "namespace", Namespace)
	kubectl(t, env, render(t), "apply", "-f", "-")
	ctx := context.Background()
	admin := env.Client

	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
			Ports: []corev1.ServicePort{{Port: 80}}},
	}
	if err := admin.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	// The controller's write: an address and its condition.
	ctrlWriter := status.Writer{Client: admin, Strategy: status.StrategicMergePatch}
	if _, err := ctrlWriter.Write(ctx, svc, func() {
		svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "198.18.0.10"}}
		status.SetCondition(&svc.Status.Conditions, metav1.Condition{Type: ironlbv1.ConditionIPAllocated,
			Status: metav1.ConditionTrue, Reason: "Allocated", Message: "198.18.0.10"})
	}); err != nil {
		t.Fatalf("the controller's status write: %v", err)
	}

	speaker := speakerClient(t, env)
	w := status.Writer{Client: speaker, Strategy: status.StrategicMergePatch}
	write := func(mutate func(*corev1.Service)) error {
		t.Helper()
		var cur corev1.Service
		if err := admin.Get(ctx, client.ObjectKeyFromObject(svc), &cur); err != nil {
			t.Fatal(err)
		}
		_, err := w.Write(ctx, &cur, func() { mutate(&cur) })
		return err
	}
	announced := func(s metav1.ConditionStatus, reason string) func(*corev1.Service) {
		return func(s2 *corev1.Service) {
			status.SetCondition(&s2.Status.Conditions, metav1.Condition{Type: ironlbv1.ConditionL2Announced,
				Status: s, Reason: reason, Message: "node-a announces 198.18.0.10"})
		}
	}

	// The policy is loaded asynchronously after it is created: wait until it refuses.
	stealIngress := func(s *corev1.Service) {
		s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "198.18.0.66"}}
	}
	deadline := time.Now().Add(30 * time.Second)
	var err error
	for err = write(stealIngress); err == nil && time.Now().Before(deadline); err = write(stealIngress) {
		// Until the policy is active the write goes through; put the address back.
		restore(t, admin, svc, "198.18.0.10")
		time.Sleep(200 * time.Millisecond)
	}
	if err == nil || !strings.Contains(err.Error(), policyRule) || !strings.Contains(err.Error(), "loadBalancer.ingress") {
		t.Fatalf("the speaker wrote status.loadBalancer.ingress: err %v", err)
	}

	// The API server type-checks the expressions against the Service schema.
	if w := kubectl(t, env, "", "get", "validatingadmissionpolicy", Release+"-speaker-status",
		"-o", "jsonpath={.status.typeChecking.expressionWarnings}"); w != "" {
		t.Errorf("the policy's expressions have type warnings: %s", w)
	}

	refused := map[string]func(*corev1.Service){
		"remove the ingress": func(s *corev1.Service) { s.Status.LoadBalancer.Ingress = nil },
		"add an ingress": func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: "198.18.0.11"})
		},
		"change the controller's condition": func(s *corev1.Service) {
			meta.FindStatusCondition(s.Status.Conditions, ironlbv1.ConditionIPAllocated).Message = "forged"
		},
		"remove the controller's condition": func(s *corev1.Service) {
			meta.RemoveStatusCondition(&s.Status.Conditions, ironlbv1.ConditionIPAllocated)
		},
		// The controller alone writes it: a speaker could otherwise hide a bad annotation.
		"set the controller's BGPAttributes condition": func(s *corev1.Service) {
			status.SetCondition(&s.Status.Conditions, metav1.Condition{Type: ironlbv1.ConditionBGPAttributes,
				Status: metav1.ConditionTrue, Reason: ironlbv1.ReasonApplied, Message: "forged"})
		},
		"add another condition": func(s *corev1.Service) {
			status.SetCondition(&s.Status.Conditions, metav1.Condition{Type: "example.com/Other", Status: metav1.ConditionTrue, Reason: "Forged"})
		},
	}
	for name, mutate := range refused {
		if err := write(mutate); err == nil || !strings.Contains(err.Error(), policyRule) {
			t.Errorf("%s: the speaker's write was not refused by the policy: %v", name, err)
		}
	}

	// What the real speaker does: set, change and remove its own condition.
	for _, step := range []struct {
		name   string
		mutate func(*corev1.Service)
	}{
		{"set L2Announced", announced(metav1.ConditionTrue, ironlbv1.ReasonAnnouncing)},
		{"change L2Announced", announced(metav1.ConditionFalse, ironlbv1.ReasonNotAdvertised)},
		{"remove L2Announced", func(s *corev1.Service) {
			meta.RemoveStatusCondition(&s.Status.Conditions, ironlbv1.ConditionL2Announced)
		}},
	} {
		if err := write(step.mutate); err != nil {
			t.Errorf("%s: the speaker's own write was refused: %v", step.name, err)
		}
	}
	got := reread(t, admin, svc)
	if len(got.Status.LoadBalancer.Ingress) != 1 || got.Status.LoadBalancer.Ingress[0].IP != "198.18.0.10" ||
		meta.FindStatusCondition(got.Status.Conditions, ironlbv1.ConditionIPAllocated) == nil ||
		meta.FindStatusCondition(got.Status.Conditions, ironlbv1.ConditionL2Announced) != nil {
		t.Errorf("status after the speaker's writes: %+v", got.Status)
	}

	// Anyone else (here the admin, as the controller would) is not matched.
	restore(t, admin, svc, "198.18.0.12")
}

// speakerClient acts as the chart's speaker ServiceAccount.
func speakerClient(t *testing.T, env *testenv.Env) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + Namespace + ":" + Release + "-speaker",
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + Namespace, "system:authenticated"},
	}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func reread(t *testing.T, c client.Client, svc *corev1.Service) *corev1.Service {
	t.Helper()
	var cur corev1.Service
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(svc), &cur); err != nil {
		t.Fatal(err)
	}
	return &cur
}

// restore writes the address back as the admin, which the policy does not match.
func restore(t *testing.T, c client.Client, svc *corev1.Service, ip string) {
	t.Helper()
	cur := reread(t, c, svc)
	w := status.Writer{Client: c, Strategy: status.StrategicMergePatch}
	if _, err := w.Write(context.Background(), cur, func() {
		cur.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip}}
	}); err != nil {
		t.Fatalf("a status write by another user was refused: %v", err)
	}
}
