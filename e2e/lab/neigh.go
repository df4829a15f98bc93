package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/ironlb/ironlb/e2e/lab/host"
	"github.com/ironlb/ironlb/internal/ndpframe"
)

var macPattern = regexp.MustCompile(`(?i)\b([0-9a-f]{2}(?::[0-9a-f]{2}){5})\b`)

// WhoHas asks the L2 segment, from the L2 client, which MACs answer for addr: one ARP
// request (arping) for IPv4, one Neighbor Solicitation (ndpframe.Solicit) for IPv6,
// collecting every answer that arrives within a second. More than one MAC means two nodes
// claim the address; none means nobody does (that is not an error). NodeByMAC tells which
// node answered. IPv6 does not use ndisc6: it drops an advertisement of a global address
// from a link-local source, which is what RFC 4861 has the speaker send.
func (l *Lab) WhoHas(ctx context.Context, addr netip.Addr) ([]string, error) {
	if err := checkLabAddr(addr); err != nil {
		return nil, err
	}
	c := l.L2Client
	if addr.Is6() {
		var macs []net.HardwareAddr
		err := host.InNetns(c.Netns, func() (err error) {
			macs, err = ndpframe.Solicit(c.Link, addr, time.Second)
			return err
		})
		var out []string
		for _, m := range macs {
			out = append(out, m.String())
		}
		return out, err
	}
	// -c 1: one request; -w 1: wait a second for answers; -i: our only interface.
	out, err := host.RunIn(ctx, c.Netns, "arping", "-c", "1", "-w", "1", "-i", c.Link, addr.String())
	// arping exits 1 when nobody answered.
	if err != nil && !strings.Contains(out, "packets transmitted") {
		return nil, err
	}
	return answeringMACs(out, c.MAC), nil
}

// answeringMACs extracts the distinct MACs in arping output, except the asker's own.
func answeringMACs(out, self string) []string {
	var macs []string
	seen := map[string]bool{strings.ToLower(self): true}
	for _, line := range strings.Split(out, "\n") {
		// "60 bytes from 02:00:c6:12:00:0b (198.18.0.11): index=0 ..."
		if !strings.Contains(line, "bytes from") {
			continue
		}
		for _, m := range macPattern.FindAllString(line, -1) {
			m = strings.ToLower(m)
			if !seen[m] {
				seen[m] = true
				macs = append(macs, m)
			}
		}
	}
	return macs
}

// Neighbor is an entry of the L2 client's kernel neighbour table.
type Neighbor struct {
	MAC   string
	State []string // REACHABLE, STALE, FAILED, ...
}

// ClientNeighbor returns the L2 client's neighbour entry for addr: the MAC its kernel would
// send packets for addr to right now. It is nil when there is no entry.
func (l *Lab) ClientNeighbor(ctx context.Context, addr netip.Addr) (*Neighbor, error) {
	out, err := host.Run(ctx, "ip", "-n", l.L2Client.Netns, "-j", "neigh", "show", "to", addr.String(), "dev", l.L2Client.Link)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(out) == "" {
		return nil, nil
	}
	var entries []struct {
		Lladdr string   `json:"lladdr"`
		State  []string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		return nil, fmt.Errorf("parse %q: %w", out, err)
	}
	if len(entries) == 0 {
		return nil, nil
	}
	return &Neighbor{MAC: strings.ToLower(entries[0].Lladdr), State: entries[0].State}, nil
}

// FlushClientNeighbors empties the L2 client's neighbour table, so the next packet to an
// address asks the segment again.
func (l *Lab) FlushClientNeighbors(ctx context.Context) error {
	return host.IP(ctx, l.L2Client.Netns, "neigh", "flush", "dev", l.L2Client.Link)
}

// ClientNeighbour returns the MAC the L2 client's kernel holds for addr in its neighbour
// table ("" when it holds none), without sending anything: what the client would use for
// its next packet.
func (l *Lab) ClientNeighbour(ctx context.Context, addr netip.Addr) (string, error) {
	if err := checkLabAddr(addr); err != nil {
		return "", err
	}
	c := l.L2Client
	out, err := host.RunIn(ctx, c.Netns, "ip", "neigh", "show", addr.String(), "dev", c.Link)
	if err != nil {
		return "", err
	}
	if m := macPattern.FindString(out); m != "" {
		return strings.ToLower(m), nil
	}
	return "", nil
}
