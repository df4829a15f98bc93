package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ironlb/ironlb/e2e/lab/host"
)

// Pod is a lab pod: an HTTP server (e2e/cmd/podserver) that answers every request with its
// name, in its own network namespace behind a node. Pods are not Kubernetes objects (there
// is no kubelet); Services reach them through the EndpointSlices the lab writes.
type Pod struct {
	Name string
	// Node is the node the pod runs behind.
	Node *Node
	// Netns is the pod's network namespace.
	Netns string
	// IPv4 and IPv6 are the pod's addresses, from its node's pod networks.
	IPv4, IPv6 netip.Addr
	Labels     map[string]string

	veth string // the node's end of the pod's veth pair
	proc *proc
}

// podserverBinary is where the lab builds the pod server.
func (l *Lab) podserverBinary() string { return filepath.Join(l.bin, "lab-podserver") }

// buildPodserver compiles e2e/cmd/podserver into bin/ (the Go build cache makes repeat runs
// quick), writing to a temporary name first so a running lab never sees half a binary.
func (l *Lab) buildPodserver(ctx context.Context) error {
	tmp := l.podserverBinary() + ".tmp"
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp, "./e2e/cmd/podserver")
	cmd.Dir = l.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build the pod server (go build ./e2e/cmd/podserver): %w: %s", err, out)
	}
	return os.Rename(tmp, l.podserverBinary())
}

// StartPod starts a pod named name behind node (a node name such as "node-1") and returns
// once it answers HTTP on both its addresses from the node. Pod names are unique in the lab.
func (l *Lab) StartPod(ctx context.Context, node, name string, labels map[string]string) (_ *Pod, err error) {
	n := l.Node(node)
	if n == nil {
		return nil, fmt.Errorf("start pod %s: no node %q", name, node)
	}
	l.mu.Lock()
	if _, ok := l.pods[name]; ok {
		l.mu.Unlock()
		return nil, fmt.Errorf("start pod %s: a pod with that name exists", name)
	}
	l.podSeq++
	seq := l.podSeq
	// Addresses are never reused within a run, so no stale neighbour or conntrack entry of an
	// earlier pod can answer for a new one.
	l.nodePodSeq[n.Name]++
	k := 1 + l.nodePodSeq[n.Name]
	l.mu.Unlock()
	if !n.HasPodNetwork() {
		return nil, fmt.Errorf("start pod %s: node %s is a scale node without a pod network (only node-1 to node-%d host pods)", name, n.Name, PodNodes)
	}
	if k > 254 {
		return nil, fmt.Errorf("start pod %s: node %s has no pod addresses left", name, n.Name)
	}
	v4, v6 := podAddrs(n.Index, k)
	p := &Pod{
		Name: name, Node: n, Netns: l.name(fmt.Sprintf("p%d", seq)),
		IPv4: v4, IPv6: v6, Labels: labels, veth: l.name(fmt.Sprintf("p%d", seq)),
	}
	defer func() {
		if err != nil {
			_ = l.removePod(p)
			err = fmt.Errorf("start pod %s on %s: %w", name, node, err)
		}
	}()
	if err := l.wirePod(ctx, p); err != nil {
		return nil, err
	}
	p.proc, err = l.startProc(procSpec{
		role:   "pod-" + name,
		netns:  p.Netns,
		binary: l.podserverBinary(),
		args:   []string{"--name=" + name, "--listen=:" + strconv.Itoa(PodPort)},
		log:    l.logPath("pod-" + name),
	})
	if err != nil {
		return nil, err
	}
	if err := l.waitPod(ctx, p); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.pods[name] = p
	l.mu.Unlock()
	return p, nil
}

// wirePod creates the pod's namespace and its veth to the node. The node's end carries the
// pod gateway address (198.18.(16+i).1/32 and fe80::1) and a host route to the pod, the
// way many CNI plugins wire pods; the pod routes only the lab's ranges to it.
func (l *Lab) wirePod(ctx context.Context, p *Pod) error {
	n := p.Node
	if err := l.addNetns(ctx, p.Netns); err != nil {
		return err
	}
	inside := l.uplink()
	if err := host.IP(ctx, n.Netns, "link", "add", p.veth, "type", "veth", "peer", "name", inside, "netns", p.Netns); err != nil {
		return err
	}
	gw4 := podGatewayV4(n.Index)
	if err := host.IPAll(ctx, n.Netns,
		[]string{"addr", "add", netip.PrefixFrom(gw4, 32).String(), "dev", p.veth},
		[]string{"addr", "add", netip.PrefixFrom(podGatewayV6, 64).String(), "dev", p.veth, "nodad"},
		[]string{"link", "set", p.veth, "up"},
		[]string{"route", "add", netip.PrefixFrom(p.IPv4, 32).String(), "dev", p.veth},
		[]string{"-6", "route", "add", netip.PrefixFrom(p.IPv6, 128).String(), "dev", p.veth},
	); err != nil {
		return err
	}
	if err := l.configureLink(ctx, p.Netns, inside, macFor(p.IPv4), netip.PrefixFrom(p.IPv4, 32), netip.PrefixFrom(p.IPv6, 128)); err != nil {
		return err
	}
	return host.IPAll(ctx, p.Netns,
		[]string{"route", "add", gw4.String(), "dev", inside, "scope", "link"},
		[]string{"route", "add", labV4.String(), "via", gw4.String()},
		[]string{"-6", "route", "add", labV6.String(), "via", podGatewayV6.String(), "dev", inside},
	)
}

// waitPod waits until the pod answers with its name on both addresses, asked from its
// node, which also proves the node's routes to it.
func (l *Lab) waitPod(ctx context.Context, p *Pod) error {
	d, err := host.NewNSDialer(p.Node.Netns)
	if err != nil {
		return err
	}
	defer d.Close()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	for _, a := range []netip.Addr{p.IPv4, p.IPv6} {
		url := "http://" + net.JoinHostPort(a.String(), strconv.Itoa(PodPort)) + "/"
		err := host.Poll(ctx, 20*time.Second, 20*time.Millisecond, "pod "+p.Name+" at "+url, func(ctx context.Context) (bool, error) {
			if err := p.proc.checkAlive(); err != nil {
				return false, err
			}
			body, err := httpGet(ctx, client, url)
			if err != nil {
				return false, err
			}
			if body != p.Name {
				return false, fmt.Errorf("answered %q, not %q", body, p.Name)
			}
			return true, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Pod returns a running pod by name, or nil.
func (l *Lab) Pod(name string) *Pod {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pods[name]
}

// StopPod stops a pod and removes its namespace (and with it the veth and the node's route).
// EndpointSlices are not touched: call SetEndpoints to say how the Service sees the change.
func (l *Lab) StopPod(ctx context.Context, p *Pod) error {
	l.mu.Lock()
	if l.pods[p.Name] == p {
		delete(l.pods, p.Name)
	}
	l.mu.Unlock()
	return l.removePod(p)
}

// MovePod stops a pod and starts one of the same name and labels behind another node, with
// new addresses from that node's pod networks. Update the Service's endpoints afterwards.
func (l *Lab) MovePod(ctx context.Context, p *Pod, node string) (*Pod, error) {
	if err := l.StopPod(ctx, p); err != nil {
		return nil, err
	}
	return l.StartPod(ctx, node, p.Name, p.Labels)
}

// removePod stops the pod's process and deletes its namespace.
func (l *Lab) removePod(p *Pod) error {
	if p.proc != nil {
		p.proc.stop(5 * time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), host.CommandTimeout)
	defer cancel()
	if err := host.IP(ctx, "", "netns", "del", p.Netns); err != nil && !strings.Contains(err.Error(), "No such file") {
		return err
	}
	return nil
}

// httpGet returns the trimmed body of a 200 answer.
func httpGet(ctx context.Context, client *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return strings.TrimSpace(string(body)), nil
}
