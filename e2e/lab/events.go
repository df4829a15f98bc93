package lab

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FindEvent looks, in every namespace, for an event with reason about the object kind/name
// whose note contains contains. Its error lists the object's events, so a test that
// polls it fails with what was said instead.
func (l *Lab) FindEvent(ctx context.Context, kind, name, reason, contains string) error {
	events, err := l.Kube.EventsV1().Events("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	var seen []string
	for _, e := range events.Items {
		if e.Regarding.Kind != kind || e.Regarding.Name != name {
			continue
		}
		seen = append(seen, e.Reason+": "+e.Note)
		if e.Reason == reason && strings.Contains(e.Note, contains) {
			return nil
		}
	}
	return fmt.Errorf("no %s event on %s %s mentioning %q; its events: %q", reason, kind, name, contains, seen)
}
