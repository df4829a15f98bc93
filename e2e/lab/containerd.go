package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ironlb/ironlb/e2e/lab/host"
)

// containerdConfig is one node's containerd: everything it owns (root, state, sockets, CNI
// configuration, IPAM data, network namespaces of pods) lives in the node's folder, so
// several run side by side and the lab's sweep finds all of it. Notes on the choices:
//   - restrict_oom_score_adj: the lab's machines lack CAP_SYS_RESOURCE, so a negative
//     oom_score_adj (which the kubelet asks for some containers) would be refused.
//   - sandbox_image: the lab's own pause image, imported on every node (nothing is pulled).
//   - enable_unprivileged_ports: pods that run as a non-root user may bind ports below 1024,
//     as in containerd 2, so the podserver answers on port 80 as user 65532.
//   - netns_mounts_under_state_dir: pod network namespaces are mounted in the node's state
//     folder instead of /var/run/netns, which keeps them apart from the lab's own.
//   - the CRI stream server (exec, attach, port-forward) listens on the node's loopback,
//     where the kubelet of the same namespace reaches it.
const containerdConfig = `version = 2
root = %[1]q
state = %[2]q
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[5]q
  restrict_oom_score_adj = true
  enable_unprivileged_ports = true
  enable_unprivileged_icmp = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  tolerate_missing_hugetlb_controller = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[6]q
    conf_dir = %[7]q
    max_conf_num = 1

[plugins."io.containerd.gc.v1.scheduler"]
  deletion_threshold = 0
`

// cniConfig is a node's pod network: a bridge (cni0, inside the node's namespace) with the
// node's IPv4 and IPv6 pod networks from host-local IPAM. The node routes the other nodes'
// pod networks over the segment (nodeRoutes), so pods on different nodes reach each other
// unmasqueraded, as with a flat pod network.
const cniConfig = `{
  "cniVersion": "0.4.0",
  "name": "lab",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": %[1]q,
        "ranges": [
          [{"subnet": %[2]q, "gateway": %[3]q}],
          [{"subnet": %[4]q, "gateway": %[5]q}]
        ],
        "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`

// cniBinDir is where Debian's containernetworking-plugins installs the plugins.
const cniBinDir = "/usr/lib/cni"

// nodeDir is a node's folder: containerd's and the kubelet's files, CNI configuration.
func (l *Lab) nodeDir(n *Node) string { return filepath.Join(l.Dir, "nodes", n.Name) }

// containerdSocket is the grpc socket of a node's containerd.
func (l *Lab) containerdSocket(n *Node) string {
	return filepath.Join(l.nodeDir(n), "containerd", "containerd.sock")
}

// startContainerd writes a node's containerd and CNI configuration, starts containerd in
// the node's namespace (entered with nsenter, which keeps the host's /sys and its cgroup
// mounts in view, unlike `ip netns exec`) and waits until it answers on its socket.
func (l *Lab) startContainerd(ctx context.Context, n *Node) error {
	dir := l.nodeDir(n)
	cniConf := filepath.Join(dir, "cni", "net.d")
	for _, d := range []string{filepath.Join(dir, "containerd"), cniConf} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	gw4 := podGatewayV4(n.Index)
	gw6 := n.PodCIDRv6.Addr().Next()
	cni := fmt.Sprintf(cniConfig, filepath.Join(dir, "cni", "ipam"), n.PodCIDRv4, gw4, n.PodCIDRv6, gw6)
	if err := os.WriteFile(filepath.Join(cniConf, "10-lab.conflist"), []byte(cni), 0o644); err != nil {
		return err
	}
	cfg := fmt.Sprintf(containerdConfig,
		filepath.Join(dir, "containerd", "root"), filepath.Join(dir, "containerd", "state"),
		l.containerdSocket(n), filepath.Join(dir, "containerd", "ttrpc.sock"),
		PauseImage, cniBinDir, cniConf)
	cfgPath := filepath.Join(dir, "containerd", "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	role := "containerd-" + n.Name
	p, err := l.startProc(procSpec{
		role: role, netns: n.Netns, nsenter: true, binary: containerdBinary,
		args: []string{"--config", cfgPath}, log: l.logPath(role),
	})
	if err != nil {
		return err
	}
	l.setProc(role, p)
	return host.Poll(ctx, 30*time.Second, 100*time.Millisecond, "containerd of "+n.Name, func(ctx context.Context) (bool, error) {
		if err := p.checkAlive(); err != nil {
			return false, err
		}
		_, err := host.Run(ctx, "ctr", "-a", l.containerdSocket(n), "version")
		return err == nil, err
	})
}

// containerdBinary is Debian's containerd.
const containerdBinary = "/usr/bin/containerd"

// criPluginOK checks that a node's containerd loaded its CRI plugin (a bad line in its
// configuration leaves containerd running without it, and the kubelet would only say that
// the runtime is down).
func (l *Lab) criPluginOK(ctx context.Context, n *Node) error {
	out, err := host.Run(ctx, "ctr", "-a", l.containerdSocket(n), "plugins", "ls")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "io.containerd.grpc.v1") && strings.Contains(line, "cri") {
			if strings.Contains(line, "ok") {
				return nil
			}
			return fmt.Errorf("containerd of %s: CRI plugin not loaded: %s (see %s)", n.Name, line, l.logPath("containerd-"+n.Name))
		}
	}
	return fmt.Errorf("containerd of %s has no CRI plugin (see %s)", n.Name, l.logPath("containerd-"+n.Name))
}
