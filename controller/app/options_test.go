package app

import (
	"strings"
	"testing"
)

// --speaker-pod-selector is parsed by Validate: a malformed selector, or one that selects
// every Pod, is refused with the flag's name; unset and well-formed ones pass.
func TestValidateSpeakerPodSelector(t *testing.T) {
	base := Options{QPS: 1, Burst: 1, EventsQPS: 1, EventsBurst: 1, Workers: 1, LogLevel: "info"}
	for _, c := range []struct {
		selector string
		want     string // part of the error; "" for none
	}{
		{"", ""},
		{"app.kubernetes.io/name=ironlb,app.kubernetes.io/component=speaker", ""},
		{"app in (speaker", "--speaker-pod-selector"},
		{"=speaker", "--speaker-pod-selector"},
	} {
		o := base
		o.SpeakerPodSelector = c.selector
		err := o.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.selector, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: error %v, want one naming %s", c.selector, err, c.want)
		}
	}
	o := base
	o.SpeakerPodSelector = "app=speaker"
	if sel, err := o.speakerPods(); err != nil || sel == nil || sel.String() != "app=speaker" {
		t.Errorf("speakerPods() = %v, %v; want app=speaker", sel, err)
	}
}
