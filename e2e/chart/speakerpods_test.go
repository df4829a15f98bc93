package chart

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// The controller's --speaker-pod-selector selects the speaker DaemonSet's Pods, and only
// them, in the release namespace (a selector that drifted from the DaemonSet's labels would
// make every node's sessions untrusted); with controller.bgpConditionChecksSpeakerPods
// false the flags are gone.
func TestControllerSelectsTheSpeakerPods(t *testing.T) {
	for _, tg := range []toggle{{"defaults", nil}, {"names", []string{"fullnameOverride=lb"}}} {
		t.Run(tg.name, func(t *testing.T) {
			objs := parse(t, render(t, tg.set...))
			controller := one[appsv1.Deployment](t, objs, "Deployment")
			speaker := one[appsv1.DaemonSet](t, objs, "DaemonSet")
			args := flagValues(controller.Spec.Template.Spec.Containers[0].Args)
			sel, err := labels.Parse(args["--speaker-pod-selector"])
			if err != nil || sel.Empty() {
				t.Fatalf("--speaker-pod-selector %q: %v", args["--speaker-pod-selector"], err)
			}
			if !sel.Matches(labels.Set(speaker.Spec.Template.Labels)) {
				t.Errorf("--speaker-pod-selector %q does not select the speaker Pods (labels %v)", sel, speaker.Spec.Template.Labels)
			}
			if sel.Matches(labels.Set(controller.Spec.Template.Labels)) {
				t.Errorf("--speaker-pod-selector %q selects the controller Pods too", sel)
			}
			if ns := args["--speaker-pod-namespace"]; ns != Namespace {
				t.Errorf("--speaker-pod-namespace %q, want the release namespace %q", ns, Namespace)
			}
		})
	}
	objs := parse(t, render(t, "controller.bgpConditionChecksSpeakerPods=false"))
	args := flagValues(one[appsv1.Deployment](t, objs, "Deployment").Spec.Template.Spec.Containers[0].Args)
	if _, ok := args["--speaker-pod-selector"]; ok {
		t.Errorf("controller.bgpConditionChecksSpeakerPods=false still renders --speaker-pod-selector")
	}
}

// flagValues maps each --name=value argument to its value.
func flagValues(args []string) map[string]string {
	out := map[string]string{}
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			out[k] = v
		}
	}
	return out
}
