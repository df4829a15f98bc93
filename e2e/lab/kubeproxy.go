package lab

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/ironlb/ironlb/e2e/lab/host"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubeProxyConfig is kube-proxy's configuration for one node. Notes on the choices:
//   - conntrack: maxPerCore 0 and the zero timeouts leave the kernel's values alone.
//     nf_conntrack_max and its hash size are global and read-only outside the host's network
//     namespace, and kube-proxy would exit trying to set them.
//   - localhostNodePorts: false, so kube-proxy does not need route_localnet, and
//     nodePortAddresses: primary, so NodePorts answer on the node's InternalIPs only (the
//     setting kube-proxy recommends).
//   - clusterCIDR covers every pod network, so traffic from pods is told apart from external
//     traffic the way a real cluster does.
//   - oomScoreAdj 0: a lab process must not be the last one the OOM killer picks.
const kubeProxyConfig = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
hostnameOverride: %q
clientConnection:
  kubeconfig: %q
  qps: 50
  burst: 100
clusterCIDR: %q
detectLocalMode: ClusterCIDR
healthzBindAddress: "0.0.0.0:%d"
metricsBindAddress: "127.0.0.1:10249"
nodePortAddresses: ["primary"]
oomScoreAdj: 0
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
iptables:
  localhostNodePorts: false
  minSyncPeriod: 1s
  syncPeriod: 30s
logging:
  format: text
  verbosity: 2
`

// startKubeProxies runs a real kube-proxy in iptables mode in every node namespace, as the
// ServiceAccount kube-system/kube-proxy bound to the built-in system:node-proxier role, and
// waits until each one's healthz reports its first sync of the rules.
func (l *Lab) startKubeProxies(ctx context.Context) error {
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "ironlb-lab:kube-proxy"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:node-proxier"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "kube-system", Name: "kube-proxy"}},
	}
	if _, err := l.Kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("bind kube-proxy to system:node-proxier: %w", err)
	}
	kubeconfig, err := l.ServiceAccountKubeconfig(ctx, "kube-system", "kube-proxy")
	if err != nil {
		return err
	}
	for _, n := range l.Nodes {
		cfgPath := filepath.Join(l.Dir, "kube-proxy", n.Name+".yaml")
		if err := os.MkdirAll(filepath.Dir(cfgPath), 0o755); err != nil {
			return err
		}
		cfg := fmt.Sprintf(kubeProxyConfig, n.Name, kubeconfig, ClusterCIDRv4+","+ClusterCIDRv6, kubeProxyHealthPort)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			return err
		}
		p, err := l.startProc(procSpec{
			role:   "kube-proxy-" + n.Name,
			netns:  n.Netns,
			binary: filepath.Join(l.bin, "kube-proxy"),
			args:   []string{"--config=" + cfgPath},
			log:    l.logPath("kube-proxy-" + n.Name),
		})
		if err != nil {
			return err
		}
		l.setProc("kube-proxy-"+n.Name, p)
	}
	for _, n := range l.Nodes {
		if err := l.waitKubeProxy(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// waitKubeProxy waits until a node's kube-proxy reports healthy: it has read its Node and
// programmed iptables at least once. The host reaches the node's healthz port over the bridge.
func (l *Lab) waitKubeProxy(ctx context.Context, n *Node) error {
	p := l.getProc("kube-proxy-" + n.Name)
	if p == nil {
		return fmt.Errorf("kube-proxy of %s is not running", n.Name)
	}
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	url := fmt.Sprintf("http://%s:%d/healthz", n.IPv4, kubeProxyHealthPort)
	return host.Poll(ctx, 60*time.Second, 100*time.Millisecond, "kube-proxy of "+n.Name+" at "+url, func(ctx context.Context) (bool, error) {
		if err := p.checkAlive(); err != nil {
			return false, err
		}
		return httpOK(ctx, client, url)
	})
}
