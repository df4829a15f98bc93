package app

import (
	"context"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/ironlb/ironlb/speaker/membership"
)

// metaPrefix marks the interface list a speaker publishes in its memberlist metadata.
const metaPrefix = "if:"

// upInterfaces lists this node's interfaces that are up, sorted.
func upInterfaces() []string {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []string
	for _, i := range ifs {
		if i.Flags&net.FlagUp != 0 && i.Flags&net.FlagLoopback == 0 {
			out = append(out, i.Name)
		}
	}
	slices.Sort(out)
	return out
}

// encodeInterfaces makes the metadata; a list too long to fit is left out, which other
// speakers read as "unknown" and then do not filter this node by interface.
func encodeInterfaces(names []string) []byte {
	b := []byte(metaPrefix + strings.Join(names, ","))
	if len(b) > membership.MaxMetaLen {
		return nil
	}
	return b
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
			if err := m.SetMeta(encodeInterfaces(cur)); err != nil {
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
