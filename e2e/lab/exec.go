package lab

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// commandTimeout bounds every short command (ip, nft, vtysh, kubectl...), so a wedged tool
// fails the step that ran it instead of hanging a test until go test's own timeout.
const commandTimeout = 60 * time.Second

// run runs a short command and returns its combined output. The error names the command
// and carries its output, so a failed step explains itself.
func run(ctx context.Context, name string, args ...string) (string, error) {
	return runLong(ctx, commandTimeout, name, args...)
}

// runLong is run with another timeout, for commands that wait themselves (helm --wait).
func runLong(ctx context.Context, timeout time.Duration, name string, args ...string) (string, error) {
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
			return "", fmt.Errorf("%s: %w", commandLine(name, args), err)
		}
		return text, fmt.Errorf("%s: %w: %s", commandLine(name, args), err, text)
	}
	return text, nil
}

// runIn runs a command inside a network namespace ("" is the host).
func runIn(ctx context.Context, netns, name string, args ...string) (string, error) {
	if netns == "" {
		return run(ctx, name, args...)
	}
	return run(ctx, "ip", append([]string{"netns", "exec", netns, name}, args...)...)
}

// ip runs `ip -n NETNS ARGS...` ("" is the host).
func ip(ctx context.Context, netns string, args ...string) error {
	if netns != "" {
		args = append([]string{"-n", netns}, args...)
	}
	_, err := run(ctx, "ip", args...)
	return err
}

// ipAll runs a list of `ip` commands in one namespace and stops at the first failure.
func ipAll(ctx context.Context, netns string, cmds ...[]string) error {
	for _, c := range cmds {
		if err := ip(ctx, netns, c...); err != nil {
			return err
		}
	}
	return nil
}

// commandLine renders a command for error messages.
func commandLine(name string, args []string) string {
	parts := append([]string{name}, args...)
	for i, p := range parts {
		if p == "" || strings.ContainsAny(p, " \t'\"") {
			parts[i] = fmt.Sprintf("%q", p)
		}
	}
	return strings.Join(parts, " ")
}
