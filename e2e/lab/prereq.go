package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// hostTools are the programs the lab runs from the machine, with the Debian package of each.
// e2e/tools/install-packages.sh (run by `make demo`, `make test` and .ci/run) installs them.
var hostTools = []struct{ path, pkg string }{
	{"ip", "iproute2"},
	{"nsenter", "util-linux"},
	{"nft", "nftables"},
	{"iptables", "iptables"},
	{"/usr/lib/frr/zebra", "frr"},
	{"/usr/lib/frr/bgpd", "frr"},
	{"/usr/lib/frr/bfdd", "frr"},
	{"vtysh", "frr"},
}

// clusterTools are what Options.Cluster adds: the container runtime and the CNI plugins.
var clusterTools = []struct{ path, pkg string }{
	{containerdBinary, "containerd"},
	{"ctr", "containerd"},
	{"containerd-shim-runc-v2", "containerd"},
	{"runc", "runc"},
	{filepath.Join(cniBinDir, "bridge"), "containernetworking-plugins"},
	{filepath.Join(cniBinDir, "host-local"), "containernetworking-plugins"},
	{filepath.Join(cniBinDir, "loopback"), "containernetworking-plugins"},
	{filepath.Join(cniBinDir, "portmap"), "containernetworking-plugins"},
}

// checkPrerequisites fails with one message that names every missing binary of bin/ (and
// the make target that builds it) and every missing Debian package, so a fresh machine
// learns everything it lacks at once instead of one failed step at a time.
func checkPrerequisites(opts Options) error {
	bins := []string{"etcd", "kube-apiserver", "kube-proxy", "kubectl"}
	tools := hostTools
	if opts.Cluster {
		bins = append(bins, "kubelet", "kube-scheduler", "kube-controller-manager")
		tools = append(append(tools[:0:0], hostTools...), clusterTools...)
	}
	var problems []string
	var missingBins []string
	for _, name := range bins {
		if _, err := os.Stat(filepath.Join(opts.BinDir, name)); err != nil {
			missingBins = append(missingBins, name)
		}
	}
	if len(missingBins) > 0 {
		problems = append(problems, fmt.Sprintf("%s not found in %s: run `make lab-tools`", strings.Join(missingBins, ", "), opts.BinDir))
	}
	if opts.Cluster {
		for _, name := range []string{"helm", "ironlb-image"} {
			if _, err := os.Stat(filepath.Join(opts.BinDir, name)); err != nil {
				problems = append(problems, fmt.Sprintf("%s not found in %s: run `make tools`", name, opts.BinDir))
			}
		}
	}
	pkgs := map[string][]string{}
	for _, t := range tools {
		if _, err := exec.LookPath(t.path); err != nil {
			pkgs[t.pkg] = append(pkgs[t.pkg], filepath.Base(t.path))
		}
	}
	if len(pkgs) > 0 {
		var names, detail []string
		for p, missing := range pkgs {
			names = append(names, p)
			detail = append(detail, fmt.Sprintf("%s (%s)", p, strings.Join(missing, ", ")))
		}
		sort.Strings(names)
		sort.Strings(detail)
		problems = append(problems, fmt.Sprintf("missing Debian packages: %s; install them with `e2e/tools/install-packages.sh` (or apt-get install %s)",
			strings.Join(detail, ", "), strings.Join(names, " ")))
	}
	if len(problems) > 0 {
		return fmt.Errorf("lab: cannot start:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

// bootstrapCluster creates only what a cluster installer would before anything is
// deployed: the system namespaces. ironlb's namespace, CRDs and RBAC come from Helm, and
// kube-controller-manager creates every namespace's default ServiceAccount.
func (l *Lab) bootstrapCluster(ctx context.Context) error {
	for _, ns := range []string{"default", "kube-system"} {
		if err := l.ensureNamespace(ctx, ns); err != nil {
			return err
		}
	}
	return nil
}
