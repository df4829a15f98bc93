package lab

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/ironlb/ironlb/e2e/lab/host"
)

// ReleaseName is the Helm release the lab installs ironlb as (the README's name).
const ReleaseName = "ironlb"

// HelmPath is bin/helm.
func (l *Lab) HelmPath() string { return filepath.Join(l.bin, "helm") }

// ChartDir is charts/ironlb.
func (l *Lab) ChartDir() string { return filepath.Join(l.root, "charts", "ironlb") }

// Helm runs bin/helm with the admin kubeconfig and returns its output. Helm's own timeouts
// (--timeout) bound it, not the lab's short-command timeout.
func (l *Lab) Helm(ctx context.Context, args ...string) (string, error) {
	return host.RunLong(ctx, 10*time.Minute, l.HelmPath(), append(args, "--kubeconfig", l.Kubeconfig())...)
}

// InstallIronlb installs the chart as the README tells a user without a registry: the
// images that `make images` built are already imported on every node under the chart's
// default names, so only --set values the caller passes (such as speaker.extraArgs) are
// given. It waits (helm --wait) until the controller Deployment and the speaker DaemonSet
// are ready. On failure the error carries `kubectl get pods` and the events, which say why.
func (l *Lab) InstallIronlb(ctx context.Context, set ...string) (string, error) {
	return l.helmRelease(ctx, "install", set...)
}

// UpgradeIronlb runs helm upgrade with the given --set values (--reset-values: only these
// differ from the chart's defaults) and waits for the rollout.
func (l *Lab) UpgradeIronlb(ctx context.Context, set ...string) (string, error) {
	return l.helmRelease(ctx, "upgrade", set...)
}

// UninstallIronlb runs helm uninstall and waits until the release's pods are gone.
func (l *Lab) UninstallIronlb(ctx context.Context) (string, error) {
	out, err := l.Helm(ctx, "uninstall", ReleaseName, "--namespace", ControllerNamespace, "--wait", "--timeout", "2m")
	if err != nil {
		return out, fmt.Errorf("helm uninstall: %w", err)
	}
	return out, nil
}

func (l *Lab) helmRelease(ctx context.Context, verb string, set ...string) (string, error) {
	args := []string{verb, ReleaseName, l.ChartDir(), "--namespace", ControllerNamespace, "--wait", "--timeout", "3m"}
	if verb == "install" {
		args = append(args, "--create-namespace")
	} else {
		args = append(args, "--reset-values")
	}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := l.Helm(ctx, args...)
	if err != nil {
		pods, _ := l.Kubectl(ctx, "-n", ControllerNamespace, "get", "pods", "-o", "wide")
		events, _ := l.Kubectl(ctx, "-n", ControllerNamespace, "get", "events", "--sort-by=.lastTimestamp")
		return out, fmt.Errorf("helm %s: %w\n$ kubectl -n %s get pods -o wide\n%s\n$ kubectl get events\n%s",
			verb, err, ControllerNamespace, pods, lastLines(events, 20))
	}
	return out, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
