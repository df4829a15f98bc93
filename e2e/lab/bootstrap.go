package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ironlb/ironlb/e2e/lab/host"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ControllerNamespace is where ironlb's components and their ServiceAccounts live.
const ControllerNamespace = "ironlb-system"

// Kubectl runs bin/kubectl with the admin kubeconfig and returns its output.
func (l *Lab) Kubectl(ctx context.Context, args ...string) (string, error) {
	return host.Run(ctx, l.KubectlPath(), append([]string{"--kubeconfig", l.Kubeconfig()}, args...)...)
}

// ensureNamespace creates a namespace if it does not exist. There is no
// kube-controller-manager, so nothing else would.
func (l *Lab) ensureNamespace(ctx context.Context, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	_, err := l.Kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// bootstrap does what a cluster installer and kube-controller-manager would: namespaces,
// ironlb's CRDs (waiting until they are served) and RBAC from config/rbac.
func (l *Lab) bootstrap(ctx context.Context) error {
	for _, ns := range []string{"default", "kube-system", ControllerNamespace} {
		if err := l.ensureNamespace(ctx, ns); err != nil {
			return err
		}
	}
	crds, err := yamlFiles(filepath.Join(l.root, "config", "crd", "bases"))
	if err != nil {
		return err
	}
	if len(crds) == 0 {
		return fmt.Errorf("no CRDs in %s", filepath.Join(l.root, "config", "crd", "bases"))
	}
	if err := l.applyFiles(ctx, crds); err != nil {
		return fmt.Errorf("install CRDs: %w", err)
	}
	if _, err := l.Kubectl(ctx, "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"); err != nil {
		return fmt.Errorf("wait for CRDs: %w", err)
	}
	// The discovery cache of the admin client predates the CRDs.
	if err := l.setupAdminClients(); err != nil {
		return err
	}
	return l.applyRBAC(ctx)
}

// applyRBAC applies every YAML file in config/rbac (when the folder exists), so components
// run with the permissions the chart grants them, and no more.
func (l *Lab) applyRBAC(ctx context.Context) error {
	dir := filepath.Join(l.root, "config", "rbac")
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		l.logf("lab: %s does not exist yet; components get no RBAC", dir)
		return nil
	}
	files, err := yamlFiles(dir)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return nil
	}
	if err := l.applyFiles(ctx, files); err != nil {
		return fmt.Errorf("apply RBAC: %w", err)
	}
	return nil
}

// applyFiles server-side applies manifests with kubectl.
func (l *Lab) applyFiles(ctx context.Context, files []string) error {
	args := []string{"apply", "--server-side", "--force-conflicts", "--field-manager=ironlb-lab"}
	for _, f := range files {
		args = append(args, "-f", f)
	}
	// Retry briefly: right after the API server turns ready, discovery can still lag.
	return host.Poll(ctx, 30*time.Second, 500*time.Millisecond, "kubectl apply", func(ctx context.Context) (bool, error) {
		_, err := l.Kubectl(ctx, args...)
		return err == nil, err
	})
}

// yamlFiles lists the manifests in dir, skipping kustomize's own file.
func yamlFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == "kustomization.yaml" || name == "kustomization.yml" {
			continue
		}
		if strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") {
			files = append(files, filepath.Join(dir, name))
		}
	}
	sort.Strings(files)
	return files, nil
}

// KubectlPath is bin/kubectl, for tests that run it with another kubeconfig.
func (l *Lab) KubectlPath() string { return filepath.Join(l.bin, "kubectl") }
