package lab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ironlb/ironlb/e2e/lab/host"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// kcmControllers are the controllers the lab's kube-controller-manager runs: what
// workloads, Services, namespaces, drains and node loss need. The rest (volumes,
// certificates, node IPAM, cloud) has nothing to do in the lab and only costs CPU.
var kcmControllers = []string{
	"deployment-controller", "replicaset-controller", "daemonset-controller",
	"endpointslice-controller", "endpoints-controller", "disruption-controller",
	"garbage-collector-controller", "namespace-controller", "serviceaccount-controller",
	"serviceaccount-token-controller", "root-ca-certificate-publisher-controller",
	"pod-garbage-collector-controller", "node-lifecycle-controller", "taint-eviction-controller",
	"job-controller", "clusterrole-aggregation-controller",
}

// startControlPlane starts kube-scheduler and kube-controller-manager on the host, each with
// a client certificate for the identity its built-in RBAC roles are bound to
// (system:kube-scheduler, system:kube-controller-manager). The controller manager runs each
// controller under its own ServiceAccount (--use-service-account-credentials), as kubeadm
// does, so Deployments, ReplicaSets, DaemonSets, EndpointSlices, ServiceAccounts, garbage
// collection and node lifecycle work under their real permissions. Node IPAM stays off:
// the lab gives nodes their pod networks itself (createNodeObjects).
func (l *Lab) startControlPlane(ctx context.Context) error {
	components := []struct {
		role, user string
		args       []string
	}{
		{"kube-scheduler", "system:kube-scheduler", nil},
		{"kube-controller-manager", "system:kube-controller-manager", l.controllerManagerArgs()},
	}
	ports := make([]int, len(components))
	for i, c := range components {
		kubeconfig, err := l.certKubeconfig(c.role, c.user)
		if err != nil {
			return err
		}
		// Their secure ports (health and metrics) are picked free on loopback, so nothing
		// the machine already runs on the default ports collides with them.
		if ports[i], err = freePort(); err != nil {
			return err
		}
		s := l.controlPlaneProc(c.role, kubeconfig, ports[i], c.args)
		p, err := l.startProc(s)
		if err != nil {
			return err
		}
		l.setProc(s.role, p)
	}
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, Proxy: nil}}
	for i, c := range components {
		p := l.getProc(c.role)
		url := fmt.Sprintf("https://127.0.0.1:%d/healthz", ports[i])
		err := host.Poll(ctx, 60*time.Second, 100*time.Millisecond, c.role+" at "+url, func(ctx context.Context) (bool, error) {
			if err := p.checkAlive(); err != nil {
				return false, err
			}
			return httpOK(ctx, client, url)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// controlPlaneProc is how the lab runs kube-scheduler or kube-controller-manager (role):
// on loopback, with its client certificate for every API call, no leader election, and
// extra flags of its own.
func (l *Lab) controlPlaneProc(role, kubeconfig string, port int, extra []string) procSpec {
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(l.Dir, role),
		"--leader-elect=false",
	}
	args = append(append(args, extra...), "--v=1")
	return procSpec{role: role, binary: filepath.Join(l.bin, role), log: l.logPath(role), args: args}
}

// controllerManagerArgs are kube-controller-manager's own flags.
func (l *Lab) controllerManagerArgs() []string {
	return []string{
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + l.pki.path("sa.key"),
		"--root-ca-file=" + l.pki.path("ca.crt"),
		"--controllers=" + strings.Join(kcmControllers, ","),
		"--allocate-node-cidrs=false",
		"--configure-cloud-routes=false",
		// A lost node is noticed in 10 s and its pods evicted at once: the failure tests
		// measure what a user sees, and waiting 5 minutes would only slow them.
		"--node-monitor-grace-period=10s",
		"--node-monitor-period=1s",
		"--concurrent-deployment-syncs=10",
		"--concurrent-replicaset-syncs=10",
		"--concurrent-service-endpoint-syncs=10",
		"--endpointslice-updates-batch-period=0s",
	}
}

// certKubeconfig writes a kubeconfig with a new client certificate for user (no groups).
func (l *Lab) certKubeconfig(name, user string) (string, error) {
	cert, key, err := l.pki.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: user},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return "", err
	}
	path := filepath.Join(l.Dir, "kubeconfigs", name+".kubeconfig")
	return path, l.writeKubeconfig(path, user, &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key})
}
