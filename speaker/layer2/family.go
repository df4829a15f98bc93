package layer2

import "net/netip"

// family separates the two protocols: ARP answers IPv4, NDP answers IPv6.
type family uint8

const (
	v4 family = iota
	v6
)

func familyOf(ip netip.Addr) family {
	if ip.Is4() {
		return v4
	}
	return v6
}

// String is the value of the metrics' family label.
func (f family) String() string {
	if f == v4 {
		return "ipv4"
	}
	return "ipv6"
}
