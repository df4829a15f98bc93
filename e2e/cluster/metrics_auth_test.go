package cluster

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/e2e/lab"
)

// TestMetricsNeedAToken checks what the chart's defaults expose: the speaker's metrics
// (host network, so on every network of the node) and the controller's answer only over
// HTTPS and only to a bearer token allowed `get /metrics`. Without a token: 401; with the
// token of a ServiceAccount that is not bound to the metrics-reader ClusterRole: 403; once
// a ClusterRoleBinding grants it the role: 200 with ironlb's metrics. Plain HTTP to the
// port gets no metrics.
func TestMetricsNeedAToken(t *testing.T) {
	l := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// Pools, so that the controller has ironlb metrics of its own (ironlb_pool_addresses).
	applyDemo(ctx, t, l)
	const ns = "metrics-auth"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = l.Kube.RbacV1().ClusterRoleBindings().Delete(ctx, "metrics-auth-allowed", metav1.DeleteOptions{})
		_, _ = l.Kubectl(ctx, "delete", "namespace", ns, "--wait=false")
	})
	denied, err := l.ServiceAccountToken(ctx, ns, "denied")
	if err != nil {
		t.Fatal(err)
	}
	allowed, err := l.ServiceAccountToken(ctx, ns, "allowed")
	if err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-auth-allowed"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: lab.MetricsReaderRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "allowed"}},
	}
	if _, err := l.Kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	type target struct{ name, netns, hostport string }
	n := l.Nodes[0]
	targets := []target{{"speaker on " + n.Name, l.L2Client.Netns, net.JoinHostPort(n.IPv4.String(), fmt.Sprint(lab.SpeakerMetricsPort))}}
	pods, err := l.PodsOf(ctx, lab.ControllerNamespace, "app.kubernetes.io/component=controller")
	if err != nil {
		t.Fatal(err)
	}
	// The leader: only it reconciles pools, so only it has their metrics.
	lease, err := l.Kube.CoordinationV1().Leases(lab.ControllerNamespace).Get(ctx, ironlbv1.ControllerName, metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil {
		t.Fatalf("the controller's Lease: %v", err)
	}
	for _, p := range pods {
		if !strings.HasPrefix(*lease.Spec.HolderIdentity, p.Name) {
			continue
		}
		if node := l.Node(p.Spec.NodeName); node != nil && p.Status.PodIP != "" {
			targets = append(targets, target{"controller " + p.Name, node.Netns, net.JoinHostPort(p.Status.PodIP, "7472")})
			break
		}
	}
	if len(targets) != 2 {
		t.Fatalf("no running controller pod to scrape: %d pods", len(pods))
	}

	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			url := "https://" + tg.hostport + "/metrics"
			for _, c := range []struct {
				who   string
				token string
				want  int
			}{{"no token", "", 401}, {"a token without the metrics-reader role", denied, 403},
				// controller-runtime's filter answers 500 when the TokenReview reports an error,
				// as it does for a malformed token: any refusal will do.
				{"a garbage token", "not-a-token", 0}} {
				code, body, err := l.HTTPGet(ctx, tg.netns, url, c.token)
				if err != nil {
					t.Fatalf("%s: %v", c.who, err)
				}
				if c.want == 0 && code == 200 || c.want != 0 && code != c.want || strings.Contains(body, "ironlb_") {
					t.Errorf("%s: HTTP %d (want %d), body %.200q", c.who, code, c.want, body)
				}
			}
			// RBAC changes reach the API server's authorizer quickly, but not atomically.
			eventually(t, 30*time.Second, "200 with metrics for a token bound to "+lab.MetricsReaderRole, func() error {
				code, body, err := l.HTTPGet(ctx, tg.netns, url, allowed)
				if err != nil {
					return err
				}
				if code != 200 || !strings.Contains(body, "ironlb_") {
					return fmt.Errorf("HTTP %d, body %.200q", code, body)
				}
				return nil
			})
			// The same port in plain HTTP: the TLS server refuses it without metrics.
			code, body, err := l.HTTPGet(ctx, tg.netns, "http://"+tg.hostport+"/metrics", allowed)
			if err == nil && (code == 200 || strings.Contains(body, "ironlb_")) {
				t.Errorf("plain HTTP: HTTP %d, body %.200q; want no metrics", code, body)
			}
		})
	}
}
