package request_test

import (
	"errors"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/controller/allocator"
	"github.com/ironlb/ironlb/controller/request"
	"github.com/ironlb/ironlb/internal/ipset"
)

// service returns a LoadBalancer Service "ns/svc" with the given annotations, changed
// further by the mods.
func service(annotations map[string]string, mods ...func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "svc", Annotations: annotations},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer},
	}
	for _, mod := range mods {
		mod(svc)
	}
	return svc
}

func withFamilies(fs ...corev1.IPFamily) func(*corev1.Service) {
	return func(svc *corev1.Service) { svc.Spec.IPFamilies = fs }
}

func withLoadBalancerIP(ip string) func(*corev1.Service) {
	return func(svc *corev1.Service) { svc.Spec.LoadBalancerIP = ip }
}

func withPolicy(p corev1.IPFamilyPolicy) func(*corev1.Service) {
	return func(svc *corev1.Service) { svc.Spec.IPFamilyPolicy = &p }
}

var dualStack = withFamilies(corev1.IPv4Protocol, corev1.IPv6Protocol)

func addrs(t *testing.T, ss ...string) []netip.Addr {
	t.Helper()
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// sameStrings compares two lists, treating nil and empty as equal.
func sameStrings(a, b []string) bool {
	return len(a) == 0 && len(b) == 0 || slices.Equal(a, b)
}

func TestFromServiceRequestedIPs(t *testing.T) {
	tests := []struct {
		name       string
		svc        *corev1.Service
		wantIPs    []string
		wantLegacy []string
	}{
		{
			name: "no request",
			svc:  service(nil),
		},
		{
			name:    "ironlb annotation, one IPv4",
			svc:     service(map[string]string{"ironlb.io/loadBalancerIPs": "192.0.2.10"}),
			wantIPs: []string{"192.0.2.10"},
		},
		{
			name:    "ironlb annotation, one IPv6",
			svc:     service(map[string]string{"ironlb.io/loadBalancerIPs": "2001:db8::10"}, withFamilies(corev1.IPv6Protocol)),
			wantIPs: []string{"2001:db8::10"},
		},
		{
			name:    "ironlb annotation, both families",
			svc:     service(map[string]string{"ironlb.io/loadBalancerIPs": "192.0.2.10,2001:db8::10"}, dualStack),
			wantIPs: []string{"192.0.2.10", "2001:db8::10"},
		},
		{
			name:    "ironlb annotation, both families with spaces, IPv6 first",
			svc:     service(map[string]string{"ironlb.io/loadBalancerIPs": "  2001:db8::10 ,   192.0.2.10 "}, dualStack),
			wantIPs: []string{"2001:db8::10", "192.0.2.10"},
		},
		{
			name:    "spec.loadBalancerIP",
			svc:     service(nil, withLoadBalancerIP("192.0.2.20")),
			wantIPs: []string{"192.0.2.20"},
		},
		{
			name:    "spec.loadBalancerIP IPv6",
			svc:     service(nil, withLoadBalancerIP("2001:db8::20"), withFamilies(corev1.IPv6Protocol)),
			wantIPs: []string{"2001:db8::20"},
		},
		{
			name:       "metallb.io annotation",
			svc:        service(map[string]string{"metallb.io/loadBalancerIPs": "192.0.2.30"}),
			wantIPs:    []string{"192.0.2.30"},
			wantLegacy: []string{"metallb.io/loadBalancerIPs"},
		},
		{
			name:       "metallb.universe.tf annotation",
			svc:        service(map[string]string{"metallb.universe.tf/loadBalancerIPs": "192.0.2.40,2001:db8::40"}, dualStack),
			wantIPs:    []string{"192.0.2.40", "2001:db8::40"},
			wantLegacy: []string{"metallb.universe.tf/loadBalancerIPs"},
		},
		{
			name: "metallb.io wins over metallb.universe.tf",
			svc: service(map[string]string{
				"metallb.io/loadBalancerIPs":          "192.0.2.30",
				"metallb.universe.tf/loadBalancerIPs": "192.0.2.40",
			}),
			wantIPs:    []string{"192.0.2.30"},
			wantLegacy: []string{"metallb.io/loadBalancerIPs"},
		},
		{
			name: "ironlb wins over both MetalLB annotations",
			svc: service(map[string]string{
				"ironlb.io/loadBalancerIPs":           "192.0.2.10",
				"metallb.io/loadBalancerIPs":          "192.0.2.30",
				"metallb.universe.tf/loadBalancerIPs": "192.0.2.40",
			}),
			wantIPs: []string{"192.0.2.10"},
		},
		{
			// A malformed MetalLB annotation is ignored when ironlb's is present.
			name: "ironlb wins over a malformed MetalLB annotation",
			svc: service(map[string]string{
				"ironlb.io/loadBalancerIPs":  "192.0.2.10",
				"metallb.io/loadBalancerIPs": "not-an-ip",
			}),
			wantIPs: []string{"192.0.2.10"},
		},
		{
			name: "Legacy lists every MetalLB annotation used",
			svc: service(map[string]string{
				"metallb.io/loadBalancerIPs":          "192.0.2.30",
				"metallb.universe.tf/address-pool":    "pool-a",
				"metallb.io/allow-shared-ip":          "key-a",
				"metallb.universe.tf/allow-shared-ip": "key-b",
			}),
			wantIPs: []string{"192.0.2.30"},
			wantLegacy: []string{
				"metallb.io/loadBalancerIPs",
				"metallb.universe.tf/address-pool",
				"metallb.io/allow-shared-ip",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := request.FromService(tt.svc, nil)
			if err != nil {
				t.Fatalf("FromService: unexpected error %v", err)
			}
			if want := addrs(t, tt.wantIPs...); !slices.Equal(got.Request.IPs, want) {
				t.Errorf("IPs = %v, want %v", got.Request.IPs, want)
			}
			if !sameStrings(got.Legacy, tt.wantLegacy) {
				t.Errorf("Legacy = %q, want %q", got.Legacy, tt.wantLegacy)
			}
		})
	}
}

func TestFromServiceErrors(t *testing.T) {
	tests := []struct {
		name string
		svc  *corev1.Service
		// want are substrings the error message must contain: the annotation or
		// field, and the bad value.
		want []string
	}{
		{
			name: "annotation and spec.loadBalancerIP",
			svc:  service(map[string]string{"ironlb.io/loadBalancerIPs": "192.0.2.10"}, withLoadBalancerIP("192.0.2.11")),
			want: []string{"ironlb.io/loadBalancerIPs", "spec.loadBalancerIP"},
		},
		{
			name: "MetalLB annotation and spec.loadBalancerIP",
			svc:  service(map[string]string{"metallb.universe.tf/loadBalancerIPs": "192.0.2.10"}, withLoadBalancerIP("192.0.2.11")),
			want: []string{"metallb.universe.tf/loadBalancerIPs", "spec.loadBalancerIP"},
		},
		{
			name: "garbage address in annotation",
			svc:  service(map[string]string{"ironlb.io/loadBalancerIPs": "192.0.2.300"}),
			want: []string{"ironlb.io/loadBalancerIPs", `"192.0.2.300"`},
		},
		{
			name: "garbage address after a good one",
			svc:  service(map[string]string{"ironlb.io/loadBalancerIPs": "192.0.2.10, banana"}, dualStack),
			want: []string{"ironlb.io/loadBalancerIPs", `"banana"`},
		},
		{
			name: "garbage address in MetalLB annotation",
			svc:  service(map[string]string{"metallb.io/loadBalancerIPs": "banana"}),
			want: []string{"metallb.io/loadBalancerIPs", `"banana"`},
		},
		{
			name: "garbage spec.loadBalancerIP",
			svc:  service(nil, withLoadBalancerIP("banana")),
			want: []string{"spec.loadBalancerIP", `"banana"`},
		},
		{
			name: "empty loadBalancerIPs annotation",
			svc:  service(map[string]string{"ironlb.io/loadBalancerIPs": ""}),
			want: []string{"ironlb.io/loadBalancerIPs", `""`},
		},
		{
			name: "two IPv4 addresses",
			svc:  service(map[string]string{"ironlb.io/loadBalancerIPs": "192.0.2.10,192.0.2.11"}, dualStack),
			want: []string{"ironlb.io/loadBalancerIPs", "IPv4", "192.0.2.10,192.0.2.11"},
		},
		{
			name: "two IPv6 addresses",
			svc:  service(map[string]string{"ironlb.io/loadBalancerIPs": "2001:db8::1,2001:db8::2"}, dualStack),
			want: []string{"ironlb.io/loadBalancerIPs", "IPv6", "2001:db8::1,2001:db8::2"},
		},
		{
			name: "IPv6 address on an IPv4-only Service",
			svc:  service(map[string]string{"ironlb.io/loadBalancerIPs": "2001:db8::1"}, withFamilies(corev1.IPv4Protocol)),
			want: []string{"ironlb.io/loadBalancerIPs", "2001:db8::1", "IPv6", "[IPv4]"},
		},
		{
			name: "IPv6 address on a Service without ipFamilies",
			svc:  service(nil, withLoadBalancerIP("2001:db8::1")),
			want: []string{"spec.loadBalancerIP", "2001:db8::1", "[IPv4]"},
		},
		{
			name: "IPv4 address on an IPv6-only Service",
			svc:  service(map[string]string{"ironlb.io/loadBalancerIPs": "192.0.2.10"}, withFamilies(corev1.IPv6Protocol)),
			want: []string{"ironlb.io/loadBalancerIPs", "192.0.2.10", "[IPv6]"},
		},
		{
			name: "IPv4-mapped IPv6 address",
			svc:  service(map[string]string{"ironlb.io/loadBalancerIPs": "::ffff:192.0.2.10"}, dualStack),
			want: []string{"ironlb.io/loadBalancerIPs", `"::ffff:192.0.2.10"`},
		},
		{
			name: "address with a zone",
			svc:  service(map[string]string{"ironlb.io/loadBalancerIPs": "fe80::1%eth0"}, dualStack),
			want: []string{"ironlb.io/loadBalancerIPs", `"fe80::1%eth0"`},
		},
		{
			name: "empty address-pool annotation",
			svc:  service(map[string]string{"ironlb.io/address-pool": "  "}),
			want: []string{"ironlb.io/address-pool", "empty"},
		},
		{
			name: "empty MetalLB address-pool annotation",
			svc:  service(map[string]string{"metallb.universe.tf/address-pool": ""}),
			want: []string{"metallb.universe.tf/address-pool", "empty"},
		},
		{
			name: "empty allow-shared-ip annotation",
			svc:  service(map[string]string{"ironlb.io/allow-shared-ip": ""}),
			want: []string{"ironlb.io/allow-shared-ip", "empty"},
		},
		{
			name: "empty MetalLB allow-shared-ip annotation",
			svc:  service(map[string]string{"metallb.io/allow-shared-ip": " "}),
			want: []string{"metallb.io/allow-shared-ip", "empty"},
		},
		{
			name: "node-address-fallback neither true nor false",
			svc:  service(map[string]string{"ironlb.io/node-address-fallback": "yes"}),
			want: []string{"ironlb.io/node-address-fallback", `"yes"`},
		},
		{
			name: "unknown ipFamily",
			svc:  service(nil, withFamilies(corev1.IPv4Protocol, "IPv5")),
			want: []string{"spec.ipFamilies", `"IPv5"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := request.FromService(tt.svc, nil)
			if err == nil {
				t.Fatal("FromService: no error")
			}
			var rerr *request.Error
			if !errors.As(err, &rerr) {
				t.Fatalf("FromService: error %v is a %T, want *request.Error", err, err)
			}
			for _, s := range tt.want {
				if !strings.Contains(rerr.Message, s) {
					t.Errorf("message %q does not contain %q", rerr.Message, s)
				}
			}
		})
	}
}

func TestFromServiceNodeAddressFallback(t *testing.T) {
	for value, want := range map[string]bool{"": false, "true": true, " true ": true, "false": false} {
		ann := map[string]string{"ironlb.io/node-address-fallback": value}
		if value == "" {
			ann = nil
		}
		p, err := request.FromService(service(ann), nil)
		if err != nil {
			t.Fatalf("%q: %v", value, err)
		}
		if p.NodeAddressFallback != want {
			t.Errorf("annotation %q: NodeAddressFallback = %v, want %v", value, p.NodeAddressFallback, want)
		}
	}
	// MetalLB has no such annotation: its prefixes must not switch the fallback on.
	p, _ := request.FromService(service(map[string]string{"metallb.io/node-address-fallback": "true"}), nil)
	if p.NodeAddressFallback || len(p.Legacy) > 0 {
		t.Errorf("metallb.io/node-address-fallback was read: %+v", p)
	}
}

func TestFromServicePoolAndSharingKey(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		wantPool    string
		wantKey     string
		wantLegacy  []string
	}{
		{
			name: "neither",
		},
		{
			name:        "ironlb annotations",
			annotations: map[string]string{"ironlb.io/address-pool": "pool-a", "ironlb.io/allow-shared-ip": "key-a"},
			wantPool:    "pool-a",
			wantKey:     "key-a",
		},
		{
			name:        "ironlb annotations are trimmed",
			annotations: map[string]string{"ironlb.io/address-pool": " pool-a ", "ironlb.io/allow-shared-ip": "\tkey-a "},
			wantPool:    "pool-a",
			wantKey:     "key-a",
		},
		{
			name:        "metallb.io annotations",
			annotations: map[string]string{"metallb.io/address-pool": "pool-b", "metallb.io/allow-shared-ip": "key-b"},
			wantPool:    "pool-b",
			wantKey:     "key-b",
			wantLegacy:  []string{"metallb.io/address-pool", "metallb.io/allow-shared-ip"},
		},
		{
			name:        "metallb.universe.tf annotations",
			annotations: map[string]string{"metallb.universe.tf/address-pool": "pool-c", "metallb.universe.tf/allow-shared-ip": "key-c"},
			wantPool:    "pool-c",
			wantKey:     "key-c",
			wantLegacy:  []string{"metallb.universe.tf/address-pool", "metallb.universe.tf/allow-shared-ip"},
		},
		{
			name:        "pool only",
			annotations: map[string]string{"ironlb.io/address-pool": "pool-a"},
			wantPool:    "pool-a",
		},
		{
			name:        "sharing key only, from MetalLB",
			annotations: map[string]string{"metallb.universe.tf/allow-shared-ip": "key-c"},
			wantKey:     "key-c",
			wantLegacy:  []string{"metallb.universe.tf/allow-shared-ip"},
		},
		{
			name: "ironlb wins over MetalLB",
			annotations: map[string]string{
				"ironlb.io/address-pool":              "pool-a",
				"metallb.io/address-pool":             "pool-b",
				"metallb.universe.tf/address-pool":    "pool-c",
				"ironlb.io/allow-shared-ip":           "key-a",
				"metallb.io/allow-shared-ip":          "key-b",
				"metallb.universe.tf/allow-shared-ip": "key-c",
			},
			wantPool: "pool-a",
			wantKey:  "key-a",
		},
		{
			name: "ironlb wins over an empty MetalLB annotation",
			annotations: map[string]string{
				"ironlb.io/address-pool":     "pool-a",
				"metallb.io/address-pool":    "",
				"ironlb.io/allow-shared-ip":  "key-a",
				"metallb.io/allow-shared-ip": "",
			},
			wantPool: "pool-a",
			wantKey:  "key-a",
		},
		{
			name: "metallb.io wins over metallb.universe.tf",
			annotations: map[string]string{
				"metallb.io/address-pool":             "pool-b",
				"metallb.universe.tf/address-pool":    "pool-c",
				"metallb.io/allow-shared-ip":          "key-b",
				"metallb.universe.tf/allow-shared-ip": "key-c",
			},
			wantPool:   "pool-b",
			wantKey:    "key-b",
			wantLegacy: []string{"metallb.io/address-pool", "metallb.io/allow-shared-ip"},
		},
		{
			name: "mixed: ironlb pool, MetalLB sharing key",
			annotations: map[string]string{
				"ironlb.io/address-pool":              "pool-a",
				"metallb.universe.tf/allow-shared-ip": "key-c",
			},
			wantPool:   "pool-a",
			wantKey:    "key-c",
			wantLegacy: []string{"metallb.universe.tf/allow-shared-ip"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := request.FromService(service(tt.annotations), nil)
			if err != nil {
				t.Fatalf("FromService: unexpected error %v", err)
			}
			if got.Request.Pool != tt.wantPool {
				t.Errorf("Pool = %q, want %q", got.Request.Pool, tt.wantPool)
			}
			if got.Request.SharingKey != tt.wantKey {
				t.Errorf("SharingKey = %q, want %q", got.Request.SharingKey, tt.wantKey)
			}
			if !sameStrings(got.Legacy, tt.wantLegacy) {
				t.Errorf("Legacy = %q, want %q", got.Legacy, tt.wantLegacy)
			}
		})
	}
}

func TestFromServiceFamiliesAndPolicy(t *testing.T) {
	tests := []struct {
		name         string
		svc          *corev1.Service
		wantFamilies []ipset.Family
		wantPolicy   allocator.FamilyPolicy
	}{
		{
			name:         "no ipFamilies, no policy",
			svc:          service(nil),
			wantFamilies: []ipset.Family{ipset.IPv4},
			wantPolicy:   allocator.SingleStack,
		},
		{
			name:         "IPv6 only",
			svc:          service(nil, withFamilies(corev1.IPv6Protocol)),
			wantFamilies: []ipset.Family{ipset.IPv6},
			wantPolicy:   allocator.SingleStack,
		},
		{
			name:         "explicit SingleStack",
			svc:          service(nil, withFamilies(corev1.IPv4Protocol), withPolicy(corev1.IPFamilyPolicySingleStack)),
			wantFamilies: []ipset.Family{ipset.IPv4},
			wantPolicy:   allocator.SingleStack,
		},
		{
			name:         "PreferDualStack, IPv6 first",
			svc:          service(nil, withFamilies(corev1.IPv6Protocol, corev1.IPv4Protocol), withPolicy(corev1.IPFamilyPolicyPreferDualStack)),
			wantFamilies: []ipset.Family{ipset.IPv6, ipset.IPv4},
			wantPolicy:   allocator.PreferDualStack,
		},
		{
			name:         "RequireDualStack",
			svc:          service(nil, dualStack, withPolicy(corev1.IPFamilyPolicyRequireDualStack)),
			wantFamilies: []ipset.Family{ipset.IPv4, ipset.IPv6},
			wantPolicy:   allocator.RequireDualStack,
		},
		{
			name:         "PreferDualStack on a single-family cluster",
			svc:          service(nil, withFamilies(corev1.IPv4Protocol), withPolicy(corev1.IPFamilyPolicyPreferDualStack)),
			wantFamilies: []ipset.Family{ipset.IPv4},
			wantPolicy:   allocator.PreferDualStack,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := request.FromService(tt.svc, nil)
			if err != nil {
				t.Fatalf("FromService: unexpected error %v", err)
			}
			if !slices.Equal(got.Request.Families, tt.wantFamilies) {
				t.Errorf("Families = %v, want %v", got.Request.Families, tt.wantFamilies)
			}
			if got.Request.Policy != tt.wantPolicy {
				t.Errorf("Policy = %v, want %v", got.Request.Policy, tt.wantPolicy)
			}
		})
	}
}

func TestFromServiceFields(t *testing.T) {
	tests := []struct {
		name          string
		svc           *corev1.Service
		nsLabels      map[string]string
		wantService   string
		wantNamespace string
		wantPorts     []allocator.Port
		wantLocal     bool
		wantSelector  map[string]string
		wantSvcLabels map[string]string
		wantNsLabels  map[string]string
	}{
		{
			name:          "bare Service",
			svc:           service(nil),
			wantService:   "ns/svc",
			wantNamespace: "ns",
		},
		{
			name: "everything set",
			svc: service(nil, func(svc *corev1.Service) {
				svc.Namespace = "team-a"
				svc.Name = "web"
				svc.Labels = map[string]string{"app": "web", "tier": "front"}
				svc.Spec.Selector = map[string]string{"app": "web-pods"}
				svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
				svc.Spec.Ports = []corev1.ServicePort{
					{Name: "http", Port: 80},
					{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53},
					{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443},
					{Name: "sctp", Protocol: corev1.ProtocolSCTP, Port: 9000},
				}
			}),
			nsLabels:      map[string]string{"team": "a"},
			wantService:   "team-a/web",
			wantNamespace: "team-a",
			wantPorts: []allocator.Port{
				{Protocol: "TCP", Port: 80},
				{Protocol: "UDP", Port: 53},
				{Protocol: "TCP", Port: 443},
				{Protocol: "SCTP", Port: 9000},
			},
			wantLocal:     true,
			wantSelector:  map[string]string{"app": "web-pods"},
			wantSvcLabels: map[string]string{"app": "web", "tier": "front"},
			wantNsLabels:  map[string]string{"team": "a"},
		},
		{
			name: "traffic policy Cluster",
			svc: service(nil, func(svc *corev1.Service) {
				svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
				svc.Spec.Ports = []corev1.ServicePort{{Protocol: corev1.ProtocolUDP, Port: 5353}}
			}),
			wantService:   "ns/svc",
			wantNamespace: "ns",
			wantPorts:     []allocator.Port{{Protocol: "UDP", Port: 5353}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := request.FromService(tt.svc, tt.nsLabels)
			if err != nil {
				t.Fatalf("FromService: unexpected error %v", err)
			}
			r := got.Request
			if r.Service != tt.wantService {
				t.Errorf("Service = %q, want %q", r.Service, tt.wantService)
			}
			if r.Namespace != tt.wantNamespace {
				t.Errorf("Namespace = %q, want %q", r.Namespace, tt.wantNamespace)
			}
			if !slices.Equal(r.Ports, tt.wantPorts) {
				t.Errorf("Ports = %v, want %v", r.Ports, tt.wantPorts)
			}
			if r.TrafficPolicyLocal != tt.wantLocal {
				t.Errorf("TrafficPolicyLocal = %v, want %v", r.TrafficPolicyLocal, tt.wantLocal)
			}
			if !maps.Equal(r.Selector, tt.wantSelector) {
				t.Errorf("Selector = %v, want %v", r.Selector, tt.wantSelector)
			}
			if !maps.Equal(r.ServiceLabels, tt.wantSvcLabels) {
				t.Errorf("ServiceLabels = %v, want %v", r.ServiceLabels, tt.wantSvcLabels)
			}
			if !maps.Equal(r.NamespaceLabels, tt.wantNsLabels) {
				t.Errorf("NamespaceLabels = %v, want %v", r.NamespaceLabels, tt.wantNsLabels)
			}
			if len(r.IPs) != 0 || r.Pool != "" || r.SharingKey != "" || len(got.Legacy) != 0 {
				t.Errorf("unexpected IPs %v, Pool %q, SharingKey %q or Legacy %q", r.IPs, r.Pool, r.SharingKey, got.Legacy)
			}
		})
	}
}

func TestIsOurs(t *testing.T) {
	class := func(s string) *string { return &s }
	tests := []struct {
		name    string
		svcType corev1.ServiceType
		svcCls  *string
		ctrlCls string
		want    bool
	}{
		{"LoadBalancer, no class, default controller", corev1.ServiceTypeLoadBalancer, nil, "", true},
		{"LoadBalancer, no class, classed controller", corev1.ServiceTypeLoadBalancer, nil, "x", false},
		{"LoadBalancer, class x, default controller", corev1.ServiceTypeLoadBalancer, class("x"), "", false},
		{"LoadBalancer, class x, controller x", corev1.ServiceTypeLoadBalancer, class("x"), "x", true},
		{"LoadBalancer, class y, controller x", corev1.ServiceTypeLoadBalancer, class("y"), "x", false},
		{"ClusterIP, no class, default controller", corev1.ServiceTypeClusterIP, nil, "", false},
		{"NodePort, no class, default controller", corev1.ServiceTypeNodePort, nil, "", false},
		{"NodePort, class x, controller x", corev1.ServiceTypeNodePort, class("x"), "x", false},
		{"ClusterIP, class x, controller x", corev1.ServiceTypeClusterIP, class("x"), "x", false},
		{"empty type, no class, default controller", "", nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := service(nil, func(svc *corev1.Service) {
				svc.Spec.Type = tt.svcType
				svc.Spec.LoadBalancerClass = tt.svcCls
			})
			if got := request.IsOurs(svc, tt.ctrlCls); got != tt.want {
				cls := "<nil>"
				if tt.svcCls != nil {
					cls = *tt.svcCls
				}
				t.Errorf("IsOurs(type %q, class %s, controller class %q) = %v, want %v", tt.svcType, cls, tt.ctrlCls, got, tt.want)
			}
		})
	}
}
