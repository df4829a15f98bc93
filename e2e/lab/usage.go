package lab

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/ironlb/ironlb/e2e/lab/host"
)

// Usage tells a person how to use the running lab: the kubeconfig, the namespaces and how
// to run commands in them, and how to tear it down.
func (l *Lab) Usage() string {
	st, err := ReadState(l.opts.StateDir)
	if err != nil || st == nil {
		return fmt.Sprintf("lab %s: state unreadable: %v\n", l.Prefix, err)
	}
	return usage(st)
}

func usage(st *State) string {
	var b strings.Builder
	fmt.Fprintf(&b, "The ironlb lab %s is running: %d nodes, API server %s.\n\n", st.Prefix, len(st.Nodes), st.APIServer)
	fmt.Fprintf(&b, "Use it with kubectl (bin/kubectl):\n  export KUBECONFIG=%s\n  kubectl get nodes -o wide\n\n", st.Kubeconfig)
	b.WriteString("Machines (run a command in one with `ip netns exec NAMESPACE COMMAND`):\n")
	rows := [][]string{{"MACHINE", "NAMESPACE", "IPv4", "IPv6"}}
	for _, n := range st.Nodes {
		rows = append(rows, []string{n.Name, n.Netns, n.IPv4, n.IPv6})
	}
	rows = append(rows,
		[]string{"L2 client", st.L2Client, l2ClientV4.String(), l2ClientV6.String()},
		[]string{"router (FRR)", st.Router, routerV4.String(), routerV6.String()},
		[]string{"BGP client", st.BGPClient, bgpClientV4.String(), bgpClientV6.String()},
	)
	writeTable(&b, rows)
	fmt.Fprintf(&b, "\nFor example:\n")
	fmt.Fprintf(&b, "  ip netns exec %s curl http://<EXTERNAL-IP or node IP>:<port>/\n", st.L2Client)
	fmt.Fprintf(&b, "  ip netns exec %s arping -c1 -i %s-eth0 <IPv4>\n", st.L2Client, st.Prefix)
	fmt.Fprintf(&b, "  vtysh -N %s -c 'show bgp summary'\n", st.Prefix)
	fmt.Fprintf(&b, "\nLogs: %s/logs\nTear it down: make demo-down\n", st.Dir)
	return b.String()
}

// Status describes the lab recorded in stateDir: whether it is ready, whether its owner is
// alive, how many of its processes and namespaces exist, and how to use it.
func Status(stateDir string) (string, error) {
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	st, err := ReadState(stateDir)
	if err != nil {
		return "", err
	}
	if st == nil {
		return "No lab is running (no " + statePath(stateDir) + ").\n", nil
	}
	procs := 0
	for _, prefix := range host.MarkedProcesses(markerEnv) {
		if prefix == st.Prefix {
			procs++
		}
	}
	owner := "exited (detached lab)"
	if syscall.Kill(st.OwnerPID, 0) == nil {
		owner = "running"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "lab %s: ready=%v, started %s by pid %d (%s), %d processes\n\n",
		st.Prefix, st.Ready, st.Started.Format("2006-01-02 15:04:05"), st.OwnerPID, owner, procs)
	if _, err := os.Stat(st.Kubeconfig); err == nil {
		b.WriteString(usage(st))
	}
	return b.String(), nil
}

// writeTable writes rows as left-aligned, space-separated columns, indented by two spaces.
func writeTable(b *strings.Builder, rows [][]string) {
	var widths []int
	for _, r := range rows {
		for i, cell := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], len(cell))
		}
	}
	for _, r := range rows {
		b.WriteString(" ")
		for i, cell := range r {
			b.WriteString(" " + cell)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-len(cell)+1))
			}
		}
		b.WriteString("\n")
	}
}
