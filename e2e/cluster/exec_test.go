package cluster

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2e/lab"
)

// TestKubectlExec runs commands in pods through the API server and the kubelets' streaming
// endpoints. ironlb's images hold one static binary on an empty base, so there is no shell
// to exec; the binaries' own --validate-flags is the command: in every speaker (each node's
// kubelet) and both controllers it exits 0 with the container's environment
// (NODE_NAME, NODE_IP), and a bad flag value comes back as exit code 2 with the
// message. In a workload pod (the podserver, also a lone binary), a second server on the
// pod's port fails with "address already in use": the command ran in the pod's network
// namespace.
func TestKubectlExec(t *testing.T) {
	l := cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// The speaker's --node-name and --memberlist-bind-address default to NODE_NAME and
	// NODE_IP, which only the container's environment has; the secret file is the chart's
	// mount (--validate-flags checks that it is named, not its contents).
	for _, c := range []struct {
		component string
		command   []string
	}{
		{"speaker", []string{"/ironlb-speaker", "--validate-flags", "--memberlist-secret-file=/etc/ironlb/memberlist/secretkey"}},
		{"controller", []string{"/ironlb-controller", "--validate-flags"}},
	} {
		pods, err := l.PodsOf(ctx, lab.ControllerNamespace, "app.kubernetes.io/component="+c.component)
		if err != nil {
			t.Fatal(err)
		}
		if len(pods) == 0 {
			t.Fatalf("no running %s pods", c.component)
		}
		for _, p := range pods {
			exec := append([]string{"-n", lab.ControllerNamespace, "exec", p.Name, "-c", c.component, "--"}, c.command...)
			if out, err := l.Kubectl(ctx, exec...); err != nil {
				t.Errorf("%s on %s: %v\n%s", p.Name, p.Spec.NodeName, err, out)
			}
			out, err := l.Kubectl(ctx, append(exec, "--log-level=loud")...)
			if code := exitCode(err); code != 2 || !strings.Contains(out, "loud") {
				t.Errorf("%s: --validate-flags --log-level=loud exited %d (%v), want 2 with the bad value named:\n%s", p.Name, code, err, out)
			}
		}
	}
	if _, err := l.CreateDeployment(ctx, lab.NewPodserverDeployment("exec", "web", 1)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = l.Kubectl(ctx, "delete", "namespace", "exec", "--wait=true")
	})
	pods, err := l.PodsOf(ctx, "exec", "app=web")
	if err != nil || len(pods) != 1 {
		t.Fatalf("pods of exec/web: %d (%v)", len(pods), err)
	}
	out, err := l.Kubectl(ctx, "-n", "exec", "exec", pods[0].Name, "--", "/podserver", "-listen", ":8080")
	if exitCode(err) != 1 || !strings.Contains(out, "address already in use") {
		t.Errorf("a second podserver in pod %s: %v, want exit code 1 and \"address already in use\":\n%s", pods[0].Name, err, out)
	}
	out, err = l.Kubectl(ctx, "-n", "exec", "exec", pods[0].Name, "--", "/podserver", "-h")
	if err != nil || !strings.Contains(out, "-listen") {
		t.Errorf("podserver -h in pod %s: %v, want its usage:\n%s", pods[0].Name, err, out)
	}
}

// exitCode is the exit code of a failed command (0 for no error, -1 if it did not run).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var e *exec.ExitError
	if errors.As(err, &e) {
		return e.ExitCode()
	}
	return -1
}
