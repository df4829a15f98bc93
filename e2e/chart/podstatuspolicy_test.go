package chart

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/testenv"
)

// podNameExtra is the user extra in which a token bound to a Pod names it.
const podNameExtra = "authentication.kubernetes.io/pod-name"

// TestSpeakerPodStatusPolicy applies the rendered chart to a real API server and acts as
// the speaker's ServiceAccount with a token bound to one speaker Pod (impersonation with
// the user extra the kubelet's projected token carries): the speaker's own write, a
// strategic merge patch of the ironlb.io/Gossip condition on its Pod, passes; the same
// write on another Pod, with a token bound to no Pod, or one that touches the kubelet's
// conditions, the Pod's IPs or phase, or its labels, is refused by the chart's policy.
func TestSpeakerPodStatusPolicy(t *testing.T) {
	env := startAPIServer(t, true)
	kubectl(t, env, "", "create", "namespace", Namespace)
	kubectl(t, env, render(t), "apply", "-f", "-")
	ctx := context.Background()
	admin := env.Client
	for _, name := range []string{"speaker-a", "speaker-b"} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: name, Labels: map[string]string{"app": "speaker"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "speaker", Image: "speaker"}}}}
		if err := admin.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
		// What the kubelet would have written.
		pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "198.18.0.11", PodIPs: []corev1.PodIP{{IP: "198.18.0.11"}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		if err := admin.Status().Update(ctx, pod); err != nil {
			t.Fatal(err)
		}
	}
	boundTo := speakerTokenFor(t, env, "speaker-a")
	unbound := speakerTokenFor(t, env, "")
	gossip := func(status corev1.ConditionStatus, msg string) map[string]any {
		return map[string]any{"status": map[string]any{"conditions": []corev1.PodCondition{{Type: ironlbv1.ConditionGossip,
			Status: status, Reason: ironlbv1.ReasonAllJoined, Message: msg, LastTransitionTime: metav1.Now()}}}}
	}
	patch := func(c client.Client, pod string, body map[string]any) error {
		t.Helper()
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: pod}}
		return c.Status().Patch(ctx, p, client.RawPatch(types.StrategicMergePatchType, data), client.FieldOwner("ironlb-speaker-node-a"))
	}

	// The policy is loaded asynchronously after it is created: wait until it refuses.
	deadline := time.Now().Add(30 * time.Second)
	var err error
	for err = patch(boundTo, "speaker-b", gossip(corev1.ConditionTrue, "forged")); err == nil && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		err = patch(boundTo, "speaker-b", gossip(corev1.ConditionTrue, "forged"))
	}
	if err == nil || !strings.Contains(err.Error(), policyRule) || !strings.Contains(err.Error(), "its own Pod") {
		t.Fatalf("a speaker bound to speaker-a wrote speaker-b's status: err %v", err)
	}
	if w := kubectl(t, env, "", "get", "validatingadmissionpolicy", Release+"-speaker-pod-status",
		"-o", "jsonpath={.status.typeChecking.expressionWarnings}"); w != "" {
		t.Errorf("the policy's expressions have type warnings: %s", w)
	}

	// What the real speaker does: set and change its own condition.
	for _, msg := range []string{"2 of 2 speakers: node-a, node-b", "1 of 2 speakers: node-a; missing: node-b"} {
		if err := patch(boundTo, "speaker-a", gossip(corev1.ConditionTrue, msg)); err != nil {
			t.Errorf("the speaker's own Gossip condition (%q) was refused: %v", msg, err)
		}
	}

	refused := map[string]struct {
		c    client.Client
		body map[string]any
	}{
		"a token bound to no Pod": {unbound, gossip(corev1.ConditionTrue, "forged")},
		"the kubelet's Ready condition": {boundTo, map[string]any{"status": map[string]any{"conditions": []map[string]any{
			{"type": "Ready", "status": "False"}}}}},
		"another condition": {boundTo, map[string]any{"status": map[string]any{"conditions": []map[string]any{
			{"type": "example.com/Other", "status": "True"}}}}},
		"the Pod IP": {boundTo, map[string]any{"status": map[string]any{"podIP": "198.18.0.66", "podIPs": []map[string]any{
			{"ip": "198.18.0.66"}, {"ip": "198.18.0.11", "$patch": "delete"}}}}},
		"the phase":     {boundTo, map[string]any{"status": map[string]any{"phase": "Failed"}}},
		"a label":       {boundTo, map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "other"}}}},
		"an annotation": {boundTo, map[string]any{"metadata": map[string]any{"annotations": map[string]any{"x": "y"}}}},
		"the container statuses": {boundTo, map[string]any{"status": map[string]any{"containerStatuses": []map[string]any{
			{"name": "speaker", "ready": true, "restartCount": 0, "image": "speaker", "imageID": "", "state": map[string]any{}}}}}},
	}
	for name, r := range refused {
		if err := patch(r.c, "speaker-a", r.body); err == nil || !strings.Contains(err.Error(), policyRule) {
			t.Errorf("%s: the speaker's write was not refused by the policy: %v", name, err)
		}
	}

	var got corev1.Pod
	if err := admin.Get(ctx, types.NamespacedName{Namespace: Namespace, Name: "speaker-a"}, &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.PodIP != "198.18.0.11" || got.Status.Phase != corev1.PodRunning || got.Labels["app"] != "speaker" ||
		len(got.Status.Conditions) != 2 || got.Status.Conditions[0].Status != corev1.ConditionTrue {
		t.Errorf("speaker-a after the speaker's writes: labels %v, status %+v", got.Labels, got.Status)
	}
	// Anyone else (here the admin, as the kubelet would) is not matched.
	if err := patch(admin, "speaker-b", map[string]any{"status": map[string]any{"phase": "Succeeded"}}); err != nil {
		t.Errorf("another user's Pod status write was refused: %v", err)
	}
}

// speakerTokenFor acts as the chart's speaker ServiceAccount with a token bound to pod
// ("": a token bound to no Pod).
func speakerTokenFor(t *testing.T, env *testenv.Env, pod string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + Namespace + ":" + Release + "-speaker",
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + Namespace, "system:authenticated"},
	}
	if pod != "" {
		cfg.Impersonate.Extra = map[string][]string{podNameExtra: {pod}}
	}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
