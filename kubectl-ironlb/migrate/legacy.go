package migrate

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
)

// legacy converts MetalLB's configuration before v0.13: a ConfigMap (usually
// metallb-system/config) whose key "config" holds peers, address-pools, bgp-communities
// and bfd-profiles. Each pool says its protocol, so a layer2 pool also gets an
// L2Advertisement and a bgp pool one BGPAdvertisement per bgp-advertisements entry (one
// plain advertisement when there is none), which is what MetalLB did with it.
func (c *converter) legacy(u *unstructured.Unstructured) {
	obj := describe(u)
	text, found, _ := unstructured.NestedString(u.Object, "data", "config")
	if !found {
		c.res.Report.note(obj, "", "a ConfigMap without the key \"config\" is not MetalLB's legacy configuration; skipped")
		return
	}
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
		c.res.Report.lose(obj, "data.config", fmt.Sprintf("not YAML: %v; nothing converted", err))
		return
	}
	f := newFields(&c.res.Report, obj, "config", cfg)
	if v, ok := f.get("bgp-communities"); ok {
		m, _ := v.(map[string]any)
		for alias, value := range m {
			c.communities[alias] = fmt.Sprint(value)
		}
	}
	for i, m := range f.maps("bfd-profiles") {
		b := newFields(f.report, obj, fmt.Sprintf("config.bfd-profiles[%d]", i), m)
		name, _ := b.str("name")
		p := &ironlbv1.BFDProfile{ObjectMeta: metav1.ObjectMeta{Name: c.name("BFDProfile", u.GetNamespace(), name, obj)}, Spec: bfdSpec(b, bfdLegacyKeys)}
		b.leftovers()
		c.emit(obj, p, "BFDProfile")
	}
	for i, m := range f.maps("address-pools") {
		c.legacyPool(u, obj, i, m)
	}
	for i, m := range f.maps("peers") {
		p := newFields(f.report, obj, fmt.Sprintf("config.peers[%d]", i), m)
		spec, ok := peerSpec(p, legacyPeerKeys)
		p.leftovers()
		if ok {
			name := "peer-" + strings.NewReplacer(".", "-", ":", "-").Replace(spec.PeerAddress)
			c.emit(obj, &ironlbv1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: c.name("BGPPeer", u.GetNamespace(), name, obj)}, Spec: spec}, "BGPPeer")
		}
	}
	f.leftovers()
}

func (c *converter) legacyPool(u *unstructured.Unstructured, obj string, i int, m map[string]any) {
	f := newFields(&c.res.Report, obj, fmt.Sprintf("config.address-pools[%d]", i), m)
	name, _ := f.str("name")
	protocol, _ := f.str("protocol")
	p := &ironlbv1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: c.name("IPAddressPool", u.GetNamespace(), name, obj)}}
	p.Spec.Addresses = append(c.addresses(f, "addresses"), c.addresses(f, "cidr")...)
	if b, ok := f.boolean("auto-assign"); ok {
		p.Spec.AutoAssign = &b
	}
	p.Spec.AvoidBuggyIPs, _ = f.boolean("avoid-buggy-ips")
	advs := f.maps("bgp-advertisements")
	f.leftovers()
	if name == "" || len(p.Spec.Addresses) == 0 {
		c.res.Report.lose(obj, f.path, "a pool needs a name and addresses; no pool written")
		return
	}
	c.res.Pools[name] = p.Name
	c.emit(obj, p, "IPAddressPool")
	sel := ironlbv1.PoolSelection{IPAddressPools: []string{p.Name}}
	switch protocol {
	case "layer2", "arp", "ndp":
		a := &ironlbv1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: c.name("L2Advertisement", u.GetNamespace(), p.Name, obj)}}
		a.Spec.PoolSelection = sel
		c.emit(obj, a, "L2Advertisement")
		if len(advs) > 0 {
			c.res.Report.lose(obj, f.field("bgp-advertisements"), "set on a layer2 pool, where MetalLB ignored it too; not converted")
		}
	case "bgp":
		if len(advs) == 0 {
			advs = []map[string]any{{}}
		}
		for j, m := range advs {
			c.legacyBGPAdvertisement(u, obj, fmt.Sprintf("%s.bgp-advertisements[%d]", f.path, j), p.Name, j, len(advs), m)
		}
	default:
		c.res.Report.lose(obj, f.field("protocol"), fmt.Sprintf("%q is neither layer2 nor bgp; the pool is written without an advertisement, so its addresses are allocated but not announced", protocol))
	}
}

func (c *converter) legacyBGPAdvertisement(u *unstructured.Unstructured, obj, path, pool string, j, n int, m map[string]any) {
	f := newFields(&c.res.Report, obj, path, m)
	name := pool
	if n > 1 {
		name = fmt.Sprintf("%s-%d", pool, j+1)
	}
	a := &ironlbv1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: c.name("BGPAdvertisement", u.GetNamespace(), name, obj)}}
	a.Spec.IPAddressPools = []string{pool}
	a.Spec.AggregationLength = f.int32p("aggregation-length", 0, 32)
	a.Spec.AggregationLengthV6 = f.int32p("aggregation-length-v6", 0, 128)
	if lp, ok := f.integer("localpref", 0, 4294967295); ok {
		a.Spec.LocalPref = &lp
	}
	a.Spec.Communities = c.resolveCommunities(f, "communities")
	f.leftovers()
	c.emit(obj, a, "BGPAdvertisement")
}

// sortedKeys is for deterministic output in tests and reports.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
