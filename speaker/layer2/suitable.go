package layer2

import (
	"bytes"
	"slices"
	"strings"
)

// virtualPrefixes name links that carry pod or overlay traffic inside the
// node. Answering ARP there would attract nothing useful and could confuse
// the CNI.
var virtualPrefixes = []string{
	"veth", "cni", "flannel", "cali", "docker", "kube-ipvs", "lxc", "tunl", "vxlan",
	"cilium", "weave", "genev", "nodelocaldns",
}

// IsVirtual reports whether a link's name marks it as a pod or overlay link (veth*,
// cni*, cali*, ...), which never carries a load balancer's address.
func IsVirtual(name string) bool {
	return slices.ContainsFunc(virtualPrefixes, func(p string) bool { return strings.HasPrefix(name, p) })
}

// Interface flags, as in <linux/if.h>.
const (
	iffUp        = 0x1
	iffBroadcast = 0x2
	iffLoopback  = 0x8
	iffNoARP     = 0x80
	iffSlave     = 0x800
)

// linkInfo is what Suitable needs to know about a link.
type linkInfo struct {
	index  int
	name   string
	flags  uint32
	mac    []byte
	master int    // ifindex of the bridge/bond it is enslaved to, or 0
	kind   string // rtnetlink kind: "bridge", "bond", "veth", ... ("" for hardware)
}

// Suitable lists the interfaces to answer on when an L2Advertisement names
// none: up, broadcast-capable, doing ARP, with an Ethernet MAC, not loopback,
// not a port of a bridge or bond (the bridge or bond answers instead, else the
// segment would hear two MACs), and not an obvious pod or overlay link by
// name. It reads the calling thread's network namespace.
func Suitable() ([]string, error) {
	links, err := listLinks()
	if err != nil {
		return nil, err
	}
	return suitableLinks(links), nil
}

// suitableLinks applies Suitable's rules; the result is sorted.
func suitableLinks(links []linkInfo) []string {
	kinds := map[int]string{}
	for _, l := range links {
		kinds[l.index] = l.kind
	}
	var names []string
	for _, l := range links {
		switch {
		case l.flags&iffUp == 0, l.flags&iffBroadcast == 0,
			l.flags&(iffLoopback|iffNoARP|iffSlave) != 0:
			continue
		case len(l.mac) != 6 || bytes.Equal(l.mac, make([]byte, 6)):
			continue
		case l.master != 0 && slices.Contains([]string{"bridge", "bond", "team"}, kinds[l.master]):
			continue
		case IsVirtual(l.name):
			continue
		}
		names = append(names, l.name)
	}
	slices.Sort(names)
	return names
}
