package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const (
	frrDaemonDir = "/usr/lib/frr"
	frrEtcDir    = "/etc/frr"
	frrRunDir    = "/var/run/frr"
)

// frrDaemons are the FRR daemons the router runs: zebra (routes into the kernel), bgpd and
// bfdd (fast failure detection of BGP peers).
var frrDaemons = []string{"zebra", "bgpd", "bfdd"}

// frrConfig renders the router's configuration: one BGP neighbor per node address (v4 and
// v6), BFD on every neighbor, and maximum-paths so routes advertised by several nodes are
// installed as ECMP routes. Neighbors are explicit rather than a listen range so that `show
// bgp summary` lists every node from the start, peered or not.
func (l *Lab) frrConfig() string {
	r := l.Router
	var b strings.Builder
	fmt.Fprintf(&b, "frr defaults traditional\nhostname %s\nlog file %s informational\n!\n", r.Netns, filepath.Join(l.Dir, "logs", "frr.log"))
	fmt.Fprintf(&b, "router bgp %d\n", r.ASN)
	fmt.Fprintf(&b, " bgp router-id %s\n", r.IPv4)
	b.WriteString(" no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n no bgp network import-check\n")
	b.WriteString(" bgp bestpath as-path multipath-relax\n")
	for _, pg := range []string{"nodes4", "nodes6"} {
		fmt.Fprintf(&b, " neighbor %[1]s peer-group\n neighbor %[1]s remote-as %[2]d\n neighbor %[1]s bfd\n neighbor %[1]s timers connect 5\n", pg, l.opts.NodeASN)
	}
	for _, n := range l.Nodes {
		fmt.Fprintf(&b, " neighbor %s peer-group nodes4\n neighbor %s description %s\n", n.IPv4, n.IPv4, n.Name)
		fmt.Fprintf(&b, " neighbor %s peer-group nodes6\n neighbor %s description %s\n", n.IPv6, n.IPv6, n.Name)
	}
	ibgp := ""
	if l.opts.NodeASN == r.ASN {
		ibgp = " ibgp"
	}
	for _, af := range []struct{ name, pg string }{{"ipv4", "nodes4"}, {"ipv6", "nodes6"}} {
		fmt.Fprintf(&b, " address-family %s unicast\n  neighbor %s activate\n  maximum-paths%s 16\n", af.name, af.pg, ibgp)
		b.WriteString(" exit-address-family\n")
	}
	b.WriteString("exit\n!\n")
	return b.String()
}

// startFRR gives the router its own FRR pathspace (/etc/frr/NAME, /var/run/frr/NAME owned by
// frr), starts zebra, bgpd and bfdd daemonised inside the router namespace, and loads the
// configuration with `vtysh -b`. It returns once vtysh shows the configured neighbors.
func (l *Lab) startFRR(ctx context.Context) error {
	name := l.Router.FRRName
	etc, runDir := filepath.Join(frrEtcDir, name), filepath.Join(frrRunDir, name)
	frrUser, err := user.Lookup("frr")
	if err != nil {
		return fmt.Errorf("FRR is not installed (no user frr): %w", err)
	}
	uid, _ := strconv.Atoi(frrUser.Uid)
	gid, _ := strconv.Atoi(frrUser.Gid)
	for _, d := range []string{etc, runDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := os.Chown(d, uid, gid); err != nil {
			return err
		}
	}
	files := map[string]string{"frr.conf": l.frrConfig(), "vtysh.conf": ""}
	for f, content := range files {
		p := filepath.Join(etc, f)
		if err := os.WriteFile(p, []byte(content), 0o640); err != nil {
			return err
		}
		if err := os.Chown(p, uid, gid); err != nil {
			return err
		}
	}
	// FRR writes its log as user frr; the file must exist and be theirs.
	logFile := filepath.Join(l.Dir, "logs", "frr.log")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		return err
	}
	if err := os.Chown(logFile, uid, gid); err != nil {
		return err
	}
	for _, d := range frrDaemons {
		if err := l.startFRRDaemon(ctx, d); err != nil {
			return err
		}
	}
	if out, err := run(ctx, "vtysh", "-N", name, "-b"); err != nil {
		return fmt.Errorf("load FRR configuration: %w (%s)", err, out)
	}
	want := 2 * len(l.Nodes)
	return poll(ctx, 20*time.Second, 100*time.Millisecond, "FRR to list its BGP neighbors", func(ctx context.Context) (bool, error) {
		peers, err := l.BGPNeighbors(ctx)
		if err != nil {
			return false, err
		}
		if len(peers) < want {
			return false, fmt.Errorf("%d of %d neighbors configured", len(peers), want)
		}
		return true, nil
	})
}

// startFRRDaemon starts one FRR daemon with -d (it forks and the parent exits), vty on
// loopback only, inside the router namespace, marked with markerEnv like every lab process.
func (l *Lab) startFRRDaemon(ctx context.Context, daemon string) error {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	log, err := os.OpenFile(l.logPath("frr-start"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = log.Close() }()
	// Output goes to a file, not a pipe: a daemon that kept the pipe open would block Wait.
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", l.Router.Netns,
		filepath.Join(frrDaemonDir, daemon), "-d", "-N", l.Router.FRRName, "-A", "127.0.0.1", "--limit-fds", "4096")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), markerEnv+"="+l.Prefix)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("start FRR %s: %w; log:\n%s", daemon, err, logTail(l.logPath("frr-start"), 10))
	}
	pidFile := filepath.Join(frrRunDir, l.Router.FRRName, daemon+".pid")
	return poll(ctx, 10*time.Second, 20*time.Millisecond, "FRR "+daemon+" pid file", func(context.Context) (bool, error) {
		_, err := os.Stat(pidFile)
		return err == nil, err
	})
}

// Vtysh runs one vtysh command against the router's FRR and returns its output.
func (l *Lab) Vtysh(ctx context.Context, command string) (string, error) {
	return run(ctx, "vtysh", "-N", l.Router.FRRName, "-c", command)
}

// NextHop is one next hop of a route on the router.
type NextHop struct {
	// Via is the next hop's address (a node's address for BGP routes).
	Via netip.Addr
	// Interface is the outgoing interface.
	Interface string
	// Active reports whether FRR uses the next hop; Installed whether it is in the kernel.
	Active, Installed bool
	// Protocol is the route's source ("bgp", "connected", ...).
	Protocol string
}

// routeJSON is the part of `show ip route PREFIX json` the lab reads.
type routeJSON struct {
	Protocol  string `json:"protocol"`
	Selected  bool   `json:"selected"`
	Installed bool   `json:"installed"`
	Nexthops  []struct {
		IP            string `json:"ip"`
		InterfaceName string `json:"interfaceName"`
		Active        bool   `json:"active"`
		FIB           bool   `json:"fib"`
	} `json:"nexthops"`
}

// RouterRoutes returns the next hops of the router's selected route for prefix (a /32 or
// /128 for a single address), as FRR's zebra sees them. No route is no next hops, not an
// error. Several next hops mean ECMP through several nodes.
func (l *Lab) RouterRoutes(ctx context.Context, prefix netip.Prefix) ([]NextHop, error) {
	family := "ip"
	if prefix.Addr().Is6() {
		family = "ipv6"
	}
	out, err := l.Vtysh(ctx, fmt.Sprintf("show %s route %s json", family, prefix.Masked()))
	if err != nil {
		return nil, err
	}
	var routes map[string][]routeJSON
	if err := json.Unmarshal([]byte(out), &routes); err != nil {
		return nil, fmt.Errorf("parse route JSON %q: %w", out, err)
	}
	var hops []NextHop
	for _, rs := range routes {
		for _, r := range rs {
			if !r.Selected {
				continue
			}
			for _, nh := range r.Nexthops {
				h := NextHop{Interface: nh.InterfaceName, Active: nh.Active, Installed: nh.FIB, Protocol: r.Protocol}
				if a, err := netip.ParseAddr(nh.IP); err == nil {
					h.Via = a
				}
				hops = append(hops, h)
			}
		}
	}
	return hops, nil
}

// BGPNeighbor is the state of one of the router's BGP sessions.
type BGPNeighbor struct {
	Address netip.Addr
	// State is the BGP FSM state ("Idle", "Active", "Established", ...).
	State string
	// PrefixesReceived counts the prefixes the node advertises.
	PrefixesReceived int
}

// BGPNeighbors returns the router's BGP sessions from `show bgp summary json`.
func (l *Lab) BGPNeighbors(ctx context.Context) ([]BGPNeighbor, error) {
	out, err := l.Vtysh(ctx, "show bgp summary json")
	if err != nil {
		return nil, err
	}
	var summary map[string]struct {
		Peers map[string]struct {
			State  string `json:"state"`
			PfxRcd int    `json:"pfxRcd"`
		} `json:"peers"`
	}
	if err := json.Unmarshal([]byte(out), &summary); err != nil {
		return nil, fmt.Errorf("parse bgp summary %q: %w", out, err)
	}
	var peers []BGPNeighbor
	for _, af := range summary {
		for addr, p := range af.Peers {
			a, err := netip.ParseAddr(addr)
			if err != nil {
				continue
			}
			peers = append(peers, BGPNeighbor{Address: a, State: p.State, PrefixesReceived: p.PfxRcd})
		}
	}
	return peers, nil
}

// RouterKernelRoutes returns the next hops the router's kernel has for prefix (what packets
// really follow), from `ip -j route`.
func (l *Lab) RouterKernelRoutes(ctx context.Context, prefix netip.Prefix) ([]netip.Addr, error) {
	family := "-4"
	if prefix.Addr().Is6() {
		family = "-6"
	}
	out, err := run(ctx, "ip", "-n", l.Router.Netns, "-j", family, "route", "show", "exact", prefix.Masked().String())
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
