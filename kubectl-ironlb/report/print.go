package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// PrintExplanation writes the explanation of one Service for a person.
func PrintExplanation(w io.Writer, e Explanation) {
	header := fmt.Sprintf("Service %s (type %s", e.Service, e.Type)
	if e.Class != "" {
		header += ", loadBalancerClass " + e.Class
	}
	fmt.Fprintln(w, header+")")
	if len(e.Addresses) == 0 {
		fmt.Fprintln(w, "Addresses:   none")
	}
	for i, a := range e.Addresses {
		label := "Addresses:  "
		if i > 0 {
			label = "            "
		}
		pool := "in no pool (kept from before)"
		if a.Pool != "" {
			pool = "from pool " + a.Pool
		}
		fmt.Fprintf(w, "%s %s %s\n", label, a.IP, pool)
	}
	fmt.Fprintln(w, "Allocation:  "+e.Allocation)
	if p := e.Pending; p != nil {
		fmt.Fprintf(w, "Why pending: %s: %s\n", p.Reason, p.Message)
		fmt.Fprintln(w, "  Meaning:   "+p.Explained.Meaning)
		fmt.Fprintln(w, "  To fix:    "+p.Explained.Fix)
	}
	if e.Type == "LoadBalancer" && len(e.Addresses) > 0 {
		fmt.Fprintln(w, "Layer 2:")
		for _, o := range e.L2 {
			fmt.Fprintf(w, "  node %s answers ARP/NDP for %s on %s\n", o.Node, o.IP, o.Interfaces)
		}
		for _, n := range e.L2Notes {
			fmt.Fprintln(w, "  "+n)
		}
		fmt.Fprintln(w, "BGP:")
		for _, r := range e.BGP {
			var s []string
			for _, ps := range r.Sessions {
				state := ps.State
				if ps.Since != "" {
					state += " since " + ps.Since
				}
				s = append(s, fmt.Sprintf("%s (%s)", ps.Peer, state))
			}
			to := "no peer selects this node"
			if len(s) > 0 {
				to = "to " + strings.Join(s, ", ")
			}
			fmt.Fprintf(w, "  node %s advertises %s %s\n", r.Node, r.Prefix, to)
		}
		for _, n := range e.BGPNotes {
			fmt.Fprintln(w, "  "+n)
		}
	}
	fmt.Fprintln(w, "Traffic policy:")
	for _, n := range e.TrafficNotes {
		fmt.Fprintln(w, "  "+n)
	}
	fmt.Fprintln(w, "Events:")
	if len(e.Events) == 0 {
		fmt.Fprintln(w, "  none")
		return
	}
	tw := tabwriter.NewWriter(indent(w), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AGE\tTYPE\tREASON\tFROM\tMESSAGE")
	for _, ev := range e.Events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ev.Age, ev.Type, ev.Reason, dash(ev.From), ev.Message)
	}
	_ = tw.Flush()
}
