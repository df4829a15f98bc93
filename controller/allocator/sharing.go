package allocator

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// shareProfile is the part of a Request that decides whether two Services
// may hold the same IP. A holding keeps its own copy, so later changes to
// the caller's maps and slices cannot change what was checked.
type shareProfile struct {
	// namespace scopes the key (see tenancy.go); it is not part of equal, because a
	// Service never changes namespace.
	namespace string
	key       string
	ports     []Port
	local     bool
	selector  map[string]string
}

func profileOf(req Request) shareProfile {
	return shareProfile{
		namespace: req.Namespace,
		key:       req.SharingKey,
		ports:     slices.Clone(req.Ports),
		local:     req.TrafficPolicyLocal,
		selector:  maps.Clone(req.Selector),
	}
}

func (p shareProfile) equal(o shareProfile) bool {
	return p.key == o.key && p.local == o.local && slices.Equal(p.ports, o.ports) && maps.Equal(p.selector, o.selector)
}

// SharingFingerprint is a short digest of what decides whether the Service may share its
// addresses: the sharing key, the ports, the traffic policy and, with Local, the selector
// (the fields canShare reads). The controller records it on a Service whose holding it
// confirmed, so that start-up can tell a Service whose sharing request changed while no
// controller watched from one that did not (see Claim). Equal requests give equal
// fingerprints whatever the order of their ports or selector labels.
func SharingFingerprint(req Request) string { return profileOf(req).fingerprint() }

func (p shareProfile) fingerprint() string {
	ports := make([]string, len(p.ports))
	for i, port := range p.ports {
		ports[i] = fmt.Sprintf("%s/%d", port.Protocol, port.Port)
	}
	slices.Sort(ports)
	canonical := struct {
		Key      string            `json:"key"`
		Ports    []string          `json:"ports"`
		Local    bool              `json:"local"`
		Selector map[string]string `json:"selector,omitempty"`
	}{Key: p.key, Ports: ports, Local: p.local}
	if p.local {
		canonical.Selector = p.selector // encoding/json sorts map keys
	}
	data, _ := json.Marshal(canonical) // strings, bools and a string map always encode
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:6])
}

// canShare reports whether a Service with profile a may hold an IP that a
// Service with profile b holds (invariant 1 of the design). It allocates
// nothing, because a sharing request may test many held IPs.
func canShare(a, b shareProfile) bool {
	if a.key == "" || a.key != b.key || a.local != b.local {
		return false
	}
	if a.local && !maps.Equal(a.selector, b.selector) {
		return false
	}
	for _, p := range a.ports {
		if slices.Contains(b.ports, p) {
			return false
		}
	}
	return true
}

// whyNotShare completes the sentence "they cannot share it: ..." for two
// profiles that canShare refused.
func whyNotShare(a, b shareProfile) string {
	switch {
	case a.key == "" && b.key == "":
		return "neither has the allow-shared-ip annotation"
	case a.key == "":
		return "the requesting Service has no allow-shared-ip annotation"
	case b.key == "":
		return "the holding Service has no allow-shared-ip annotation"
	case a.key != b.key:
		return fmt.Sprintf("their sharing keys differ (%q and %q)", a.key, b.key)
	}
	if overlap := overlappingPorts(a.ports, b.ports); len(overlap) > 0 {
		return "both use " + strings.Join(overlap, ", ")
	}
	if a.local != b.local {
		return "one has externalTrafficPolicy Local and the other Cluster"
	}
	return "they have externalTrafficPolicy Local but select different pods"
}

// overlappingPorts lists the (protocol, port) pairs both Services use, as
// "TCP/80", sorted for a stable message. Services have few ports, so a
// nested loop beats building a set.
func overlappingPorts(a, b []Port) []string {
	var out []string
	for _, p := range a {
		if slices.Contains(b, p) {
			s := fmt.Sprintf("%s/%d", p.Protocol, p.Port)
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	slices.Sort(out)
	return out
}
