package report

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
)

// IngressIPs are the addresses in a Service's status, hostnames left out.
func IngressIPs(in []corev1.LoadBalancerIngress) []netip.Addr {
	var out []netip.Addr
	for _, ing := range in {
		if ip, err := netip.ParseAddr(ing.IP); err == nil {
			out = append(out, ip)
		}
	}
	return out
}
