package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// newNodes describes the nodes of the lab (addresses, names, labels) before anything exists.
func (l *Lab) newNodes() []*Node {
	var nodes []*Node
	for i := 1; i <= l.opts.Nodes; i++ {
		v4, v6 := nodeAddrs(i)
		p4, p6 := podCIDRs(i)
		name := fmt.Sprintf("node-%d", i)
		labels := map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
		for k, v := range l.opts.NodeLabels {
			labels[k] = v
		}
		for k, v := range l.opts.PerNodeLabels[name] {
			labels[k] = v
		}
		nodes = append(nodes, &Node{
			Name: name, Index: i,
			Netns: l.name(fmt.Sprintf("n%d", i)), Link: l.uplink(),
			IPv4: v4, IPv6: v6, MAC: macFor(v4),
			PodCIDRv4: p4, PodCIDRv6: p6,
			Labels: labels,
		})
	}
	return nodes
}

// Node returns the node with the given Kubernetes name, or nil.
func (l *Lab) Node(name string) *Node {
	for _, n := range l.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// NodeByMAC returns the node whose bridge interface has the given MAC, or nil; it turns an
// ARP or NDP answer into the node that gave it.
func (l *Lab) NodeByMAC(mac string) *Node {
	for _, n := range l.Nodes {
		if n.MAC == mac {
			return n
		}
	}
	return nil
}

// NodeByAddr returns the node that has address a on the bridge, or nil: its IPv4 or IPv6
// address, or its IPv6 link-local one, which FRR's zebra shows as the next hop of an IPv6
// route when the node sent one (FRR prefers it to the global next hop on a shared link).
func (l *Lab) NodeByAddr(a netip.Addr) *Node {
	for _, n := range l.Nodes {
		if a == n.IPv4 || a == n.IPv6 || a == linkLocalFor(n.MAC) {
			return n
		}
	}
	return nil
}

// linkLocalFor is the link-local address the kernel gives a link with this MAC (modified
// EUI-64: ff:fe in the middle, the universal/local bit flipped).
func linkLocalFor(mac string) netip.Addr {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return netip.Addr{}
	}
	var b [16]byte
	b[0], b[1] = 0xfe, 0x80
	copy(b[8:], []byte{hw[0] ^ 0x02, hw[1], hw[2], 0xff, 0xfe, hw[3], hw[4], hw[5]})
	return netip.AddrFrom16(b)
}

// object is the Node as the lab creates it, before any kubelet has written to it: its
// labels and its fixed pod networks.
func (n *Node) object() *corev1.Node {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: n.Labels}}
	if n.HasPodNetwork() {
		node.Spec.PodCIDR = n.PodCIDRv4.String()
		node.Spec.PodCIDRs = []string{n.PodCIDRv4.String(), n.PodCIDRv6.String()}
	}
	return node
}

// HasPodNetwork says whether the node can host pods: the scale plan's nodes (past
// PodNodes) cannot.
func (n *Node) HasPodNetwork() bool { return n.PodCIDRv4.IsValid() }

// registerNodes creates the Node objects and does the kubelet's part: status addresses,
// capacity and a Ready condition. The not-ready taint that the API server's admission adds
// to new nodes is removed, as the node lifecycle controller would once the node is Ready;
// components that skip tainted nodes then see the nodes as a cluster would show them.
func (l *Lab) registerNodes(ctx context.Context) error {
	for _, n := range l.Nodes {
		created, err := l.Kube.CoreV1().Nodes().Create(ctx, n.object(), metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create Node %s: %w", n.Name, err)
		}
		now := metav1.Now()
		created.Status = corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: n.IPv4.String()},
				{Type: corev1.NodeInternalIP, Address: n.IPv6.String()},
				{Type: corev1.NodeHostName, Address: n.Name},
			},
			Capacity: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("2"),
				corev1.ResourceMemory: resource.MustParse("4Gi"),
				corev1.ResourcePods:   resource.MustParse("110"),
			},
			Conditions: []corev1.NodeCondition{{
				Type: corev1.NodeReady, Status: corev1.ConditionTrue,
				Reason: "LabNodeReady", Message: "the ironlb lab set this node ready",
				LastHeartbeatTime: now, LastTransitionTime: now,
			}},
			NodeInfo: corev1.NodeSystemInfo{OperatingSystem: "linux", Architecture: "amd64"},
		}
		created.Status.Allocatable = created.Status.Capacity
		updated, err := l.Kube.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("set status of Node %s: %w", n.Name, err)
		}
		var taints []corev1.Taint
		for _, t := range updated.Spec.Taints {
			if t.Key != corev1.TaintNodeNotReady {
				taints = append(taints, t)
			}
		}
		if len(taints) != len(updated.Spec.Taints) {
			updated.Spec.Taints = taints
			if _, err := l.Kube.CoreV1().Nodes().Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("remove not-ready taint of Node %s: %w", n.Name, err)
			}
		}
	}
	return nil
}
