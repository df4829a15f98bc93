package lab

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/ironlb/ironlb/e2e/lab/host"
)

// DefaultStateDir holds the state of the current lab and its working folder.
const DefaultStateDir = "/run/ironlb-lab"

// prefixPattern matches every run prefix: "ilb" and three random characters. Names in the
// lab are PREFIX-SOMETHING, so a netns or link matching `^ilb[a-z0-9]{3}-` belongs to a lab.
var prefixPattern = regexp.MustCompile(`^ilb[a-z0-9]{3}$`)

// State is what a lab writes to StateDir/state.json so that another process can show it
// (`lab status`) or remove it (`lab down`, the next Start) after its owner has gone.
type State struct {
	Prefix     string      `json:"prefix"`
	Dir        string      `json:"dir"`
	OwnerPID   int         `json:"ownerPID"`
	Started    time.Time   `json:"started"`
	APIServer  string      `json:"apiServer,omitempty"`
	Kubeconfig string      `json:"kubeconfig,omitempty"`
	Nodes      []NodeState `json:"nodes,omitempty"`
	L2Client   string      `json:"l2Client,omitempty"`
	BGPClient  string      `json:"bgpClient,omitempty"`
	Router     string      `json:"router,omitempty"`
	Ready      bool        `json:"ready"`
}

// NodeState is one node in State.
type NodeState struct {
	Name  string `json:"name"`
	Netns string `json:"netns"`
	IPv4  string `json:"ipv4"`
	IPv6  string `json:"ipv6"`
}

func statePath(stateDir string) string { return filepath.Join(stateDir, "state.json") }

// ReadState returns the state of the lab in stateDir, or nil when there is none.
func ReadState(stateDir string) (*State, error) {
	data, err := os.ReadFile(statePath(stateDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", statePath(stateDir), err)
	}
	return &st, nil
}

// writeState replaces the state file atomically, so a reader never sees half of it.
func writeState(stateDir string, st *State) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := statePath(stateDir) + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, statePath(stateDir))
}

// LockFile is the machine's lab lock. It is one per machine, whatever the StateDir, because
// the lab's addresses are fixed and a sweep removes every lab on the machine.
const LockFile = "/run/ironlb-lab.lock"

// lockState takes the machine's lab lock. A running lab holds it for its whole life, so a
// second test package waits for the first instead of tearing its lab down; `lab up`
// releases it on exit, which marks its lab as free to be removed.
func lockState(ctx context.Context, stateDir string, logf func(string, ...any)) (*os.File, error) {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(LockFile, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for waited := false; ; waited = true {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !waited && logf != nil {
			owner := "another process"
			if st, _ := ReadState(stateDir); st != nil {
				owner = fmt.Sprintf("lab %s of pid %d", st.Prefix, st.OwnerPID)
			}
			logf("lab: waiting for %s to finish (it holds %s)", owner, LockFile)
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			owner := "another process"
			if st, _ := ReadState(stateDir); st != nil {
				owner = fmt.Sprintf("lab %s of pid %d", st.Prefix, st.OwnerPID)
			}
			return nil, fmt.Errorf("the lab lock %s is held by %s: %w", f.Name(), owner, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// newPrefix returns a fresh run prefix ("ilb" and three random characters).
func newPrefix() string {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return "ilb" + string(b)
}

// Down removes the lab recorded in stateDir and anything else left by an earlier lab on this
// machine. It waits up to ctx for a running lab's owner to release the lock.
func Down(ctx context.Context, stateDir string) error {
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	lock, err := lockState(ctx, stateDir, nil)
	if err != nil {
		return err
	}
	defer func() { _ = lock.Close() }()
	return sweep(ctx, stateDir, nil)
}

// sweep removes every lab resource on the machine: processes marked with markerEnv, network
// namespaces and host links whose names start with a lab prefix, FRR pathspaces, lab
// folders and the state file. The caller must hold the lock, which is what makes
// everything found stale. The logs of the last lab removed are kept (preserveLogs).
func sweep(ctx context.Context, stateDir string, logf func(string, ...any)) error {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	var errs []error
	st, err := ReadState(stateDir)
	if err != nil {
		errs = append(errs, err)
	}
	prefixes := map[string]bool{}
	if st != nil && prefixPattern.MatchString(st.Prefix) {
		prefixes[st.Prefix] = true
	}

	// Processes first, so nothing recreates state while it is being removed.
	namespaces := labNamespaces(ctx)
	// Recorded before the folders that hold them go.
	containerIDs := labContainerIDs(stateDir)
	errs = append(errs, killLab(ctx, stateDir, namespaces, containerIDs, prefixes, logf)...)

	// Overlays, shm, volumes and pod namespaces that containerd and the kubelets mounted.
	if err := unmountAll(stateDir); err != nil {
		errs = append(errs, err)
	}
	if err := removeCgroups(containerIDs); err != nil {
		errs = append(errs, err)
	}
	for _, ns := range namespaces {
		if err := host.IP(ctx, "", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	for _, link := range labHostLinks(ctx) {
		prefixes[strings.SplitN(link, "-", 2)[0]] = true
		if err := host.IP(ctx, "", "link", "del", link); err != nil && hostLinkExists(ctx, link) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, removeFRRPathspaces(prefixes)...)
	errs = append(errs, removeLabDirs(stateDir, prefixes)...)
	if err := os.Remove(statePath(stateDir)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	logRemoved(prefixes, logf)
	return errors.Join(errs...)
}

// killLab SIGKILLs every process of a lab: those marked with a lab prefix, those in its
// network namespaces, in pod namespaces that containerd mounted in a node's folder, and in
// its containers' cgroups. It adds the prefixes it finds to prefixes.
func killLab(ctx context.Context, stateDir string, namespaces []string, containerIDs map[string]bool, prefixes map[string]bool, logf func(string, ...any)) []error {
	marked := host.MarkedProcesses(markerEnv)
	var pids []int
	for pid, prefix := range marked {
		pids = append(pids, pid)
		prefixes[prefix] = true
	}
	for _, ns := range namespaces {
		prefixes[strings.SplitN(ns, "-", 2)[0]] = true
		out, _ := host.Run(ctx, "ip", "netns", "pids", ns)
		for _, f := range strings.Fields(out) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil && pid != os.Getpid() {
				pids = append(pids, pid)
			}
		}
	}
	pids = append(pids, processesInNetns(labNetnsInodes(stateDir))...)
	pids = append(pids, processesInContainerCgroups(containerIDs)...)
	if len(pids) == 0 {
		return nil
	}
	sort.Ints(pids)
	// SIGKILL at once: everything they could leave behind (iptables rules, routes, FRR
	// sockets, etcd data) lives in what is removed next, and a graceful shutdown of the
	// API server after etcd is gone can take minutes.
	logf("lab: killing %d processes", len(pids))
	if left := host.KillAll(uniqueInts(pids), 0); len(left) > 0 {
		return []error{fmt.Errorf("processes %v survived SIGKILL", left)}
	}
	return nil
}

// removeFRRPathspaces removes the FRR pathspaces of labs: PREFIX for the lab router,
// PREFIX-NAME for another (the multi-hop one).
func removeFRRPathspaces(prefixes map[string]bool) []error {
	var errs []error
	for _, dir := range []string{"/etc/frr", "/var/run/frr"} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if prefixPattern.MatchString(e.Name()) || isLabName(e.Name()) {
				prefixes[strings.SplitN(e.Name(), "-", 2)[0]] = true
				if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errs
}

// removeLabDirs removes the folders of labs under stateDir, keeping their logs first.
func removeLabDirs(stateDir string, prefixes map[string]bool) []error {
	var errs []error
	entries, _ := os.ReadDir(stateDir)
	for _, e := range entries {
		if e.IsDir() && prefixPattern.MatchString(e.Name()) {
			prefixes[e.Name()] = true
			if err := preserveLogs(stateDir, e.Name()); err != nil {
				errs = append(errs, err)
			}
			if err := os.RemoveAll(filepath.Join(stateDir, e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

func logRemoved(prefixes map[string]bool, logf func(string, ...any)) {
	if len(prefixes) == 0 {
		return
	}
	names := make([]string, 0, len(prefixes))
	for p := range prefixes {
		names = append(names, p)
	}
	sort.Strings(names)
	logf("lab: removed %s", strings.Join(names, ", "))
}

// preserveLogs moves a lab's logs to StateDir/last-logs (replacing the previous ones), so
// the logs of a failed test run can still be read after its lab is gone.
func preserveLogs(stateDir, prefix string) error {
	src := filepath.Join(stateDir, prefix, "logs")
	if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	dst := filepath.Join(stateDir, "last-logs")
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	return os.Rename(src, dst)
}

// labNamespaces lists the network namespaces named with a lab prefix.
func labNamespaces(ctx context.Context) []string {
	out, err := host.Run(ctx, "ip", "netns", "list")
	if err != nil {
		return nil
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && isLabName(f[0]) {
			names = append(names, f[0])
		}
	}
	return names
}

// labHostLinks lists the host's links named with a lab prefix.
func labHostLinks(ctx context.Context) []string {
	out, err := host.Run(ctx, "ip", "-o", "link", "show")
	if err != nil {
		return nil
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name := strings.TrimSuffix(f[1], ":")
		name, _, _ = strings.Cut(name, "@")
		if isLabName(name) {
			names = append(names, name)
		}
	}
	return names
}

func hostLinkExists(ctx context.Context, name string) bool {
	return host.IP(ctx, "", "link", "show", name) == nil
}

// isLabName reports whether a namespace or link name starts with a lab prefix.
func isLabName(name string) bool {
	prefix, _, ok := strings.Cut(name, "-")
	return ok && prefixPattern.MatchString(prefix)
}

func uniqueInts(in []int) []int {
	seen := map[int]bool{}
	var out []int
	for _, v := range in {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
