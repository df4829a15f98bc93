// Package request turns a Service into an allocation request: it reads the requested
// addresses, pool and sharing key from ironlb's annotations, falls back to MetalLB's
// annotations so clusters can move over without editing every Service, and refuses
// malformed values with a message that names the annotation.
package request

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/controller/allocator"
	"github.com/ironlb/ironlb/internal/ipset"
	"github.com/ironlb/ironlb/internal/lbservice"
)

// legacyPrefixes are MetalLB's annotation prefixes, newest first. ironlb's own annotation
// wins when both are present.
var legacyPrefixes = []string{"metallb.io/", "metallb.universe.tf/"}

// InvalidAnnotation is the reason given when a Service's annotations or spec cannot be
// turned into a request.
const InvalidAnnotation = "InvalidAnnotation"

// Error explains why a Service's request is malformed.
type Error struct{ Message string }

func (e *Error) Error() string { return e.Message }

// Parsed is a Service's allocation request and the MetalLB annotations it was read from.
type Parsed struct {
	Request allocator.Request
	// Legacy lists the MetalLB annotations that were used, so the controller can tell the
	// user about the ironlb form.
	Legacy []string
	// NodeAddressFallback is the ironlb.io/node-address-fallback annotation: when no pool
	// serves the Service, it takes the eligible nodes' InternalIPs (see nodeaddr).
	NodeAddressFallback bool
}

// FromService builds the allocation request of a LoadBalancer Service. nsLabels are the
// labels of the Service's namespace, for pools that select namespaces by label. On a
// malformed annotation it returns an *Error and, unless spec.ipFamilies itself is bad,
// the request with every other field read: a malformed value is left out (zero).
func FromService(svc *corev1.Service, nsLabels map[string]string) (Parsed, error) {
	var p Parsed
	annotation := func(name string) (string, string, bool) {
		key := "ironlb.io/" + name
		if v, ok := svc.Annotations[key]; ok {
			return v, key, true
		}
		for _, prefix := range legacyPrefixes {
			if v, ok := svc.Annotations[prefix+name]; ok {
				p.Legacy = append(p.Legacy, prefix+name)
				return v, prefix + name, true
			}
		}
		return "", "", false
	}

	families, err := families(svc)
	if err != nil {
		return p, err
	}
	req := allocator.Request{
		Service:            svc.Namespace + "/" + svc.Name,
		Namespace:          svc.Namespace,
		NamespaceLabels:    nsLabels,
		ServiceLabels:      svc.Labels,
		Families:           families,
		Policy:             policy(svc),
		TrafficPolicyLocal: svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal,
		Selector:           svc.Spec.Selector,
	}
	for _, port := range svc.Spec.Ports {
		proto := string(port.Protocol)
		if proto == "" {
			proto = string(corev1.ProtocolTCP)
		}
		req.Ports = append(req.Ports, allocator.Port{Protocol: proto, Port: port.Port})
	}

	// Each annotation is read on its own: one malformed value must not hide the others,
	// because start-up claims existing addresses with what the Service still says validly
	// (its sharing key and ports) even while its address annotation is broken.
	var errs []error
	if v, key, ok := annotation("loadBalancerIPs"); ok {
		if svc.Spec.LoadBalancerIP != "" {
			errs = append(errs, &Error{fmt.Sprintf("annotation %s and spec.loadBalancerIP are both set; use only the annotation", key)})
		} else if req.IPs, err = parseIPs(key, v, families); err != nil {
			errs = append(errs, err)
		}
	} else if svc.Spec.LoadBalancerIP != "" {
		if req.IPs, err = parseIPs("spec.loadBalancerIP", svc.Spec.LoadBalancerIP, families); err != nil {
			errs = append(errs, err)
		}
	}
	if v, key, ok := annotation("address-pool"); ok {
		if req.Pool = strings.TrimSpace(v); req.Pool == "" {
			errs = append(errs, &Error{fmt.Sprintf("annotation %s is empty; name an IPAddressPool or remove the annotation", key)})
		}
	}
	if v, key, ok := annotation("allow-shared-ip"); ok {
		if req.SharingKey = strings.TrimSpace(v); req.SharingKey == "" {
			req.SharingKeyUnknown = true
			errs = append(errs, &Error{fmt.Sprintf("annotation %s is empty; give a sharing key that the Services sharing an IP have in common", key)})
		}
	}
	if v, ok := svc.Annotations[ironlbv1.AnnotationNodeAddressFallback]; ok {
		switch strings.TrimSpace(v) {
		case "true":
			p.NodeAddressFallback = true
		case "false":
		default:
			errs = append(errs, &Error{fmt.Sprintf("annotation %s: %q is neither \"true\" nor \"false\"", ironlbv1.AnnotationNodeAddressFallback, v)})
		}
	}
	p.Request = req
	if len(errs) > 0 {
		return p, joinErrors(errs)
	}
	return p, nil
}

// joinErrors puts every problem in one message, so the user fixes them in one go.
func joinErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return &Error{strings.Join(msgs, "; ")}
}

// parseIPs reads a comma-separated list of addresses, at most one per family, each of a
// family the Service has.
func parseIPs(field, value string, families []ipset.Family) ([]netip.Addr, error) {
	var ips []netip.Addr
	seen := map[ipset.Family]bool{}
	for _, part := range strings.Split(value, ",") {
		part = strings.TrimSpace(part)
		ip, err := netip.ParseAddr(part)
		if err != nil || ip.Zone() != "" || ip.Is4In6() {
			return nil, &Error{fmt.Sprintf("%s: %q is not an IP address; give a comma-separated list with at most one IPv4 and one IPv6 address", field, part)}
		}
		f := ipset.FamilyOf(ip)
		if seen[f] {
			return nil, &Error{fmt.Sprintf("%s: more than one %s address in %q; give at most one address per family", field, f, value)}
		}
		if !slices.Contains(families, f) {
			return nil, &Error{fmt.Sprintf("%s: %s is an %s address but the Service's ipFamilies are %v", field, ip, f, families)}
		}
		seen[f] = true
		ips = append(ips, ip)
	}
	return ips, nil
}

func families(svc *corev1.Service) ([]ipset.Family, error) {
	if len(svc.Spec.IPFamilies) == 0 {
		return []ipset.Family{ipset.IPv4}, nil
	}
	var out []ipset.Family
	for _, f := range svc.Spec.IPFamilies {
		switch f {
		case corev1.IPv4Protocol:
			out = append(out, ipset.IPv4)
		case corev1.IPv6Protocol:
			out = append(out, ipset.IPv6)
		default:
			return nil, &Error{fmt.Sprintf("spec.ipFamilies: unknown family %q", f)}
		}
	}
	return out, nil
}

func policy(svc *corev1.Service) allocator.FamilyPolicy {
	if svc.Spec.IPFamilyPolicy == nil {
		return allocator.SingleStack
	}
	switch *svc.Spec.IPFamilyPolicy {
	case corev1.IPFamilyPolicyPreferDualStack:
		return allocator.PreferDualStack
	case corev1.IPFamilyPolicyRequireDualStack:
		return allocator.RequireDualStack
	}
	return allocator.SingleStack
}

// IsOurs tells whether the controller with the given loadBalancerClass ("" for the default
// controller) manages this Service.
func IsOurs(svc *corev1.Service, class string) bool { return lbservice.IsOurs(svc, class) }
