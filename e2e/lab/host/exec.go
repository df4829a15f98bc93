// Package host is the lab's plumbing on the machine: short commands with a timeout (and in
// a network namespace), code run on a thread inside a network namespace, dialers from one,
// polling with a diagnosis, and finding and ending processes. It knows nothing of a lab.
package host

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// CommandTimeout bounds every short command (ip, nft, vtysh, kubectl...), so a wedged tool
// fails the step that ran it instead of hanging a test until go test's own timeout.
const CommandTimeout = 60 * time.Second

// Run runs a short command and returns its combined output. The error names the command
// and carries its output, so a failed step explains itself.
func Run(ctx context.Context, name string, args ...string) (string, error) {
	return RunLong(ctx, CommandTimeout, name, args...)
}

// RunLong is run with another timeout, for commands that wait themselves (helm --wait).
func RunLong(ctx context.Context, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	text := strings.TrimSpace(out.String())
	if err != nil {
		if text == "" {
			return "", fmt.Errorf("%s: %w", CommandLine(name, args), err)
		}
		return text, fmt.Errorf("%s: %w: %s", CommandLine(name, args), err, text)
	}
	return text, nil
}

// RunIn runs a command inside a network namespace ("" is the host).
func RunIn(ctx context.Context, netns, name string, args ...string) (string, error) {
	if netns == "" {
		return Run(ctx, name, args...)
	}
	return Run(ctx, "ip", append([]string{"netns", "exec", netns, name}, args...)...)
}

// IP runs `ip -n NETNS ARGS...` ("" is the host).
func IP(ctx context.Context, netns string, args ...string) error {
	if netns != "" {
		args = append([]string{"-n", netns}, args...)
	}
	_, err := Run(ctx, "ip", args...)
	return err
}

// IPAll runs a list of `ip` commands in one namespace and stops at the first failure.
func IPAll(ctx context.Context, netns string, cmds ...[]string) error {
	for _, c := range cmds {
		if err := IP(ctx, netns, c...); err != nil {
			return err
		}
	}
	return nil
}

// CommandLine renders a command for error messages.
func CommandLine(name string, args []string) string {
	parts := append([]string{name}, args...)
	for i, p := range parts {
		if p == "" || strings.ContainsAny(p, " \t'\"") {
			parts[i] = fmt.Sprintf("%q", p)
		}
	}
	return strings.Join(parts, " ")
}
