package app

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/ironlb/ironlb/speaker/layer2"
	"github.com/ironlb/ironlb/speaker/membership"
)

// metaPrefix marks the interface list a speaker publishes in its memberlist metadata.
const metaPrefix = "if:"

// upInterfaces lists this node's interfaces that can carry an address, sorted: see
// publishable.
func upInterfaces() []string {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	return publishable(ifs)
}

// publishable keeps the interfaces that are up and have carrier (a pulled cable moves the
// addresses announced on it, not only an interface set down), leaving out loopback and pod
// or overlay links (veth*, cni*, ...; see layer2.IsVirtual): a node with many pods would
// otherwise overflow memberlist's metadata, and every pod start would gossip a change.
func publishable(ifs []net.Interface) []string {
	var out []string
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagRunning == 0 || i.Flags&net.FlagLoopback != 0 ||
			layer2.IsVirtual(i.Name) {
			continue
		}
		out = append(out, i.Name)
	}
	slices.Sort(out)
	return out
}

// encodeInterfaces makes the metadata. A list too long to fit (more than 500 bytes of
// names, once pod links are left out) is an error: the caller says so and publishes no
// list, which other speakers read as "unknown" and then do not filter this node by
// interface.
func encodeInterfaces(names []string) ([]byte, error) {
	b := []byte(metaPrefix + strings.Join(names, ","))
	if len(b) > membership.MaxMetaLen {
		return nil, fmt.Errorf("the %d interfaces up on this node take %d bytes, more than memberlist's %d: "+
			"other speakers will not know which interfaces this node has", len(names), len(b), membership.MaxMetaLen)
	}
	return b, nil
}

// decodeInterfaces reads another speaker's metadata; nil means it did not say.
func decodeInterfaces(meta []byte) []string {
	s, ok := strings.CutPrefix(string(meta), metaPrefix)
	if !ok {
		return nil
	}
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// publishInterfaces tells the other speakers which interfaces this node has up, at start
// and whenever that changes, so an interface going down moves its addresses elsewhere.
func publishInterfaces(ctx context.Context, m *membership.Member, every time.Duration, log interface{ Warn(string, ...any) }) {
	var last []string
	for {
		if cur := upInterfaces(); last == nil || !slices.Equal(cur, last) {
			meta, err := encodeInterfaces(cur)
			if err != nil {
				log.Warn("publishing interfaces", "error", err)
			}
			if err := m.SetMeta(meta); err != nil {
				log.Warn("publishing interfaces", "error", err)
			} else {
				last = cur
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}
