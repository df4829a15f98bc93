package migrate

import (
	"strings"
	"testing"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
)

func TestNormalizeAddress(t *testing.T) {
	cases := []struct {
		in, want string
		changed  bool
		err      bool
	}{
		{"198.18.0.0/24", "198.18.0.0/24", false, false},
		{"198.18.0.10/24", "198.18.0.0/24", true, false},
		{"198.18.0.7", "198.18.0.7/32", true, false},
		{"2001:db8::5", "2001:db8::5/128", true, false},
		{"198.18.0.1-198.18.0.9", "198.18.0.1-198.18.0.9", false, false},
		{"198.18.0.1 - 198.18.0.9", "198.18.0.1-198.18.0.9", true, false},
		{"2001:db8::1-2001:db8::ff", "2001:db8::1-2001:db8::ff", false, false},
		{"198.18.0.9-198.18.0.1", "", false, true},
		{"198.18.0.1-2001:db8::1", "", false, true},
		{"not-an-address", "", false, true},
		{"198.18.0.0/33", "", false, true},
	}
	for _, c := range cases {
		got, why, err := normalizeAddress(c.in)
		if (err != nil) != c.err || got != c.want || (why != "") != c.changed {
			t.Errorf("normalizeAddress(%q) = %q, %q, %v; want %q, changed %v, error %v", c.in, got, why, err, c.want, c.changed, c.err)
		}
	}
}

// convertYAML converts one YAML text and returns the objects' YAML and the report.
func convertYAML(t *testing.T, text string) (string, Result) {
	t.Helper()
	objs, err := ParseYAML(strings.NewReader(text), "test")
	if err != nil {
		t.Fatal(err)
	}
	res := Convert(objs)
	data, err := WriteYAML(res.Objects)
	if err != nil {
		t.Fatal(err)
	}
	return string(data), res
}

func findings(r Report) string {
	var b strings.Builder
	for _, f := range r.Findings {
		b.WriteString(string(f.Severity) + " " + f.Field + ": " + f.Message + "\n")
	}
	return b.String()
}

func TestConvertFields(t *testing.T) {
	const head = "apiVersion: metallb.io/v1beta1\nkind: %s\nmetadata: {name: x, namespace: metallb-system}\nspec:\n"
	cases := []struct {
		name, kind, spec string
		want             []string // lines the objects' YAML must contain
		found            []string // findings that must appear
		losses           int
	}{
		{name: "pool defaults", kind: "IPAddressPool", spec: "  addresses: [198.18.0.0/24]\n",
			want: []string{"kind: IPAddressPool", "- 198.18.0.0/24"}},
		{name: "pool autoAssign and buggy IPs with IPv6", kind: "IPAddressPool",
			spec: "  addresses: [198.18.0.0/24, 2001:db8::/64]\n  autoAssign: false\n  avoidBuggyIPs: true\n",
			want: []string{"autoAssign: false", "avoidBuggyIPs: true"}, found: []string{"changed spec.avoidBuggyIPs: ironlb also skips"}},
		{name: "pool priority out of range", kind: "IPAddressPool",
			spec: "  addresses: [198.18.0.0/24]\n  serviceAllocation: {priority: 2000000, namespaces: [a]}\n",
			want: []string{"- a"}, found: []string{"LOST spec.serviceAllocation.priority: 2000000 is outside"}, losses: 1},
		{name: "pool without usable address", kind: "IPAddressPool", spec: "  addresses: [bogus]\n",
			found: []string{"LOST spec.addresses[0]", "LOST spec.addresses: no usable address"}, losses: 2},
		{name: "list item of the wrong type", kind: "L2Advertisement", spec: "  interfaces: [eth0, 5]\n",
			want: []string{"- eth0"}, found: []string{"LOST spec.interfaces[1]: 5 is not a string; not converted"}, losses: 1},
		{name: "list of objects with a string in it", kind: "BGPAdvertisement", spec: "  nodeSelectors: [oops]\n",
			found: []string{"LOST spec.nodeSelectors[0]: oops is not an object; not converted"}, losses: 1},
		{name: "unknown field", kind: "L2Advertisement", spec: "  interfaces: [eth0]\n  newThing: true\n",
			want: []string{"- eth0"}, found: []string{"LOST spec.newThing: true: ironlb has no such setting"}, losses: 1},
		{name: "bgp advertisement", kind: "BGPAdvertisement",
			spec: "  aggregationLength: 24\n  aggregationLengthV6: 64\n  localPref: 50\n  communities: [\"65535:65281\", \"large:1:2:3\"]\n  peers: [p]\n",
			want: []string{"aggregationLength: 24", "aggregationLengthV6: 64", "localPref: 50", "- 65535:65281", "- large:1:2:3", "- p"}},
		{name: "unknown community alias", kind: "BGPAdvertisement", spec: "  communities: [MYSTERY]\n",
			found: []string{"LOST spec.communities: community alias \"MYSTERY\""}, losses: 1},
		{name: "peer with secret, graceful restart", kind: "BGPPeer",
			spec: "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 198.18.0.1\n  passwordSecret: {name: s}\n  enableGracefulRestart: true\n  connectTime: 5s\n",
			want: []string{"name: s", "namespace: metallb-system", "key: password", "enabled: true", "connectTime: 5s"}},
		{name: "peer hold time too short", kind: "BGPPeer",
			spec:  "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 198.18.0.1\n  holdTime: 0s\n",
			found: []string{"LOST spec.holdTime: 0s is outside"}, losses: 1},
		{name: "peer disableMP", kind: "BGPPeer",
			spec: "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 198.18.0.1\n  disableMP: true\n",
			want: []string{"peerAddress: 198.18.0.1"}, found: []string{"note spec.disableMP"}},
		{name: "peer vrf", kind: "BGPPeer",
			spec: "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 198.18.0.1\n  vrf: red\n",
			want: []string{"kind: BGPPeer"}, found: []string{"LOST spec.vrf"}, losses: 1},
		{name: "bfd profile", kind: "BFDProfile",
			spec: "  receiveInterval: 100\n  transmitInterval: 200\n  detectMultiplier: 5\n  echoMode: true\n  echoInterval: 40\n  passiveMode: true\n  minimumTtl: 10\n",
			want: []string{"receiveInterval: 100", "transmitInterval: 200", "detectMultiplier: 5", "echoMode: true", "echoInterval: 40", "passiveMode: true", "minimumTtl: 10"}},
		{name: "bfd profile out of range", kind: "BFDProfile", spec: "  detectMultiplier: 1\n",
			found: []string{"LOST spec.detectMultiplier: 1 is outside"}, losses: 1},
		{name: "unknown kind", kind: "ServiceL2Status", spec: "  x: 1\n", found: []string{"LOST : MetalLB kind ServiceL2Status"}, losses: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := strings.Replace(head, "%s", c.kind, 1) + c.spec
			out, res := convertYAML(t, text)
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			got := findings(res.Report)
			for _, f := range c.found {
				if !strings.Contains(strings.ReplaceAll(got, "  ", " "), f) {
					t.Errorf("report lacks %q:\n%s", f, got)
				}
			}
			if n := res.Report.Losses(); n != c.losses {
				t.Errorf("%d losses, want %d:\n%s", n, c.losses, got)
			}
		})
	}
}

func TestNameClashAcrossNamespaces(t *testing.T) {
	text := `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: p, namespace: a}
spec: {addresses: [198.18.0.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: p, namespace: b}
spec: {addresses: [198.18.1.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l, namespace: b}
spec: {ipAddressPools: [p]}
`
	_, res := convertYAML(t, text)
	if len(res.Objects) != 3 || res.Objects[0].GetName() != "p" || res.Objects[1].GetName() != "b-p" {
		t.Fatalf("objects %v", res.Objects)
	}
	if !strings.Contains(findings(res.Report), `named "b-p"`) {
		t.Errorf("report: %s", findings(res.Report))
	}
}

func TestLegacyProtocols(t *testing.T) {
	out, res := convertYAML(t, `apiVersion: v1
kind: ConfigMap
metadata: {name: config, namespace: metallb-system}
data:
  config: |
    address-pools:
    - {name: l2, protocol: layer2, addresses: [198.18.0.0/24]}
    - {name: b, protocol: bgp, addresses: [198.18.1.0/24]}
    - {name: odd, protocol: magic, addresses: [198.18.2.0/24]}
    unknown-section: 1
`)
	var kinds []string
	for _, o := range res.Objects {
		kinds = append(kinds, o.GetObjectKind().GroupVersionKind().Kind+"/"+o.GetName())
	}
	want := "IPAddressPool/l2 L2Advertisement/l2 IPAddressPool/b BGPAdvertisement/b IPAddressPool/odd"
	if strings.Join(kinds, " ") != want {
		t.Errorf("objects %v, want %s\n%s", kinds, want, out)
	}
	got := findings(res.Report)
	if res.Report.Losses() != 2 || !strings.Contains(got, `"magic" is neither`) || !strings.Contains(got, "config.unknown-section") {
		t.Errorf("report:\n%s", got)
	}
}

func TestCheckServices(t *testing.T) {
	objs, err := ParseYAML(strings.NewReader(`apiVersion: v1
kind: Service
metadata:
  name: a
  namespace: ns1
  annotations: {metallb.universe.tf/loadBalancerIPs: 198.18.0.1, metallb.universe.tf/ip-allocated-from-pool: p}
spec: {type: LoadBalancer}
---
apiVersion: v1
kind: Service
metadata:
  name: b
  namespace: ns1
  annotations: {metallb.io/address-pool: p, metallb.io/unknown: x}
spec: {type: LoadBalancer}
---
apiVersion: v1
kind: Service
metadata: {name: c, namespace: ns1, annotations: {metallb.io/address-pool: renamed}}
spec: {type: LoadBalancer}
---
apiVersion: v1
kind: Service
metadata: {name: d, namespace: ns1}
spec: {type: ClusterIP}
`), "t")
	if err != nil {
		t.Fatal(err)
	}
	_, svcs, err := splitServices(objs)
	if err != nil {
		t.Fatal(err)
	}
	checks := CheckServices(svcs, map[string]string{"p": "p", "renamed": "ns-renamed"})
	var lines []string
	for _, c := range checks {
		lines = append(lines, c.Service+" "+map[bool]string{true: "EDIT", false: "ok"}[c.Edit]+" "+c.Message)
	}
	got := strings.Join(lines, "\n")
	for _, w := range []string{
		"ns1/a ok no edit needed: ironlb reads metallb.universe.tf/loadBalancerIPs",
		"ns1/b EDIT metallb.io/unknown is not read by ironlb",
		`ns1/c EDIT metallb.io/address-pool names pool "renamed", written as "ns-renamed": set ` + ironlbv1.AnnotationAddressPool + ": ns-renamed",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("checks lack %q:\n%s", w, got)
		}
	}
	if len(checks) != 3 {
		t.Errorf("%d checks, want 3 (ClusterIP skipped):\n%s", len(checks), got)
	}
}
