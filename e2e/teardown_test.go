package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2e/lab"
)

// runCmd runs a command and returns its combined output; the error carries the output.
func runCmd(ctx context.Context, name string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// labName matches anything named with a lab prefix ("ilb" and three characters).
var labName = regexp.MustCompile(`ilb[a-z0-9]{3}`)

// footprint is everything a lab could leave on the machine, read with the system's own
// tools rather than the lab's code, so the test does not trust what it checks.
type footprint struct {
	Namespaces []string // ip netns
	Links      []string // ip link on the host
	Processes  []string // pid and command line of live processes named for a lab or marked IRONLB_LAB
	Mounts     []string // /proc/mounts lines naming a lab
	FRRDirs    []string // /etc/frr/PREFIX, /var/run/frr/PREFIX
	Ruleset    string   // the host's nftables ruleset (iptables-nft rules included)
	Iptables   string   // the host's iptables-save and ip6tables-save output
}

func takeFootprint(t *testing.T) footprint {
	t.Helper()
	ctx := context.Background()
	var f footprint
	out, err := runCmd(ctx, "ip", "netns", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		if fields := strings.Fields(line); len(fields) > 0 && labName.MatchString(fields[0]) {
			f.Namespaces = append(f.Namespaces, fields[0])
		}
	}
	out, err = runCmd(ctx, "ip", "-o", "link", "show")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		if fields := strings.Fields(line); len(fields) > 1 && labName.MatchString(fields[1]) {
			f.Links = append(f.Links, fields[1])
		}
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		dir := filepath.Join("/proc", e.Name())
		status, err := os.ReadFile(filepath.Join(dir, "status"))
		if err != nil || bytes.Contains(status, []byte("\nState:\tZ")) {
			continue // not a process, gone, or a zombie waiting to be reaped by init
		}
		cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
		environ, _ := os.ReadFile(filepath.Join(dir, "environ"))
		cmd := strings.TrimSpace(string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
		if e.Name() == fmt.Sprint(os.Getpid()) {
			continue
		}
		if labName.MatchString(cmd) || bytes.Contains(environ, []byte("IRONLB_LAB=")) {
			f.Processes = append(f.Processes, e.Name()+" "+cmd)
		}
	}
	mounts, _ := os.ReadFile("/proc/mounts")
	for _, line := range strings.Split(string(mounts), "\n") {
		if labName.MatchString(line) {
			f.Mounts = append(f.Mounts, line)
		}
	}
	for _, dir := range []string{"/etc/frr", "/var/run/frr"} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if labName.MatchString(e.Name()) {
				f.FRRDirs = append(f.FRRDirs, filepath.Join(dir, e.Name()))
			}
		}
	}
	if f.Ruleset, err = runCmd(ctx, "nft", "list", "ruleset"); err != nil {
		t.Fatal(err)
	}
	v4, err := runCmd(ctx, "iptables-save")
	if err != nil {
		t.Fatal(err)
	}
	v6, err := runCmd(ctx, "ip6tables-save")
	if err != nil {
		t.Fatal(err)
	}
	// iptables-save stamps its output with the time; keep only the rules.
	for _, line := range strings.Split(v4+v6, "\n") {
		if !strings.HasPrefix(line, "#") {
			f.Iptables += line + "\n"
		}
	}
	for _, s := range [][]string{f.Namespaces, f.Links, f.Processes, f.Mounts, f.FRRDirs} {
		sort.Strings(s)
	}
	return f
}

// has reports whether anything in the footprint is named for prefix.
func (f footprint) has(prefix string) []string {
	var found []string
	for _, list := range [][]string{f.Namespaces, f.Links, f.Processes, f.Mounts, f.FRRDirs} {
		for _, item := range list {
			if strings.Contains(item, prefix) {
				found = append(found, item)
			}
		}
	}
	return found
}

// requireClean fails the test if anything named for one of the test's labs remains, if the
// host's firewall rules changed, or (when no other lab runs now, which a lab-using test
// package running in parallel could start) if the lab footprint is not as before.
func requireClean(t *testing.T, when string, before, after footprint, prefixes ...string) {
	t.Helper()
	for _, p := range prefixes {
		if found := after.has(p); len(found) > 0 {
			t.Errorf("%s: lab %s left %v", when, p, found)
		}
	}
	if before.Ruleset != after.Ruleset || before.Iptables != after.Iptables {
		t.Errorf("%s: the host's firewall changed.\nbefore:\n%s%s\nafter:\n%s%s", when, before.Ruleset, before.Iptables, after.Ruleset, after.Iptables)
	}
	if st, _ := lab.ReadState(lab.DefaultStateDir); st != nil {
		t.Logf("%s: lab %s of pid %d is running; not comparing the whole footprint", when, st.Prefix, st.OwnerPID)
		return
	}
	if !reflect.DeepEqual(before, after) {
		b, _ := json.MarshalIndent(before, "", "  ")
		a, _ := json.MarshalIndent(after, "", "  ")
		t.Errorf("%s: the machine is not as before the lab.\nbefore: %s\nafter: %s", when, b, a)
	}
}

// TestTeardownLeavesNothing checks the lab's whole life cycle against the machine's own
// view: a lab left running by `lab up` (whose process has exited, as after a crash) is
// removed by the next Start; Stop removes everything, including pods and the multi-hop
// router; and `lab down` removes
// a detached lab. After each removal no namespace, link, process, mount, FRR folder or host
// firewall rule of a lab remains.
func TestTeardownLeavesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: needs root and a few minutes; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Fatal("end-to-end tests need root (they create network namespaces); run them as root or with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	root, err := lab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	stateDir := lab.DefaultStateDir
	labCmd := filepath.Join(t.TempDir(), "lab")
	build := exec.CommandContext(ctx, "go", "build", "-o", labCmd, "./e2e/cmd/lab")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build e2e/cmd/lab: %v: %s", err, out)
	}
	// Remove a lab that an earlier, killed run may have left, so the baseline is clean.
	if err := lab.Down(ctx, lab.DefaultStateDir); err != nil {
		t.Fatal(err)
	}
	before := takeFootprint(t)
	if found := before.has("ilb"); len(found) > 0 {
		t.Fatalf("lab leftovers before the test: %v", found)
	}

	labUp := func() string {
		t.Helper()
		start := time.Now()
		if out, err := runCmd(ctx, labCmd, "up", "--nodes", "1", "--state-dir", stateDir); err != nil {
			t.Fatal(err)
		} else if !strings.Contains(out, "KUBECONFIG=") || !strings.Contains(out, "make demo-down") {
			t.Errorf("lab up did not say how to use the lab:\n%s", out)
		}
		st, err := lab.ReadState(stateDir)
		if err != nil || st == nil {
			t.Fatalf("no state after lab up: %v", err)
		}
		t.Logf("lab up: %s in %s", st.Prefix, time.Since(start).Round(time.Millisecond))
		if found := takeFootprint(t).has(st.Prefix); len(found) == 0 {
			t.Fatalf("lab up %s left nothing running", st.Prefix)
		}
		return st.Prefix
	}

	t.Run("Start removes a stale lab", func(t *testing.T) {
		stale := labUp()
		l, err := lab.Start(ctx, lab.Options{Nodes: 1, StateDir: stateDir, Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		stopped := false
		defer func() {
			if !stopped {
				_ = l.Stop()
			}
		}()
		during := takeFootprint(t)
		if found := during.has(stale); len(found) > 0 {
			t.Errorf("the stale lab %s is still there: %v", stale, found)
		}
		if len(during.has(l.Prefix)) == 0 {
			t.Fatalf("the new lab %s is not visible", l.Prefix)
		}
		if _, err := l.StartPod(ctx, l.Nodes[0].Name, "pod-a", nil); err != nil {
			t.Fatal(err)
		}
		// The multi-hop router is a second FRR pathspace (PREFIX-mh) in the BGP client.
		if _, err := l.StartMultiHopRouter(ctx); err != nil {
			t.Fatal(err)
		}
		if found := takeFootprint(t).has(l.Prefix + "-mh"); len(found) == 0 {
			t.Errorf("the multi-hop router's FRR pathspace %s-mh is not visible", l.Prefix)
		}
		start := time.Now()
		stopped = true
		if err := l.Stop(); err != nil {
			t.Fatal(err)
		}
		t.Logf("Stop took %s", time.Since(start).Round(time.Millisecond))
		requireClean(t, "after Stop", before, takeFootprint(t), stale, l.Prefix)
	})

	t.Run("lab down removes a detached lab", func(t *testing.T) {
		prefix := labUp()
		if out, err := runCmd(ctx, labCmd, "status", "--state-dir", stateDir); err != nil || !strings.Contains(out, "ready=true") {
			t.Errorf("lab status: %v\n%s", err, out)
		}
		start := time.Now()
		if _, err := runCmd(ctx, labCmd, "down", "--state-dir", stateDir); err != nil {
			t.Fatal(err)
		}
		t.Logf("lab down took %s", time.Since(start).Round(time.Millisecond))
		requireClean(t, "after lab down", before, takeFootprint(t), prefix)
		if st, err := lab.ReadState(stateDir); err != nil || st != nil {
			t.Errorf("state left after lab down: %+v, %v", st, err)
		}
	})
}
