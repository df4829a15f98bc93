package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/ironlb/ironlb/e2e/lab"
	"github.com/ironlb/ironlb/internal/repo"
)

// metricName finds the ironlb metric names a dashboard query or an alert expression uses.
var metricName = regexp.MustCompile(`\bironlb_[a-z0-9_]+`)

// usedMetrics reads the metric names of the chart's Grafana dashboard and PrometheusRule.
func usedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	used := map[string][]string{}
	for _, f := range []string{"charts/ironlb/dashboards/ironlb.json", "charts/ironlb/templates/prometheusrule.yaml"} {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range metricName.FindAllString(string(data), -1) {
			used[name] = append(used[name], f)
		}
	}
	if len(used) < 10 {
		t.Fatalf("found only %v", used)
	}
	return used
}

// scrapeNames returns the metric names that the speakers (scraped from the L2 client on the
// nodes' segment) and the controllers (scraped from the node each runs on) export.
func scrapeNames(ctx context.Context, l *lab.Lab) (map[string]bool, error) {
	names := map[string]bool{}
	var bodies []string
	for _, n := range l.Nodes {
		body, err := l.ScrapeMetrics(ctx, l.L2Client.Netns, net.JoinHostPort(n.IPv4.String(), fmt.Sprint(lab.SpeakerMetricsPort)))
		if err != nil {
			return nil, fmt.Errorf("speaker on %s: %w", n.Name, err)
		}
		bodies = append(bodies, body)
	}
	pods, err := l.PodsOf(ctx, lab.ControllerNamespace, "app.kubernetes.io/component=controller")
	if err != nil {
		return nil, err
	}
	for _, p := range pods {
		for _, n := range l.Nodes {
			if n.Name != p.Spec.NodeName || p.Status.PodIP == "" {
				continue
			}
			body, err := l.ScrapeMetrics(ctx, n.Netns, net.JoinHostPort(p.Status.PodIP, "7472"))
			if err != nil {
				return nil, fmt.Errorf("controller %s: %w", p.Name, err)
			}
			bodies = append(bodies, body)
		}
	}
	for _, body := range bodies {
		for _, line := range strings.Split(body, "\n") {
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if i := strings.IndexAny(line, "{ "); i > 0 {
				names[line[:i]] = true
			}
		}
	}
	return names, nil
}

// TestDashboardMetricsExist runs ironlb in the lab with something to count for every
// metric (addresses allocated and released, an allocation failure, ARP traffic, BGP
// sessions with BFD), scrapes the running controllers and speakers, and fails if the
// Grafana dashboard or the PrometheusRule uses a metric name that none of them exports.
func TestDashboardMetricsExist(t *testing.T) {
	l := cluster(t)
	used := usedMetrics(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	applyDemo(ctx, t, l, "metrics", "bgp")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = l.Kubectl(ctx, "delete", "bfdprofile", "metrics-bfd")
	})
	bfd := "apiVersion: ironlb.io/v1beta1\nkind: BFDProfile\nmetadata:\n  name: metrics-bfd\n"
	bfdFile := filepath.Join(t.TempDir(), "bfd.yaml")
	if err := os.WriteFile(bfdFile, []byte(bfd), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectl(ctx, t, l, "apply", "-f", bfdFile)
	kubectl(ctx, t, l, "patch", "bgppeer", "lab-router", "--type=merge", "-p", `{"spec":{"bfdProfile":"metrics-bfd"}}`)
	var l2IP string
	for _, ns := range []string{"metrics", "bgp"} {
		if _, err := l.CreateDeployment(ctx, lab.NewPodserverDeployment(ns, "web", 1)); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"web", "gone"} {
			spec := lab.NewLoadBalancerService(ns, name)
			spec.Spec.Selector = map[string]string{"app": "web"}
			spec.Spec.Ports[0].TargetPort = intstr.FromInt32(lab.PodPort)
			if _, err := l.CreateService(ctx, spec); err != nil {
				t.Fatal(err)
			}
			svc, err := l.WaitForIngress(ctx, ns, name, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if ns == "metrics" && name == "web" {
				l2IP = svc.Status.LoadBalancer.Ingress[0].IP
			}
		}
		kubectl(ctx, t, l, "-n", ns, "delete", "service", "gone") // a release
	}
	pending := lab.NewLoadBalancerService("metrics", "pending")
	pending.Annotations = map[string]string{"ironlb.io/address-pool": "no-such-pool"} // a failure
	if _, err := l.CreateService(ctx, pending); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "GET from the L2 client (ARP traffic)", func() error {
		_, err := l.Curl(ctx, l.L2Client.Netns, "http://"+net.JoinHostPort(l2IP, "80")+"/")
		return err
	})
	eventually(t, 90*time.Second, "every metric of the dashboard and the alerts is exported", func() error {
		present, err := scrapeNames(ctx, l)
		if err != nil {
			return err
		}
		var missing []string
		for name, files := range used {
			if !present[name] {
				missing = append(missing, fmt.Sprintf("%s (used in %s)", name, strings.Join(files, ", ")))
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			return fmt.Errorf("not exported by any controller or speaker: %s", strings.Join(missing, "; "))
		}
		return nil
	})
	t.Logf("all %d metric names used by the dashboard and the alerts are exported", len(used))
}
