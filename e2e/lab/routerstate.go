package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"

	"github.com/ironlb/ironlb/e2e/lab/frr"
	"github.com/ironlb/ironlb/e2e/lab/host"
)

// The router's state, as package frr reads it from vtysh.
type (
	NextHop     = frr.NextHop
	BGPPath     = frr.BGPPath
	BGPNeighbor = frr.BGPNeighbor
	BFDPeer     = frr.BFDPeer
)

// This file reads and changes a running FRR router (the lab router or the multi-hop one)
// through vtysh. Readers parse FRR's JSON output, so tests compare values, not text.

// Vtysh runs one vtysh command against the router's FRR and returns its output.
func (r *Router) Vtysh(ctx context.Context, command string) (string, error) {
	return host.Run(ctx, "vtysh", "-N", r.FRRName, "-c", command)
}

// Configure changes the router's running configuration: lines are entered in order after
// `configure terminal`, as a person would type them, for example
//
//	r.Configure(ctx, "router bgp 64512", "neighbor 198.18.0.11 password s3cret")
//
// Tests use it for what only some of them want (TCP MD5 passwords, an extra address
// family), so the lab's start-up configuration stays the same for everyone. vtysh stops at
// the first line FRR refuses; so does Configure, with FRR's message in the error.
func (r *Router) Configure(ctx context.Context, lines ...string) error {
	args := []string{"-N", r.FRRName, "-c", "configure terminal"}
	for _, line := range lines {
		args = append(args, "-c", line)
	}
	out, err := host.Run(ctx, "vtysh", args...)
	if err != nil {
		return fmt.Errorf("configure FRR %s: %w", r.FRRName, err)
	}
	// Some refusals ("% Unknown command", "% Invalid input") do not set vtysh's exit code.
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "%") {
			return fmt.Errorf("configure FRR %s: %s (lines %q)", r.FRRName, out, lines)
		}
	}
	return nil
}

// Vtysh runs one vtysh command against the lab router's FRR and returns its output.
func (l *Lab) Vtysh(ctx context.Context, command string) (string, error) {
	return l.Router.Vtysh(ctx, command)
}

// RouterConfigure changes the lab router's running configuration (see Router.Configure).
func (l *Lab) RouterConfigure(ctx context.Context, lines ...string) error {
	return l.Router.Configure(ctx, lines...)
}

// Routes returns the next hops of the router's selected route for prefix (a /32 or /128
// for a single address), as FRR's zebra sees them. No route is no next hops, not an error.
// Several next hops mean ECMP through several nodes.
func (r *Router) Routes(ctx context.Context, prefix netip.Prefix) ([]NextHop, error) {
	family := "ip"
	if prefix.Addr().Is6() {
		family = "ipv6"
	}
	out, err := r.Vtysh(ctx, fmt.Sprintf("show %s route %s json", family, prefix.Masked()))
	if err != nil {
		return nil, err
	}
	return frr.ParseRoutes(out)
}

// RouterRoutes returns the lab router's next hops for prefix (see Router.Routes).
func (l *Lab) RouterRoutes(ctx context.Context, prefix netip.Prefix) ([]NextHop, error) {
	return l.Router.Routes(ctx, prefix)
}

// BGPPaths returns every path the router's BGP table has for exactly prefix, from `show bgp
// ipv4|ipv6 unicast PREFIX json`. A prefix not in the table has no paths, not an error.
func (r *Router) BGPPaths(ctx context.Context, prefix netip.Prefix) ([]BGPPath, error) {
	family := "ipv4"
	if prefix.Addr().Is6() {
		family = "ipv6"
	}
	out, err := r.Vtysh(ctx, fmt.Sprintf("show bgp %s unicast %s json", family, prefix.Masked()))
	if err != nil {
		return nil, err
	}
	return frr.ParseBGPPaths(out)
}

// RouterBGPPaths returns the lab router's BGP paths for prefix (see Router.BGPPaths).
func (l *Lab) RouterBGPPaths(ctx context.Context, prefix netip.Prefix) ([]BGPPath, error) {
	return l.Router.BGPPaths(ctx, prefix)
}

// BGPNeighbors returns the router's BGP sessions, one per configured neighbor.
func (r *Router) BGPNeighbors(ctx context.Context) ([]BGPNeighbor, error) {
	out, err := r.Vtysh(ctx, "show bgp neighbors json")
	if err != nil {
		return nil, err
	}
	return frr.ParseNeighbors(out)
}

// BGPNeighbors returns the lab router's BGP sessions (see Router.BGPNeighbors).
func (l *Lab) BGPNeighbors(ctx context.Context) ([]BGPNeighbor, error) {
	return l.Router.BGPNeighbors(ctx)
}

// BFDPeers returns the router's BFD sessions from `show bfd peers json`.
func (r *Router) BFDPeers(ctx context.Context) ([]BFDPeer, error) {
	out, err := r.Vtysh(ctx, "show bfd peers json")
	if err != nil {
		return nil, err
	}
	return frr.ParseBFDPeers(out)
}

// RouterBFDPeers returns the lab router's BFD sessions.
func (l *Lab) RouterBFDPeers(ctx context.Context) ([]BFDPeer, error) {
	return l.Router.BFDPeers(ctx)
}

// KernelRoutes returns the next hops the router's kernel has for prefix (what packets
// really follow), from `ip -j route`.
func (r *Router) KernelRoutes(ctx context.Context, prefix netip.Prefix) ([]netip.Addr, error) {
	family := "-4"
	if prefix.Addr().Is6() {
		family = "-6"
	}
	out, err := host.Run(ctx, "ip", "-n", r.Netns, "-j", family, "route", "show", "exact", prefix.Masked().String())
	if err != nil {
		return nil, err
	}
	var routes []struct {
		Gateway  string `json:"gateway"`
		Nexthops []struct {
			Gateway string `json:"gateway"`
		} `json:"nexthops"`
	}
	if out == "" {
		return nil, nil
	}
	if err := json.Unmarshal([]byte(out), &routes); err != nil {
		return nil, fmt.Errorf("parse %q: %w", out, err)
	}
	var hops []netip.Addr
	for _, r := range routes {
		if a, err := netip.ParseAddr(r.Gateway); err == nil {
			hops = append(hops, a)
		}
		for _, nh := range r.Nexthops {
			if a, err := netip.ParseAddr(nh.Gateway); err == nil {
				hops = append(hops, a)
			}
		}
	}
	return hops, nil
}

// RouterKernelRoutes returns the next hops the lab router's kernel has for prefix.
func (l *Lab) RouterKernelRoutes(ctx context.Context, prefix netip.Prefix) ([]netip.Addr, error) {
	return l.Router.KernelRoutes(ctx, prefix)
}

// RouteMonitor records the route changes of the router's kernel, as `ip monitor route`
// prints them: what the router's forwarding really went through, however briefly, which a
// poll of the routing table can miss.
type RouteMonitor struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan struct{}
}

// MonitorRoutes starts recording the router kernel's route changes of one family.
func (r *Router) MonitorRoutes(ipv6 bool) (*RouteMonitor, error) {
	family := "-4"
	if ipv6 {
		family = "-6"
	}
	m := &RouteMonitor{out: &bytes.Buffer{}, done: make(chan struct{})}
	m.cmd = exec.Command("ip", "-n", r.Netns, family, "monitor", "route")
	m.cmd.Stdout = m.out
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("ip monitor route in %s: %w", r.Netns, err)
	}
	go func() {
		_ = m.cmd.Wait() // Stop kills it: the exit status says only that
		close(m.done)
	}()
	return m, nil
}

// Stop ends the recording and returns the changes, one per kernel message (a multipath
// route's next-hop lines joined to their route line).
func (m *RouteMonitor) Stop() []string {
	_ = m.cmd.Process.Kill()
	<-m.done
	var msgs []string
	for _, line := range strings.Split(m.out.String(), "\n") {
		switch {
		case strings.TrimSpace(line) == "":
		case (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) && len(msgs) > 0:
			msgs[len(msgs)-1] += " " + strings.TrimSpace(line)
		default:
			msgs = append(msgs, strings.TrimSpace(line))
		}
	}
	return msgs
}
