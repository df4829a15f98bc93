package report

import (
	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/kubectl-ironlb/textout"

	"fmt"
	"io"
	"strings"
)

// PrintExplanation writes the explanation of one Service for a person.
func PrintExplanation(out io.Writer, e Explanation) error {
	w := textout.New(out)
	header := fmt.Sprintf("Service %s (type %s", e.Service, e.Type)
	if e.Class != "" {
		header += ", loadBalancerClass " + e.Class
	}
	w.Println(header + ")")
	if len(e.Addresses) == 0 {
		w.Println("Addresses:   none")
	}
	for i, a := range e.Addresses {
		label := "Addresses:  "
		if i > 0 {
			label = "            "
		}
		pool := "in no pool (kept from before)"
		switch {
		case a.Node:
			pool = "a node's InternalIP (" + ironlbv1.AnnotationNodeAddressFallback + ")"
		case a.Pool != "":
			pool = "from pool " + a.Pool
		}
		w.Printf("%s %s %s\n", label, a.IP, pool)
	}
	w.Println("Allocation:  " + e.Allocation)
	if p := e.Pending; p != nil {
		w.Printf("Why pending: %s: %s\n", p.Reason, p.Message)
		w.Println("  Meaning:   " + p.Explained.Meaning)
		w.Println("  To fix:    " + p.Explained.Fix)
	}
	if e.Type == "LoadBalancer" && len(e.Addresses) > 0 {
		w.Println("Layer 2:")
		for _, o := range e.L2 {
			w.Printf("  node %s answers ARP/NDP for %s on %s\n", o.Node, o.IP, o.Interfaces)
		}
		for _, n := range e.L2Notes {
			w.Println("  " + n)
		}
		w.Println("BGP:")
		if e.BGPCondition != "" {
			w.Println("  " + ironlbv1.ConditionBGPAdvertised + ": " + e.BGPCondition)
		}
		if e.BGPAttributes != "" {
			w.Println("  " + ironlbv1.ConditionBGPAttributes + ": " + e.BGPAttributes)
		}
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
			w.Printf("  node %s advertises %s %s\n", r.Node, r.Prefix, to)
		}
		for _, n := range e.BGPNotes {
			w.Println("  " + n)
		}
	}
	w.Println("Traffic policy:")
	for _, n := range e.TrafficNotes {
		w.Println("  " + n)
	}
	w.Println("Events:")
	if len(e.Events) == 0 {
		w.Println("  none")
		return w.Err()
	}
	tw := textout.Table(indent(w))
	tw.Println("AGE\tTYPE\tREASON\tFROM\tMESSAGE")
	for _, ev := range e.Events {
		tw.Printf("%s\t%s\t%s\t%s\t%s\n", ev.Age, ev.Type, ev.Reason, dash(ev.From), ev.Message)
	}
	w.Check(tw.Flush())
	return w.Err()
}
