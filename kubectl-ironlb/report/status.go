package report

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/kubectl-ironlb/textout"
)

// Status is the one-screen view of ironlb in a cluster.
type Status struct {
	Pools          []PoolReport          `json:"pools"`
	Advertisements []AdvertisementReport `json:"advertisements"`
	Speakers       []SpeakerReport       `json:"speakers"`
	SpeakersError  string                `json:"speakersError,omitempty"`
	Sessions       []SessionReport       `json:"bgpSessions"`
}

// AdvertisementReport is an advertisement's Ready condition as the controller wrote it.
type AdvertisementReport struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Ready   string `json:"ready"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// SpeakerReport is one node: its speaker pod, the memberlist view the speaker reports on
// its pod, and the addresses it answers ARP/NDP for, as the L2Announced conditions on the
// Services say.
type SpeakerReport struct {
	Node    string        `json:"node"`
	Pod     string        `json:"pod,omitempty"`
	Running bool          `json:"running"`
	Gossip  *GossipReport `json:"gossip,omitempty"`
	L2      []L2Owner     `json:"l2,omitempty"`
}

// GossipReport is the ironlb.io/Gossip condition a speaker writes on its own pod: which
// speakers it sees in memberlist among those it expects. Nil when it reported none (an
// older speaker, layer 2 off, or not yet).
type GossipReport struct {
	Status  string       `json:"status"`
	Reason  string       `json:"reason,omitempty"`
	Message string       `json:"message,omitempty"`
	Since   *metav1.Time `json:"since,omitempty"`
}

// gossipOf reads a speaker pod's Gossip condition.
func gossipOf(p *corev1.Pod) *GossipReport {
	for _, c := range p.Status.Conditions {
		if c.Type == ironlbv1.ConditionGossip {
			r := &GossipReport{Status: string(c.Status), Reason: c.Reason, Message: c.Message}
			if !c.LastTransitionTime.IsZero() {
				r.Since = c.LastTransitionTime.DeepCopy()
			}
			return r
		}
	}
	return nil
}

// String is the GOSSIP column: the status, the reason when it is not True, the message.
func (g *GossipReport) String() string {
	if g == nil {
		return "not reported"
	}
	head := g.Status
	if g.Status != string(corev1.ConditionTrue) && g.Reason != "" {
		head += " (" + g.Reason + ")"
	}
	if g.Message == "" {
		return head
	}
	return head + ": " + g.Message
}

// SessionReport is one BGP session: a peer seen from one node, from the BGPPeer's status.
type SessionReport struct {
	Peer     string       `json:"peer"`
	Address  string       `json:"address"`
	Node     string       `json:"node"`
	State    string       `json:"state"`
	Since    *metav1.Time `json:"since,omitempty"`
	Prefixes int32        `json:"prefixesSent"`
	Message  string       `json:"message,omitempty"`
}

// L2Owner is one address and the node answering for it.
type L2Owner struct {
	Service    string `json:"service"`
	IP         string `json:"ip"`
	Node       string `json:"node"`
	Interfaces string `json:"interfaces"`
}

// l2Part matches one part of the L2Announced message the speaker writes.
var l2Part = regexp.MustCompile(`^node (\S+) answers ARP/NDP for (\S+) on (.+)$`)

// L2Owners reads the nodes answering for a Service's addresses from its L2Announced
// condition, and the addresses no node answers for, with the speaker's reason.
func L2Owners(svc *corev1.Service) (owners []L2Owner, unannounced []string) {
	c := meta.FindStatusCondition(svc.Status.Conditions, ironlbv1.ConditionL2Announced)
	if c == nil {
		return nil, nil
	}
	for _, part := range strings.Split(c.Message, "; ") {
		if m := l2Part.FindStringSubmatch(part); m != nil {
			owners = append(owners, L2Owner{Service: svc.Namespace + "/" + svc.Name, Node: m[1], IP: m[2], Interfaces: m[3]})
		} else if part != "" {
			unannounced = append(unannounced, part)
		}
	}
	return owners, unannounced
}

// BuildStatus builds the status view from a snapshot.
func BuildStatus(s *Snapshot) Status {
	st := Status{Pools: Pools(s), SpeakersError: s.SpeakersError}
	for _, a := range s.L2Advertisements {
		st.Advertisements = append(st.Advertisements, advertisement("L2Advertisement", a.Name, a.Status.Conditions))
	}
	for _, a := range s.BGPAdvertisements {
		st.Advertisements = append(st.Advertisements, advertisement("BGPAdvertisement", a.Name, a.Status.Conditions))
	}
	for _, p := range s.BGPPeers {
		st.Advertisements = append(st.Advertisements, advertisement("BGPPeer", p.Name, p.Status.Conditions))
		for _, n := range p.Status.Nodes {
			st.Sessions = append(st.Sessions, SessionReport{Peer: p.Name, Address: p.Spec.PeerAddress, Node: n.Node,
				State: n.State, Since: n.Since, Prefixes: n.PrefixesSent, Message: n.Message})
		}
	}
	sort.SliceStable(st.Sessions, func(i, j int) bool {
		a, b := st.Sessions[i], st.Sessions[j]
		return a.Peer < b.Peer || a.Peer == b.Peer && a.Node < b.Node
	})
	st.Speakers = speakers(s)
	return st
}

func advertisement(kind, name string, conds []metav1.Condition) AdvertisementReport {
	r := AdvertisementReport{Kind: kind, Name: name, Ready: "Unknown"}
	if c := meta.FindStatusCondition(conds, ironlbv1.ConditionReady); c != nil {
		r.Ready, r.Reason, r.Message = string(c.Status), c.Reason, c.Message
	} else {
		r.Message = "no Ready condition yet (is the controller running?)"
	}
	return r
}

// speakers lists every node with its speaker pod (if any) and its layer-2 addresses.
func speakers(s *Snapshot) []SpeakerReport {
	byNode := map[string]*SpeakerReport{}
	for _, n := range s.Nodes {
		byNode[n.Name] = &SpeakerReport{Node: n.Name}
	}
	for i := range s.Speakers {
		p := &s.Speakers[i]
		r := byNode[p.Spec.NodeName]
		if r == nil {
			r = &SpeakerReport{Node: p.Spec.NodeName}
			byNode[p.Spec.NodeName] = r
		}
		r.Pod = p.Namespace + "/" + p.Name
		r.Running = p.Status.Phase == corev1.PodRunning
		r.Gossip = gossipOf(p)
	}
	for i := range s.Services {
		owners, _ := L2Owners(&s.Services[i])
		for _, o := range owners {
			if r := byNode[o.Node]; r != nil {
				r.L2 = append(r.L2, o)
			}
		}
	}
	out := make([]SpeakerReport, 0, len(byNode))
	for _, r := range byNode {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

// PrintStatus writes the status screen.
func PrintStatus(out io.Writer, st Status, now time.Time) error {
	w := textout.New(out)
	w.Println("Pools:")
	w.Check(PrintPools(indent(w), st.Pools))
	w.Println("\nAdvertisements and peers:")
	tw := textout.Table(indent(w))
	tw.Println("KIND\tNAME\tREADY\tREASON\tMESSAGE")
	for _, a := range st.Advertisements {
		tw.Printf("%s\t%s\t%s\t%s\t%s\n", a.Kind, a.Name, a.Ready, dash(a.Reason), a.Message)
	}
	w.Check(tw.Flush())
	w.Println("\nSpeakers:")
	if st.SpeakersError != "" {
		w.Println("  " + st.SpeakersError)
	}
	tw = textout.Table(indent(w))
	// GOSSIP comes before the addresses: it is bounded (the speaker caps the names it
	// lists), where a node may answer for any number of addresses.
	tw.Println("NODE\tSPEAKER\tGOSSIP\tL2 ADDRESSES (ARP/NDP)")
	for _, sp := range st.Speakers {
		pod := "none"
		if sp.Pod != "" {
			pod = sp.Pod
			if !sp.Running {
				pod += " (not running)"
			}
		}
		var l2 []string
		for _, o := range sp.L2 {
			l2 = append(l2, fmt.Sprintf("%s %s on %s", o.IP, o.Service, o.Interfaces))
		}
		gossip := "-" // no speaker pod: nothing to report
		if sp.Pod != "" {
			gossip = sp.Gossip.String()
		}
		tw.Printf("%s\t%s\t%s\t%s\n", sp.Node, pod, gossip, dash(strings.Join(l2, "; ")))
	}
	w.Check(tw.Flush())
	w.Println("\nBGP sessions:")
	if len(st.Sessions) == 0 {
		w.Println("  none reported")
		return w.Err()
	}
	tw = textout.Table(indent(w))
	tw.Println("PEER\tADDRESS\tNODE\tSTATE\tSINCE\tPREFIXES\tMESSAGE")
	for _, ses := range st.Sessions {
		tw.Printf("%s\t%s\t%s\t%s\t%s\t%d\t%s\n", ses.Peer, ses.Address, ses.Node, ses.State, age(ses.Since, now), ses.Prefixes, dash(ses.Message))
	}
	w.Check(tw.Flush())
	return w.Err()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// age writes how long ago t was, like kubectl's AGE column.
func age(t *metav1.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	d := now.Sub(t.Time).Round(time.Second)
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// indent prefixes every line written through it with two spaces.
func indent(w io.Writer) io.Writer { return &indenter{w: w, start: true} }

type indenter struct {
	w     io.Writer
	start bool
}

func (i *indenter) Write(p []byte) (int, error) {
	for _, b := range p {
		if i.start {
			if _, err := i.w.Write([]byte("  ")); err != nil {
				return 0, err
			}
		}
		if _, err := i.w.Write([]byte{b}); err != nil {
			return 0, err
		}
		i.start = b == '\n'
	}
	return len(p), nil
}
