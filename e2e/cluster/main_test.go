// Package cluster holds the end-to-end tests that need the lab as a real cluster
// (lab.Options.Cluster): kubelet and containerd on every node, the scheduler and the
// controller manager, ironlb installed with Helm from charts/ironlb with the images
// `make images` built. Workloads are Deployments whose EndpointSlices the controller
// manager writes from readiness probes. The tests share one lab (starting one takes tens
// of seconds); each leaves ironlb installed as it found it and removes its own objects.
// They need root and skip with -short.
package cluster

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2e/lab"
	"github.com/ironlb/ironlb/internal/testenv"
)

// shared is the package's lab, started by TestMain; nil with -short or without root.
var shared *lab.Lab

// startErr is why the lab could not start; every test then fails with it.
var startErr error

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() || os.Geteuid() != 0 {
		os.Exit(m.Run())
	}
	// Long: the other e2e package may hold the lab lock for its whole run first.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	start := time.Now()
	shared, startErr = lab.Start(ctx, lab.Options{
		Cluster: true,
		Logf:    func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) },
	})
	if startErr == nil {
		fmt.Fprintf(os.Stderr, "cluster lab %s started in %s\n", shared.Prefix, time.Since(start).Round(time.Millisecond))
		t := time.Now()
		if _, err := shared.InstallIronlb(ctx); err != nil {
			startErr = err
		} else {
			fmt.Fprintf(os.Stderr, "ironlb installed with helm in %s\n", time.Since(t).Round(time.Millisecond))
		}
	}
	cancel()
	code := m.Run()
	if shared != nil {
		if code != 0 {
			var b strings.Builder
			shared.DumpLogs(&b, 40)
			fmt.Fprint(os.Stderr, b.String())
		}
		if err := shared.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop the lab: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// cluster returns the shared lab, skipping with -short and failing without root or when
// the lab did not start.
func cluster(t *testing.T) *lab.Lab {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: needs root and a few minutes; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Fatal("end-to-end tests need root (they create network namespaces); run them as root or with -short")
	}
	if startErr != nil {
		t.Fatalf("the cluster lab did not start: %v", startErr)
	}
	return shared
}

// kubectl runs kubectl with the admin kubeconfig and fails the test on an error.
func kubectl(ctx context.Context, t *testing.T, l *lab.Lab, args ...string) string {
	t.Helper()
	out, err := l.Kubectl(ctx, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// eventually polls a check until it passes or the timeout ends, then fails the test with
// the last error.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	testenv.Eventually(t, timeout, 200*time.Millisecond, what, check)
}

// applyDemo applies the demo's pools, advertisements and BGP peers, waits until both pools
// are Ready, and removes them, and the given namespaces first, when the test ends.
func applyDemo(ctx context.Context, t *testing.T, l *lab.Lab, namespaces ...string) {
	t.Helper()
	file, err := l.DemoObjectsFile()
	if err != nil {
		t.Fatal(err)
	}
	kubectl(ctx, t, l, "apply", "-f", file)
	for _, pool := range []string{"demo", "demo-bgp"} {
		kubectl(ctx, t, l, "wait", "--for=condition=Ready", "--timeout=60s", "ipaddresspool/"+pool)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if len(namespaces) > 0 {
			_, _ = l.Kubectl(ctx, append(append([]string{"delete", "namespace"}, namespaces...), "--wait=true")...)
		}
		_, _ = l.Kubectl(ctx, "delete", "-f", file)
	})
}
