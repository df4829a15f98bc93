package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
)

// demoObjects is the address pool the demo applies: a slice of the lab's pool range.
const demoObjects = `apiVersion: ironlb.io/v1beta1
kind: IPAddressPool
metadata:
  name: demo
spec:
  addresses:
    - 198.18.100.0/24
    - 2001:db8:100::/120
  avoidBuggyIPs: true
---
apiVersion: ironlb.io/v1beta1
kind: L2Advertisement
metadata:
  name: demo
spec:
  ipAddressPools: [demo]
`

// RunDemo shows ironlb at work in the lab: it starts the controller, applies an address
// pool, creates a LoadBalancer Service with a pod behind node-1, waits for the Service's
// external IP, and prints what a user would look at (kubectl get/describe) and a request
// through the EXTERNAL-IP from the L2 client. The controller, speakers and pod keep running.
func (l *Lab) RunDemo(ctx context.Context, w io.Writer) error {
	if err := l.StartController(ctx); err != nil {
		return fmt.Errorf("demo: start the controller: %w", err)
	}
	for _, n := range l.Nodes {
		if err := l.StartSpeaker(ctx, n.Name); err != nil {
			return fmt.Errorf("demo: start the speaker of %s: %w", n.Name, err)
		}
	}
	file := filepath.Join(l.Dir, "demo.yaml")
	if err := os.WriteFile(file, []byte(demoObjects), 0o644); err != nil {
		return err
	}
	if err := l.applyFiles(ctx, []string{file}); err != nil {
		return fmt.Errorf("demo: apply the pool: %w", err)
	}
	// A Service created before the controller has seen the pool would first get an
	// "AllocationFailed" event; wait for the pool to be Ready so the demo shows the usual case.
	err := poll(ctx, 30*time.Second, 100*time.Millisecond, "IPAddressPool demo to be Ready", func(ctx context.Context) (bool, error) {
		var pool ironlbv1.IPAddressPool
		if err := l.Client.Get(ctx, client.ObjectKey{Name: "demo"}, &pool); err != nil {
			return false, err
		}
		return meta.IsStatusConditionTrue(pool.Status.Conditions, "Ready"), nil
	})
	if err != nil {
		return fmt.Errorf("demo: %w (controller log: %s)", err, l.ControllerLog())
	}
	pod, err := l.StartPod(ctx, l.Nodes[0].Name, "demo-1", map[string]string{"app": "demo"})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	svc, err := l.CreateService(ctx, NewLoadBalancerService("demo", "demo"))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := l.SetEndpoints(ctx, svc, Ready(pod)); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	svc, err = l.WaitForIngress(ctx, svc.Namespace, svc.Name, time.Minute)
	if err != nil {
		return fmt.Errorf("demo: %w (controller log: %s)", err, l.ControllerLog())
	}
	for _, args := range [][]string{
		{"get", "svc", "-n", "demo", "-o", "wide"},
		{"describe", "svc", "-n", "demo", "demo"},
	} {
		out, err := l.Kubectl(ctx, args...)
		_, _ = fmt.Fprintf(w, "$ kubectl %s\n%s\n\n", commandLine(args[0], args[1:]), out)
		if err != nil {
			return err
		}
	}
	// The speakers answer ARP/NDP for the EXTERNAL-IP; the node that does hands the packets
	// to kube-proxy, exactly like NodePort traffic.
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		url := "http://" + net.JoinHostPort(ing.IP, "80") + "/"
		var body string
		err := poll(ctx, 30*time.Second, 200*time.Millisecond, "the EXTERNAL-IP at "+url, func(ctx context.Context) (bool, error) {
			var err error
			body, err = l.Curl(ctx, l.L2Client.Netns, url)
			return err == nil, err
		})
		_, _ = fmt.Fprintf(w, "$ ip netns exec %s curl -g %s\n%s\n", l.L2Client.Netns, url, body)
		if err != nil {
			return err
		}
	}
	_, _ = fmt.Fprintln(w)
	return nil
}

// WaitForIngress waits until a Service has an address in status.loadBalancer.ingress and
// returns it as stored.
func (l *Lab) WaitForIngress(ctx context.Context, namespace, name string, timeout time.Duration) (*corev1.Service, error) {
	var svc *corev1.Service
	err := poll(ctx, timeout, 100*time.Millisecond, "status.loadBalancer.ingress of Service "+namespace+"/"+name, func(ctx context.Context) (bool, error) {
		s, err := l.Kube.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		svc = s
		return len(s.Status.LoadBalancer.Ingress) > 0, nil
	})
	return svc, err
}
