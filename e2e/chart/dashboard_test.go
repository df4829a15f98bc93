package chart

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestGrafanaDashboard renders the dashboard ConfigMap: off by default, labelled for the
// Grafana sidecar when on, in the namespace asked for, and holding a dashboard whose every
// panel queries ironlb's metrics. (e2e/cluster's TestDashboardMetricsExist checks the
// metric names against the running programs.)
func TestGrafanaDashboard(t *testing.T) {
	for _, cm := range find(parse(t, render(t)), "ConfigMap") {
		if strings.HasSuffix(cm.GetName(), "-dashboard") {
			t.Fatal("the dashboard is rendered by default")
		}
	}
	objs := parse(t, render(t, "metrics.grafanaDashboard.enabled=true", "metrics.grafanaDashboard.namespace=monitoring"))
	var cm *corev1.ConfigMap
	for _, u := range find(objs, "ConfigMap") {
		if strings.HasSuffix(u.GetName(), "-dashboard") {
			cm = convert[corev1.ConfigMap](t, u)
		}
	}
	if cm == nil {
		t.Fatal("no dashboard ConfigMap rendered")
	}
	if cm.Labels["grafana_dashboard"] != "1" || cm.Namespace != "monitoring" {
		t.Errorf("labels %v, namespace %q; want grafana_dashboard=1 in monitoring", cm.Labels, cm.Namespace)
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(cm.Data["ironlb.json"]), &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	graphs := 0
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		graphs++
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			if !strings.Contains(q.Expr, "ironlb_") {
				t.Errorf("panel %q queries %q, not an ironlb metric", p.Title, q.Expr)
			}
		}
	}
	if d.UID != "ironlb" || graphs < 10 {
		t.Errorf("uid %q, %d panels", d.UID, graphs)
	}
}
