package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/ironlb/ironlb/e2e/lab/host"
)

// ErrBinaryMissing is returned when an ironlb binary has not been built (`make build`).
var ErrBinaryMissing = errors.New("binary not built")

// Ports a speaker serves on, on its node's address (the speaker's defaults).
const (
	SpeakerMetricsPort = 7474
	SpeakerHealthPort  = 7475
)

// component is a started ironlb process and how to start it again.
type component struct {
	proc       *proc
	args       []string
	healthURL  string
	netns      string
	env        []string
	binary     string
	kubeconfig string
}

// ControllerBinary is the path of bin/ironlb-controller.
func (l *Lab) ControllerBinary() string { return filepath.Join(l.bin, "ironlb-controller") }

// SpeakerBinary is the path of bin/ironlb-speaker.
func (l *Lab) SpeakerBinary() string { return filepath.Join(l.bin, "ironlb-speaker") }

// ControllerLog is the controller's log file (stdout and stderr, appended across restarts).
func (l *Lab) ControllerLog() string { return l.logPath("ironlb-controller") }

// SpeakerLog is the log file of a node's speaker.
func (l *Lab) SpeakerLog(node string) string { return l.logPath("ironlb-speaker-" + node) }

func checkBinary(path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%s: %w (run `make build`)", path, ErrBinaryMissing)
	}
	return nil
}

// StartController runs bin/ironlb-controller on the host as the ServiceAccount
// ironlb-system/ironlb-controller, with metrics and health probes on free loopback ports, and
// waits until its health endpoint answers. args are appended to the lab's flags (--kubeconfig,
// --metrics-bind-address, --health-probe-bind-address, --leader-election-namespace), so a
// test can add --leader-elect or override any of them.
func (l *Lab) StartController(ctx context.Context, args ...string) error {
	if err := checkBinary(l.ControllerBinary()); err != nil {
		return err
	}
	if c := l.getComponent("ironlb-controller"); c != nil && c.proc.alive() {
		return fmt.Errorf("the controller is already running (pid %d)", c.proc.pid())
	}
	kubeconfig, err := l.ServiceAccountKubeconfig(ctx, ControllerNamespace, "ironlb-controller")
	if err != nil {
		return err
	}
	metricsPort, err := freePort()
	if err != nil {
		return err
	}
	healthPort, err := freePort()
	if err != nil {
		return err
	}
	c := &component{
		binary:     l.ControllerBinary(),
		kubeconfig: kubeconfig,
		healthURL:  "http://127.0.0.1:" + strconv.Itoa(healthPort),
		args: append([]string{
			"--kubeconfig=" + kubeconfig,
			"--metrics-bind-address=127.0.0.1:" + strconv.Itoa(metricsPort),
			"--health-probe-bind-address=127.0.0.1:" + strconv.Itoa(healthPort),
			"--leader-election-namespace=" + ControllerNamespace,
		}, args...),
	}
	return l.startComponent(ctx, "ironlb-controller", c)
}

// StopController stops the controller gracefully (SIGTERM, SIGKILL after 10 s).
func (l *Lab) StopController() error { return l.stopComponent("ironlb-controller") }

// RestartController stops the controller and starts it again with the same flags.
func (l *Lab) RestartController(ctx context.Context) error {
	return l.restartComponent(ctx, "ironlb-controller")
}

// StartIronlb starts the controller and a speaker on every node, each speaker with args.
func (l *Lab) StartIronlb(ctx context.Context, speakerArgs ...string) error {
	if err := l.StartController(ctx); err != nil {
		return fmt.Errorf("start the controller: %w", err)
	}
	for _, n := range l.Nodes {
		if err := l.StartSpeaker(ctx, n.Name, speakerArgs...); err != nil {
			return fmt.Errorf("start the speaker of %s: %w", n.Name, err)
		}
	}
	return nil
}

// StartSpeaker runs bin/ironlb-speaker inside a node's namespace (host networking, as a
// DaemonSet pod would) as the ServiceAccount ironlb-system/ironlb-speaker, and waits until
// its health endpoint answers. Like the DaemonSet's downward API, NODE_NAME, NODE_IP (the
// node's IPv4 address) and POD_NAMESPACE (ironlb-system, where the speaker reads BGP password
// Secrets) are set in its environment; its flags are --kubeconfig,
// --node-name, --metrics-bind-address / --health-probe-bind-address on the node's IPv4
// address (ports SpeakerMetricsPort and SpeakerHealthPort) and --memberlist-secret-file (one
// random secret per lab, as the chart's Secret), followed by args.
func (l *Lab) StartSpeaker(ctx context.Context, node string, args ...string) error {
	n := l.Node(node)
	if n == nil {
		return fmt.Errorf("start speaker: no node %q", node)
	}
	if err := checkBinary(l.SpeakerBinary()); err != nil {
		return err
	}
	key := "ironlb-speaker-" + node
	if c := l.getComponent(key); c != nil && c.proc.alive() {
		return fmt.Errorf("the speaker of %s is already running (pid %d)", node, c.proc.pid())
	}
	kubeconfig, err := l.ServiceAccountKubeconfig(ctx, ControllerNamespace, "ironlb-speaker")
	if err != nil {
		return err
	}
	secret, err := l.memberlistSecret()
	if err != nil {
		return err
	}
	host := n.IPv4.String()
	c := &component{
		binary:     l.SpeakerBinary(),
		netns:      n.Netns,
		env:        []string{"NODE_NAME=" + node, "NODE_IP=" + host, "POD_NAMESPACE=" + ControllerNamespace},
		kubeconfig: kubeconfig,
		healthURL:  "http://" + net.JoinHostPort(host, strconv.Itoa(SpeakerHealthPort)),
		args: append([]string{
			"--kubeconfig=" + kubeconfig,
			"--node-name=" + node,
			"--metrics-bind-address=" + net.JoinHostPort(host, strconv.Itoa(SpeakerMetricsPort)),
			"--health-probe-bind-address=" + net.JoinHostPort(host, strconv.Itoa(SpeakerHealthPort)),
			"--memberlist-secret-file=" + secret,
		}, args...),
	}
	return l.startComponent(ctx, key, c)
}

// StopSpeaker shuts a node's speaker down gracefully (SIGTERM), as a rolling update would.
func (l *Lab) StopSpeaker(node string) error { return l.stopComponent("ironlb-speaker-" + node) }

// KillSpeaker kills a node's speaker with SIGKILL: it gets no chance to say goodbye.
func (l *Lab) KillSpeaker(node string) error {
	c := l.getComponent("ironlb-speaker-" + node)
	if c == nil || !c.proc.alive() {
		return fmt.Errorf("the speaker of %s is not running", node)
	}
	if err := c.proc.signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-c.proc.done
	return nil
}

// FreezeSpeaker stops a node's speaker with SIGSTOP: it keeps its sockets and memberlist
// state but does nothing, like a hung process or a paused VM.
func (l *Lab) FreezeSpeaker(node string) error {
	return l.signalComponent("ironlb-speaker-"+node, syscall.SIGSTOP)
}

// ThawSpeaker resumes a speaker frozen by FreezeSpeaker.
func (l *Lab) ThawSpeaker(node string) error {
	return l.signalComponent("ironlb-speaker-"+node, syscall.SIGCONT)
}

// RestartSpeaker stops a node's speaker gracefully and starts it again with the same flags.
func (l *Lab) RestartSpeaker(ctx context.Context, node string) error {
	return l.restartComponent(ctx, "ironlb-speaker-"+node)
}

func (l *Lab) getComponent(key string) *component {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.components[key]
}

// startComponent starts c and waits for its health endpoint.
func (l *Lab) startComponent(ctx context.Context, key string, c *component) error {
	p, err := l.startProc(procSpec{role: key, netns: c.netns, binary: c.binary, args: c.args, env: c.env, log: l.logPath(key)})
	if err != nil {
		return err
	}
	c.proc = p
	l.mu.Lock()
	l.components[key] = c
	l.mu.Unlock()
	if err := l.waitHealthy(ctx, key, c); err != nil {
		p.stop(5 * time.Second)
		return err
	}
	return nil
}

// waitHealthy waits until a component's health server answers: /readyz or /healthz with
// 200; a server that has neither check registered (404 on both) counts once it answers.
// The request is made from the component's namespace.
func (l *Lab) waitHealthy(ctx context.Context, key string, c *component) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	if c.netns != "" {
		d, err := host.NewNSDialer(c.netns)
		if err != nil {
			return err
		}
		defer d.Close()
		client.Transport = &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
	}
	return host.Poll(ctx, 60*time.Second, 100*time.Millisecond, key+" health at "+c.healthURL, func(ctx context.Context) (bool, error) {
		if err := c.proc.checkAlive(); err != nil {
			return false, err
		}
		notFound := 0
		for _, path := range []string{"/readyz", "/healthz"} {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.healthURL+path, nil)
			resp, err := client.Do(req)
			if err != nil {
				return false, err
			}
			_ = resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				return true, nil
			case http.StatusNotFound:
				notFound++
			default:
				return false, fmt.Errorf("GET %s%s: %s", c.healthURL, path, resp.Status)
			}
		}
		return notFound == 2, nil
	})
}

func (l *Lab) stopComponent(key string) error {
	c := l.getComponent(key)
	if c == nil || !c.proc.alive() {
		return fmt.Errorf("%s is not running", key)
	}
	c.proc.stop(10 * time.Second)
	return nil
}

func (l *Lab) restartComponent(ctx context.Context, key string) error {
	c := l.getComponent(key)
	if c == nil {
		return fmt.Errorf("%s was never started", key)
	}
	c.proc.stop(10 * time.Second)
	next := *c
	return l.startComponent(ctx, key, &next)
}

func (l *Lab) signalComponent(key string, sig syscall.Signal) error {
	c := l.getComponent(key)
	if c == nil || !c.proc.alive() {
		return fmt.Errorf("%s is not running", key)
	}
	return c.proc.signal(sig)
}

// memberlistSecret returns the file with the lab's gossip secret, creating it on first use:
// 32 random bytes, hex-encoded, shared by every speaker of the lab.
// MemberlistSecretFile is the file every speaker of the lab reads its gossip secret from
// (the chart's mounted Secret); keys of a rotation go beside it as FILE.next, FILE.previous.
func (l *Lab) MemberlistSecretFile() (string, error) { return l.memberlistSecret() }

func (l *Lab) memberlistSecret() (string, error) {
	path := filepath.Join(l.Dir, "memberlist-secret")
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return path, os.WriteFile(path, []byte(hex.EncodeToString(b)), 0o600)
}
