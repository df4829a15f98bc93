// Package netnstest builds throw-away Linux network namespaces for tests that run code
// against the real kernel (ARP/NDP answers, memberlist over a firewalled link). Each Lab
// names its namespaces after a prefix, the test process's pid and a sequence number, so
// that a later run removes what a killed run left behind, and deletes them when the test
// ends. Tests that use it need root.
package netnstest

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// Lab creates the namespaces of one test.
type Lab struct {
	t  testing.TB
	id string // prefix, pid and sequence: every namespace name starts with it
}

var (
	seq   atomic.Int32
	stale sync.Map // prefix -> *sync.Once
)

// New returns a Lab whose namespaces start with prefix. It first removes, once per prefix
// and process, the namespaces with that prefix left by runs that are gone.
func New(t testing.TB, prefix string) *Lab {
	t.Helper()
	once, _ := stale.LoadOrStore(prefix, &sync.Once{})
	once.(*sync.Once).Do(func() { removeStale(t, prefix) })
	return &Lab{t: t, id: fmt.Sprintf("%s%d-%d", prefix, os.Getpid(), seq.Add(1))}
}

// removeStale deletes namespaces of earlier runs whose process is gone.
func removeStale(t testing.TB, prefix string) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() || unix.Kill(pid, 0) == nil {
			continue // not ours, or that run is still going
		}
		t.Logf("removing stale namespace %s", name)
		_ = exec.Command("ip", "netns", "del", name).Run()
	}
}

// Namespace creates a namespace named after role, deleted when the test ends (which also
// removes its links, addresses and nftables rules), with loopback up and IPv6 duplicate
// address detection off, so addresses (link-local too) are usable at once.
func (l *Lab) Namespace(role string) string {
	l.t.Helper()
	name := l.id + "-" + role
	l.Run("ip", "netns", "add", name)
	l.t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			l.t.Errorf("delete namespace %s: %v: %s", name, err, out)
		}
	})
	l.Run("ip", "-n", name, "link", "set", "lo", "up")
	l.Run("ip", "netns", "exec", name, "sysctl", "-qw",
		"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
	return name
}

// Run runs a command and fails the test if it fails; it returns the output.
func (l *Lab) Run(args ...string) string {
	l.t.Helper()
	return l.RunStdin("", args...)
}

// RunStdin is Run with stdin.
func (l *Lab) RunStdin(stdin string, args ...string) string {
	l.t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Try runs a command and returns its output and error.
func (l *Lab) Try(args ...string) (string, error) {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	return string(out), err
}

// In runs fn on the calling goroutine's thread switched into namespace ns, and switches
// back. Sockets fn opens stay in ns.
func (l *Lab) In(ns string, fn func()) {
	l.t.Helper()
	runtime.LockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		l.t.Fatal(err)
	}
	defer func() { _ = orig.Close() }()
	target, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		runtime.UnlockOSThread()
		l.t.Fatal(err)
	}
	defer func() { _ = target.Close() }()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		l.t.Fatalf("enter %s: %v", ns, err)
	}
	defer func() {
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			panic(fmt.Sprintf("cannot leave namespace %s: %v", ns, err)) // thread stays locked
		}
		runtime.UnlockOSThread()
	}()
	fn()
}
