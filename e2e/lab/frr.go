package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ironlb/ironlb/e2e/lab/host"
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
	fmt.Fprintf(&b, "frr defaults traditional\nhostname %s\nlog file %s informational\n!\n", r.Netns, l.frrLog(r))
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

// startFRR starts the lab router's FRR and returns once vtysh shows the configured
// neighbors.
func (l *Lab) startFRR(ctx context.Context) error {
	if err := l.startFRRInstance(ctx, l.Router, l.frrConfig(), frrDaemons); err != nil {
		return err
	}
	want := 2 * len(l.Nodes)
	return host.Poll(ctx, 20*time.Second, 100*time.Millisecond, "FRR to list its BGP neighbors", func(ctx context.Context) (bool, error) {
		peers, err := l.Router.BGPNeighbors(ctx)
		if err != nil {
			return false, err
		}
		if len(peers) < want {
			return false, fmt.Errorf("%d of %d neighbors configured", len(peers), want)
		}
		return true, nil
	})
}

// frrLog is the log file an FRR instance writes (as user frr) in the lab's log folder.
func (l *Lab) frrLog(r *Router) string {
	if r.FRRName == l.Prefix {
		return filepath.Join(l.Dir, "logs", "frr.log")
	}
	return filepath.Join(l.Dir, "logs", "frr-"+strings.TrimPrefix(r.FRRName, l.Prefix+"-")+".log")
}

// startFRRInstance gives a router its own FRR pathspace (/etc/frr/NAME, /var/run/frr/NAME
// owned by frr), starts the daemons daemonised inside the router's namespace, and loads the
// configuration with `vtysh -b`. Several instances coexist on one machine because each has
// its own pathspace (sockets, pid files) and its own network namespace (port 179).
func (l *Lab) startFRRInstance(ctx context.Context, r *Router, config string, daemons []string) error {
	name := r.FRRName
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
	files := map[string]string{"frr.conf": config, "vtysh.conf": ""}
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
	logFile := l.frrLog(r)
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		return err
	}
	if err := os.Chown(logFile, uid, gid); err != nil {
		return err
	}
	for _, d := range daemons {
		if err := l.startFRRDaemon(ctx, r, d); err != nil {
			return err
		}
	}
	if out, err := host.Run(ctx, "vtysh", "-N", name, "-b"); err != nil {
		return fmt.Errorf("load FRR configuration of %s: %w (%s)", name, err, out)
	}
	return nil
}

// startFRRDaemon starts one FRR daemon with -d (it forks and the parent exits), vty on
// loopback only, inside the router's namespace, marked with markerEnv like every lab process.
func (l *Lab) startFRRDaemon(ctx context.Context, r *Router, daemon string) error {
	ctx, cancel := context.WithTimeout(ctx, host.CommandTimeout)
	defer cancel()
	log, err := os.OpenFile(l.logPath("frr-start"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = log.Close() }()
	// Output goes to a file, not a pipe: a daemon that kept the pipe open would block Wait.
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", r.Netns,
		filepath.Join(frrDaemonDir, daemon), "-d", "-N", r.FRRName, "-A", "127.0.0.1", "--limit-fds", "4096")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), markerEnv+"="+l.Prefix)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("start FRR %s of %s: %w; log:\n%s", daemon, r.FRRName, err, host.LogTail(l.logPath("frr-start"), 10))
	}
	pidFile := filepath.Join(frrRunDir, r.FRRName, daemon+".pid")
	return host.Poll(ctx, 10*time.Second, 20*time.Millisecond, "FRR "+daemon+" pid file", func(context.Context) (bool, error) {
		_, err := os.Stat(pidFile)
		return err == nil, err
	})
}
