package plan

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Gossip is what this speaker knows about reaching the other speakers, beside the live
// members in Snapshot.Alive. It lets a speaker that is alone tell "the others are dead"
// (it takes over their addresses: failover) from "the others are up but I cannot reach
// them" (a wrong key, a blocked port: it must not claim their addresses, or every node
// would answer for every address).
type Gossip struct {
	// LastAlive maps each node whose speaker memberlist has seen live since this speaker
	// started to when it was last live (now for the live ones).
	LastAlive map[string]time.Time
	// ReadySince maps each other node whose speaker Pod the API reports Ready to when
	// this speaker first saw it Ready (on this speaker's clock). Nil when the speaker is
	// not told how to find its Pods.
	ReadySince map[string]time.Time
	// KeyRejected lists the nodes whose speaker is up but holds another gossip key.
	KeyRejected []string
}

// Isolation is the verdict on a speaker that has no live peer.
type Isolation struct {
	// Unreachable lists the nodes whose speaker is up, as the API or a key rejection
	// shows, but not live in memberlist here; sorted.
	Unreachable []string
	// Reason says why, for the log, the event and the condition; "" when not isolated.
	Reason string
}

// Isolated reports whether this speaker is cut off from speakers that are up. It is
// isolated only when it sees no live peer at all and some other speaker is known to be
// up: its key was rejected, or its Pod became Ready after memberlist here last saw it
// live (or was never seen). A peer that died keeps the Ready it had before it died until
// the node lifecycle controller clears it, but that Ready is older than the moment
// memberlist lost the peer, so failover is not held back. A speaker with live peers is
// never isolated: what it cannot reach, the others decide without it.
func (s Snapshot) Isolated() Isolation {
	for name := range s.Alive {
		if name != s.Node {
			return Isolation{}
		}
	}
	why := map[string]string{}
	for _, n := range s.Gossip.KeyRejected {
		if n != s.Node {
			why[n] = "rejects this speaker's gossip key"
		}
	}
	for n, ready := range s.Gossip.ReadySince {
		if n == s.Node || why[n] != "" {
			continue
		}
		last, seen := s.Gossip.LastAlive[n]
		if !seen {
			why[n] = "has a Ready speaker never reached"
		} else if ready.After(last) {
			why[n] = "has a speaker Ready again since it was last reached"
		}
	}
	if len(why) == 0 {
		return Isolation{}
	}
	iso := Isolation{}
	parts := make([]string, 0, len(why))
	for n, w := range why {
		iso.Unreachable = append(iso.Unreachable, n)
		parts = append(parts, fmt.Sprintf("node %s %s", n, w))
	}
	sort.Strings(iso.Unreachable)
	sort.Strings(parts)
	iso.Reason = fmt.Sprintf("this speaker cannot join the other speakers (%s); it announces nothing until it can "+
		"(check that every speaker mounts the same memberlist Secret and that TCP and UDP on the memberlist port pass between nodes)",
		strings.Join(parts, "; "))
	return iso
}
