package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ironlb/ironlb/e2e/lab/host"
)

// markerEnv is set in the environment of every long-running process the lab starts, with
// the run's prefix as its value. It survives the death of the process that started the lab
// (and FRR's daemonising), so `lab down` and the next Start find every process of a stale
// lab by reading /proc, without trusting pid files.
const markerEnv = "IRONLB_LAB"

// procSpec describes a long-running lab process.
type procSpec struct {
	role  string // names the process in errors and its log file, e.g. "kube-proxy-node-1"
	netns string // network namespace to run in; "" is the host
	// nsenter enters netns with nsenter instead of `ip netns exec`, which also remounts /sys
	// for the namespace and so hides the cgroup mounts that the kubelet, containerd and runc
	// need.
	nsenter bool
	binary  string // the real executable
	args    []string
	env     []string
	log     string // stdout and stderr are appended here
}

// proc is a process this Go process started and waits for.
type proc struct {
	spec    procSpec
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
}

// startProc starts a process in the lab. It is exec'd through a symlink named
// PREFIX-BINARY in the lab's bin folder, so `ps` and /proc/PID/comm show which lab owns it.
// It gets its own process group, so a terminal's Ctrl-C on `lab up` does not reach it and a
// stop can signal whatever it forks.
func (l *Lab) startProc(spec procSpec) (*proc, error) {
	if _, err := os.Stat(spec.binary); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.role, err)
	}
	link := filepath.Join(l.Dir, "bin", l.Prefix+"-"+filepath.Base(spec.binary))
	if _, err := os.Lstat(link); err != nil {
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return nil, err
		}
		if err := os.Symlink(spec.binary, link); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("start %s: %w", spec.role, err)
		}
	}
	var cmd *exec.Cmd
	switch {
	case spec.netns != "" && spec.nsenter:
		cmd = exec.Command("nsenter", append([]string{"--net=" + filepath.Join("/var/run/netns", spec.netns), "--", link}, spec.args...)...)
	case spec.netns != "":
		cmd = exec.Command("ip", append([]string{"netns", "exec", spec.netns, link}, spec.args...)...)
	default:
		cmd = exec.Command(link, spec.args...)
	}
	f, err := os.OpenFile(spec.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.role, err)
	}
	defer func() { _ = f.Close() }()
	_, _ = fmt.Fprintf(f, "=== %s lab: starting %s\n", time.Now().Format(time.RFC3339Nano), host.CommandLine(cmd.Path, cmd.Args[1:]))
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(append(os.Environ(), markerEnv+"="+l.Prefix), spec.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.role, err)
	}
	p := &proc{spec: spec, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// pid returns the process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// alive reports whether the process has not exited.
func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// exitError describes why a process that should be running is not, with the end of its log.
func (p *proc) exitError() error {
	return fmt.Errorf("%s exited (%w); last lines of %s:\n%s", p.spec.role, p.waitErr, p.spec.log, host.LogTail(p.spec.log, 30))
}

// withLogTail adds the end of the process's log to err, a wait for it that failed, when
// the process still runs (when it exited, err came from exitError, which has it already).
func (p *proc) withLogTail(err error) error {
	if err == nil || !p.alive() {
		return err
	}
	return fmt.Errorf("%w\nlast lines of %s:\n%s", err, p.spec.log, host.LogTail(p.spec.log, 30))
}

// checkAlive is a poll helper: a dead process is a permanent failure, not a reason to wait.
func (p *proc) checkAlive() error {
	if !p.alive() {
		return host.Permanent(p.exitError())
	}
	return nil
}

// signal sends sig to the process group.
func (p *proc) signal(sig syscall.Signal) error {
	if !p.alive() {
		return fmt.Errorf("%s is not running", p.spec.role)
	}
	return syscall.Kill(-p.pid(), sig)
}

// stop asks the process to exit (SIGTERM, plus SIGCONT in case it is frozen) and kills it
// after grace. It returns once the process has been reaped.
func (p *proc) stop(grace time.Duration) {
	if !p.alive() {
		return
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	_ = syscall.Kill(-p.pid(), syscall.SIGCONT)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	<-p.done
}
