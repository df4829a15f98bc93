package lab

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ironlb/ironlb/e2e/lab/host"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// kubeletConfig is one node's KubeletConfiguration. Notes on the choices:
//   - cgroupfs driver and failCgroupV1: false: the lab's machines have no systemd and run the
//     cgroup v1 hierarchy, which kubelet 1.37 refuses unless told otherwise.
//   - cgroupsPerQOS: false and enforceNodeAllocatable: []: several kubelets share one
//     machine's cgroup tree, and none may claim or reshape its root.
//   - every directory (pod logs, root) is the node's own, and the kubelet serves on its
//     node's address only (10250, healthz 10248), so the nodes do not collide.
//   - authentication: client certificates signed by the lab CA (the API server presents the
//     admin one for logs, exec and port-forward); authorization AlwaysAllow, because
//     webhook authorization would ask the API server about every probe of the lab itself.
//   - eviction and image garbage collection are off: the images cannot be pulled again, and
//     the machine's disk usage says nothing about a lab node.
//   - resolvConf: an empty file, so pods get no name server of the machine (the lab routes
//     nowhere outside its ranges).
const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]q
port: 10250
readOnlyPort: 0
healthzBindAddress: %[1]q
healthzPort: %[2]d
containerRuntimeEndpoint: %[3]q
cgroupDriver: cgroupfs
failCgroupV1: false
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
podLogsDir: %[4]q
resolvConf: %[5]q
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: false
  x509:
    clientCAFile: %[6]q
authorization:
  mode: AlwaysAllow
tlsCertFile: %[7]q
tlsPrivateKeyFile: %[8]q
evictionHard:
  memory.available: "0%%"
  nodefs.available: "0%%"
  imagefs.available: "0%%"
  nodefs.inodesFree: "0%%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
nodeStatusUpdateFrequency: 2s
nodeStatusReportFrequency: 10s
syncFrequency: 10s
fileCheckFrequency: 10s
maxPods: 110
oomScoreAdj: 0
protectKernelDefaults: false
makeIPTablesUtilChains: false
localStorageCapacityIsolation: false
containerLogMaxSize: 10Mi
logging:
  format: text
  verbosity: 1
shutdownGracePeriod: 0s
`

// kubeletHealthPort is the kubelet's healthz port, on its node's address.
const kubeletHealthPort = 10248

// startKubelet writes a node's credentials (a client certificate for system:node:NAME in
// system:nodes, which the API server's Node authorizer serves; a serving certificate for
// the node's addresses) and configuration, and starts the kubelet in the node's namespace
// with nsenter. It does not wait: waitNodeReady does, for all nodes at once.
func (l *Lab) startKubelet(ctx context.Context, n *Node) error {
	dir := filepath.Join(l.nodeDir(n), "kubelet")
	for _, d := range []string{filepath.Join(dir, "root"), filepath.Join(dir, "pod-logs"), filepath.Join(dir, "pki")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	clientCert, clientKey, err := l.pki.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "system:node:" + n.Name, Organization: []string{"system:nodes"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return err
	}
	servingCert, servingKey, err := l.pki.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: n.Name},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{n.Name},
		IPAddresses: []net.IP{net.IP(n.IPv4.AsSlice()), net.IP(n.IPv6.AsSlice())},
	})
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"pki/kubelet.crt": servingCert, "pki/kubelet.key": servingKey,
		"resolv.conf": nil,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	kubeconfig := filepath.Join(dir, "kubelet.kubeconfig")
	if err := l.writeKubeconfig(kubeconfig, "system:node:"+n.Name, &clientcmdapi.AuthInfo{
		ClientCertificateData: clientCert, ClientKeyData: clientKey,
	}); err != nil {
		return err
	}
	cfg := fmt.Sprintf(kubeletConfig, n.IPv4, kubeletHealthPort, "unix://"+l.containerdSocket(n),
		filepath.Join(dir, "pod-logs"), filepath.Join(dir, "resolv.conf"), l.pki.path("ca.crt"),
		filepath.Join(dir, "pki", "kubelet.crt"), filepath.Join(dir, "pki", "kubelet.key"))
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	role := "kubelet-" + n.Name
	p, err := l.startProc(procSpec{
		role: role, netns: n.Netns, nsenter: true, binary: filepath.Join(l.bin, "kubelet"),
		args: []string{
			"--config=" + cfgPath,
			"--kubeconfig=" + kubeconfig,
			"--root-dir=" + filepath.Join(dir, "root"),
			"--hostname-override=" + n.Name,
			"--node-ip=" + n.IPv4.String() + "," + n.IPv6.String(),
			"--cert-dir=" + filepath.Join(dir, "pki"),
		},
		log: l.logPath(role),
	})
	if err != nil {
		return err
	}
	l.setProc(role, p)
	return nil
}

// createNodeObjects creates each Node with its pod networks before its kubelet starts: the
// kubelet then registers into the existing object (adding its labels, addresses and
// status), and the lab's fixed pod networks (plan.go) stay the nodes' PodCIDRs, which
// kube-controller-manager's IPAM would hand out in its own order.
func (l *Lab) createNodeObjects(ctx context.Context) error {
	for _, n := range l.Nodes {
		if _, err := l.Kube.CoreV1().Nodes().Create(ctx, n.object(), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create Node %s: %w", n.Name, err)
		}
	}
	return nil
}

// startNodes starts containerd on every node and imports the images, all nodes at once;
// then it starts the kubelets one after another (see startKubeletAlone) and waits until
// every Node is Ready. A kubelet that does not get there fails the step with the end of
// its log, which says why.
func (l *Lab) startNodes(ctx context.Context) error {
	errs := make(chan error, len(l.Nodes))
	for _, n := range l.Nodes {
		go func() {
			if err := l.startContainerd(ctx, n); err != nil {
				errs <- err
				return
			}
			if err := l.criPluginOK(ctx, n); err != nil {
				errs <- err
				return
			}
			errs <- l.importImages(ctx, n)
		}()
	}
	var first error
	for range l.Nodes {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return first
	}
	for _, n := range l.Nodes {
		if err := l.startKubeletAlone(ctx, n); err != nil {
			return err
		}
	}
	for _, n := range l.Nodes {
		if err := l.WaitNodeReady(ctx, n.Name, 90*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// WaitNodeReady waits until a Node reports Ready. If its kubelet exits or the time runs
// out, the error carries the end of the kubelet's log.
func (l *Lab) WaitNodeReady(ctx context.Context, name string, timeout time.Duration) error {
	role := "kubelet-" + name
	p := l.getProc(role)
	err := host.Poll(ctx, timeout, 200*time.Millisecond, "Node "+name+" to be Ready", func(ctx context.Context) (bool, error) {
		if p != nil {
			if err := p.checkAlive(); err != nil {
				return false, err
			}
		}
		node, err := l.Kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				if c.Status == corev1.ConditionTrue {
					return true, nil
				}
				return false, fmt.Errorf("condition Ready=%s: %s: %s", c.Status, c.Reason, c.Message)
			}
		}
		return false, fmt.Errorf("no Ready condition yet")
	})
	if p != nil {
		err = p.withLogTail(err)
	}
	return err
}

// devicePluginSocket is the device plugin registration socket. Its folder is fixed in the
// kubelet (not under --root-dir), so every lab node's kubelet shares it.
const devicePluginSocket = "/var/lib/kubelet/device-plugins/kubelet.sock"

// startKubeletAlone starts a node's kubelet and waits until it has created its device
// plugin socket. A starting kubelet removes every socket in that shared folder and then
// listens on its own; two kubelets doing that at once fail one of them with "address
// already in use" (a CI run lost node-3 so). One at a time, each removes the previous
// one's file, harmlessly: the lab runs no device plugins, and the old listener keeps
// working on its unlinked socket.
func (l *Lab) startKubeletAlone(ctx context.Context, n *Node) error {
	before := socketIdentity(devicePluginSocket)
	if err := l.startKubelet(ctx, n); err != nil {
		return err
	}
	p := l.getProc("kubelet-" + n.Name)
	return p.withLogTail(host.Poll(ctx, 60*time.Second, 50*time.Millisecond, "kubelet-"+n.Name+" to create "+devicePluginSocket, func(context.Context) (bool, error) {
		if err := p.checkAlive(); err != nil {
			return false, err
		}
		now := socketIdentity(devicePluginSocket)
		return now != "" && now != before, nil
	}))
}

// socketIdentity tells one file at path from another created there later: its inode and
// change time ("" when there is none). The inode alone may be reused by the next file.
func socketIdentity(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fi.ModTime().String()
	}
	return fmt.Sprintf("%d/%d.%d", st.Ino, st.Ctim.Sec, st.Ctim.Nsec)
}
