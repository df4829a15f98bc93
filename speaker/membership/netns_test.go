package membership

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironlb/ironlb/internal/netnstest"
)

// The real-network test: three speakers, each in its own network namespace on a
// bridge (which lives in a fourth namespace, so the host's network is never touched),
// addressed from 198.18.0.0/15. nftables on one node drops the memberlist port, the
// way an operator's firewall or a broken NIC would; the others must drop it, and take
// it back once the rule is gone.

const (
	netnsHelperEnv = "MEMBERSHIP_NETNS_HELPER" // set in the child processes
	netnsPrefix    = "ilbm"                    // namespace names: ilbm<pid>-<seq>-br, ilbm<pid>-<seq>-n1, ...
)

func TestMain(m *testing.M) {
	if os.Getenv(netnsHelperEnv) == "1" {
		os.Exit(netnsHelperMain())
	}
	os.Exit(m.Run())
}

// netnsHelperMain runs one speaker in a child process started inside a namespace. It
// prints "ALIVE a,b,c" at start and on every change, and stops when stdin closes (the
// test ended) or after two minutes at most, so it can never outlive the test for long.
func netnsHelperMain() int {
	cfg := DefaultConfig()
	cfg.NodeName = os.Getenv("MEMBERSHIP_NAME")
	cfg.BindAddr = os.Getenv("MEMBERSHIP_ADDR")
	cfg.Secret = testSecret
	cfg.Logger = testLogger()
	m, err := New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer m.Shutdown()
	m.SetPeers(strings.Split(os.Getenv("MEMBERSHIP_PEERS"), ","))
	report := func() { fmt.Printf("ALIVE %s\n", strings.Join(m.Alive(), ",")) }
	report()
	stdinClosed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	limit := time.After(2 * time.Minute)
	for {
		select {
		case <-m.Changes():
			report()
		case <-stdinClosed:
			return 0
		case <-limit:
			fmt.Fprintln(os.Stderr, "helper: time limit reached")
			return 2
		}
	}
}

// views collects the latest ALIVE line of each child.
type views struct {
	mu   sync.Mutex
	seen map[string][]string
}

func (v *views) set(name string, alive []string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seen[name] = alive
}

func (v *views) get(name string) []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.seen[name]
}

func TestNetnsFirewallPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("network namespaces; skipped in -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	lab := netnstest.New(t, netnsPrefix)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}

	br := lab.Namespace("br")
	lab.Run("ip", "-n", br, "link", "add", "br0", "type", "bridge")
	lab.Run("ip", "-n", br, "link", "set", "br0", "up")

	names := []string{"n1", "n2", "n3"}
	addrs := map[string]string{}
	namespaces := map[string]string{}
	var peers []string
	for i, name := range names {
		addrs[name] = fmt.Sprintf("198.18.0.%d", i+1)
		peers = append(peers, addrs[name]+":7946")
		ns := lab.Namespace(name)
		namespaces[name] = ns
		port := fmt.Sprintf("p%d", i+1)
		lab.Run("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", br)
		lab.Run("ip", "-n", br, "link", "set", port, "master", "br0", "up")
		lab.Run("ip", "-n", ns, "addr", "add", addrs[name]+"/24", "dev", "eth0")
		lab.Run("ip", "-n", ns, "link", "set", "eth0", "up")
		lab.Run("ip", "-n", ns, "link", "set", "lo", "up")
	}

	v := &views{seen: map[string][]string{}}
	for _, name := range names {
		startHelper(t, exe, namespaces[name], name, addrs[name], strings.Join(peers, ","), v)
	}
	waitViews := func(want map[string][]string, timeout time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		if !waitFor(timeout, func() bool {
			for n, w := range want {
				if !slices.Equal(v.get(n), w) {
					return false
				}
			}
			return true
		}) {
			for _, n := range names {
				t.Logf("%s sees %v", n, v.get(n))
			}
			t.Fatalf("views did not become %v within %s", want, timeout)
		}
		return time.Since(start)
	}
	took := waitViews(map[string][]string{"n1": names, "n2": names, "n3": names}, 10*time.Second)
	t.Logf("3 speakers in namespaces converged in %s", took.Round(time.Millisecond))

	// Drop the memberlist port, TCP and UDP, both ways on n3.
	n3 := namespaces["n3"]
	rules := `table inet ilbm_block {
	chain in { type filter hook input priority 0; policy accept; tcp dport 7946 drop; udp dport 7946 drop; }
	chain out { type filter hook output priority 0; policy accept; tcp dport 7946 drop; udp dport 7946 drop; }
}
`
	lab.RunStdin(rules, "ip", "netns", "exec", n3, "nft", "-f", "-")
	took = waitViews(map[string][]string{"n1": {"n1", "n2"}, "n2": {"n1", "n2"}}, 5*time.Second)
	t.Logf("n1 and n2 dropped firewalled n3 after %s", took.Round(time.Millisecond))
	took = waitViews(map[string][]string{"n3": {"n3"}}, 10*time.Second)
	t.Logf("n3 saw itself alone %s later", took.Round(time.Millisecond))

	lab.Run("ip", "netns", "exec", n3, "nft", "delete", "table", "inet", "ilbm_block")
	took = waitViews(map[string][]string{"n1": names, "n2": names, "n3": names}, 4*DefaultRejoinInterval+2*time.Second)
	t.Logf("one cluster again %s after the rule was removed", took.Round(time.Millisecond))
}

// startHelper runs this test binary as a speaker inside namespace ns and follows its
// reports. Cleanup closes its stdin and waits, killing it only if it does not stop.
func startHelper(t *testing.T, exe, ns, name, addr, peers string, v *views) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, exe)
	cmd.Env = append(os.Environ(), netnsHelperEnv+"=1",
		"MEMBERSHIP_NAME="+name, "MEMBERSHIP_ADDR="+addr, "MEMBERSHIP_PEERS="+peers)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "ALIVE "); ok {
				v.set(name, strings.Split(rest, ","))
			}
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { <-read; done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("speaker %s: %v; stderr: %s", name, err, stderr.String())
			}
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("speaker %s did not stop; killed it", name)
		}
	})
}
