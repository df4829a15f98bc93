// Package migrate converts MetalLB's configuration (the metallb.io CRDs and the legacy
// ConfigMap) into ironlb objects, and reports per object and field what has no equivalent
// and what it wrote instead.
package migrate

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
)

// MetalLBGroup is the API group of MetalLB's CRDs.
const MetalLBGroup = "metallb.io"

// Result is what a conversion produced: ironlb objects, in the order to create them
// (BFD profiles and pools before what refers to them), and the report.
type Result struct {
	Objects []client.Object
	Report  Report
	// Pools are the pool names written, by the MetalLB pool name they came from, so the
	// Service check can tell whether an address-pool annotation still names a pool.
	Pools map[string]string
}

// converter holds the state of one conversion.
type converter struct {
	res         Result
	communities map[string]string // alias -> value, from Community objects and the legacy config
	names       map[string]map[string]string
}

// Convert turns MetalLB objects into ironlb objects. Objects of other kinds are reported
// and skipped; a ConfigMap is read as MetalLB's legacy configuration.
func Convert(objs []*unstructured.Unstructured) Result {
	c := &converter{communities: map[string]string{}, names: map[string]map[string]string{}}
	c.res.Pools = map[string]string{}
	sorted := make([]*unstructured.Unstructured, len(objs))
	copy(sorted, objs)
	sort.SliceStable(sorted, func(i, j int) bool { return kindOrder(sorted[i]) < kindOrder(sorted[j]) })
	for _, u := range sorted {
		c.convert(u)
	}
	return c.res
}

// kindOrder converts Community aliases first (advertisements refer to them), then BFD
// profiles and pools, then the objects that name them.
func kindOrder(u *unstructured.Unstructured) int {
	order := map[string]int{"Community": 0, "ConfigMap": 1, "BFDProfile": 2, "IPAddressPool": 3, "BGPPeer": 4}
	if n, ok := order[u.GetKind()]; ok {
		return n
	}
	return 5
}

func describe(u *unstructured.Unstructured) string {
	name := u.GetName()
	if ns := u.GetNamespace(); ns != "" {
		name = ns + "/" + name
	}
	return fmt.Sprintf("%s %s (%s)", u.GetKind(), name, u.GetAPIVersion())
}

func (c *converter) convert(u *unstructured.Unstructured) {
	obj := describe(u)
	group := strings.SplitN(u.GetAPIVersion(), "/", 2)[0]
	if u.GetKind() == "ConfigMap" && u.GetAPIVersion() == "v1" {
		c.legacy(u)
		return
	}
	if group != MetalLBGroup {
		c.res.Report.note(obj, "", "not a MetalLB object; skipped")
		return
	}
	spec, _, _ := unstructured.NestedMap(u.Object, "spec")
	f := newFields(&c.res.Report, obj, "spec", spec)
	switch u.GetKind() {
	case "IPAddressPool":
		c.pool(u, f)
	case "L2Advertisement":
		c.l2(u, f)
	case "BGPAdvertisement":
		c.bgpAdvertisement(u, f)
	case "BGPPeer":
		c.peer(u, f)
	case "BFDProfile":
		c.bfd(u, f)
	case "Community":
		c.community(u, f)
	default:
		c.res.Report.lose(obj, "", "MetalLB kind "+u.GetKind()+" has no ironlb equivalent; skipped")
		return
	}
	f.leftovers()
}

// name returns the ironlb name for a MetalLB object. ironlb's objects are cluster-scoped;
// two MetalLB objects of one kind with one name in different namespaces would clash, so
// the later one gets its namespace as a prefix.
func (c *converter) name(kind, ns, name, obj string) string {
	if c.names[kind] == nil {
		c.names[kind] = map[string]string{}
	}
	if owner, taken := c.names[kind][name]; taken {
		renamed := ns + "-" + name
		c.res.Report.change(obj, "metadata.name", fmt.Sprintf("ironlb objects are cluster-scoped and %s %q already came from namespace %s; named %q", kind, name, owner, renamed))
		name = renamed
	}
	c.names[kind][name] = ns
	return name
}

func (c *converter) meta(kind string, u *unstructured.Unstructured, obj string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: c.name(kind, u.GetNamespace(), u.GetName(), obj), Labels: u.GetLabels()}
}

func (c *converter) emit(from string, o client.Object, kind string) {
	o.GetObjectKind().SetGroupVersionKind(ironlbv1.GroupVersion.WithKind(kind))
	c.res.Objects = append(c.res.Objects, o)
	c.res.Report.mapped(from, kind+" "+o.GetName())
}

func (c *converter) pool(u *unstructured.Unstructured, f *fields) {
	p := &ironlbv1.IPAddressPool{ObjectMeta: c.meta("IPAddressPool", u, f.obj)}
	p.Spec.Addresses = c.addresses(f, "addresses")
	if len(p.Spec.Addresses) == 0 {
		c.res.Report.lose(f.obj, "spec.addresses", "no usable address; no pool written")
		return
	}
	if b, ok := f.boolean("autoAssign"); ok {
		p.Spec.AutoAssign = &b
	}
	if b, ok := f.boolean("avoidBuggyIPs"); ok {
		p.Spec.AvoidBuggyIPs = b
		if b && hasIPv6(p.Spec.Addresses) {
			c.res.Report.change(f.obj, "spec.avoidBuggyIPs", "ironlb also skips the IPv6 subnet-router anycast addresses (the first address of each /64 and of each prefix longer than /64) for automatic assignment")
		}
	}
	if v, ok := f.get("serviceAllocation"); ok {
		m, _ := v.(map[string]any)
		sa := newFields(f.report, f.obj, "spec.serviceAllocation", m)
		p.Spec.ServiceAllocation = &ironlbv1.ServiceAllocation{
			Priority:           sa.int32p("priority", 0, 1000000),
			Namespaces:         sa.strings("namespaces"),
			NamespaceSelectors: sa.selectors("namespaceSelectors"),
			ServiceSelectors:   sa.selectors("serviceSelectors"),
		}
		sa.leftovers()
	}
	c.res.Pools[u.GetName()] = p.Name
	c.emit(f.obj, p, "IPAddressPool")
}

// addresses normalizes MetalLB's address entries to ironlb's stricter form: a single
// address gets its full-length prefix and a CIDR with host bits set becomes its network,
// which is what MetalLB's parser made of it.
func (c *converter) addresses(f *fields, key string) []ironlbv1.AddressRange {
	var out []ironlbv1.AddressRange
	for i, raw := range f.strings(key) {
		field := fmt.Sprintf("%s[%d]", f.field(key), i)
		s, why, err := normalizeAddress(raw)
		if err != nil {
			c.res.Report.lose(f.obj, field, fmt.Sprintf("%q: %v; not converted", raw, err))
			continue
		}
		if why != "" {
			c.res.Report.change(f.obj, field, fmt.Sprintf("%q %s; written as %q", raw, why, s))
		}
		out = append(out, ironlbv1.AddressRange(s))
	}
	return out
}

func normalizeAddress(raw string) (string, string, error) {
	s := strings.TrimSpace(raw)
	if first, last, isRange := strings.Cut(s, "-"); isRange {
		a, errA := netip.ParseAddr(strings.TrimSpace(first))
		b, errB := netip.ParseAddr(strings.TrimSpace(last))
		if errA != nil || errB != nil || a.Is4() != b.Is4() || b.Less(a) {
			return "", "", fmt.Errorf("not a range of one family with the lower address first")
		}
		out := a.String() + "-" + b.String()
		if out != s {
			return out, "is written with spaces", nil
		}
		return out, "", nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()).String(), "is a single address", nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return "", "", fmt.Errorf("neither a CIDR nor a range")
	}
	if p.Masked() != p {
		return p.Masked().String(), "has host bits set, which MetalLB ignores (it uses the network " + p.Masked().String() + ")", nil
	}
	return p.String(), "", nil
}

func hasIPv6(addrs []ironlbv1.AddressRange) bool {
	for _, a := range addrs {
		if strings.Contains(string(a), ":") {
			return true
		}
	}
	return false
}

// poolSelection reads ipAddressPools and ipAddressPoolSelectors, following renamed pools.
func (c *converter) poolSelection(f *fields) ironlbv1.PoolSelection {
	var sel ironlbv1.PoolSelection
	for _, name := range f.strings("ipAddressPools") {
		if to, ok := c.res.Pools[name]; ok {
			name = to
		} else {
			c.res.Report.note(f.obj, "spec.ipAddressPools", fmt.Sprintf("pool %q is not among the converted objects; kept by name", name))
		}
		sel.IPAddressPools = append(sel.IPAddressPools, name)
	}
	sel.IPAddressPoolSelectors = f.selectors("ipAddressPoolSelectors")
	return sel
}

func (c *converter) l2(u *unstructured.Unstructured, f *fields) {
	a := &ironlbv1.L2Advertisement{ObjectMeta: c.meta("L2Advertisement", u, f.obj)}
	a.Spec.PoolSelection = c.poolSelection(f)
	a.Spec.NodeSelectors = f.selectors("nodeSelectors")
	for _, i := range f.strings("interfaces") {
		a.Spec.Interfaces = append(a.Spec.Interfaces, ironlbv1.InterfaceName(i))
	}
	c.emit(f.obj, a, "L2Advertisement")
}

func (c *converter) bgpAdvertisement(u *unstructured.Unstructured, f *fields) {
	a := &ironlbv1.BGPAdvertisement{ObjectMeta: c.meta("BGPAdvertisement", u, f.obj)}
	a.Spec.PoolSelection = c.poolSelection(f)
	a.Spec.NodeSelectors = f.selectors("nodeSelectors")
	a.Spec.AggregationLength = f.int32p("aggregationLength", 0, 32)
	a.Spec.AggregationLengthV6 = f.int32p("aggregationLengthV6", 0, 128)
	if n, ok := f.integer("localPref", 0, 4294967295); ok {
		a.Spec.LocalPref = &n
	}
	a.Spec.Communities = c.resolveCommunities(f, "communities")
	a.Spec.Peers = f.strings("peers")
	c.emit(f.obj, a, "BGPAdvertisement")
}

// resolveCommunities replaces Community aliases by their values: ironlb has no Community
// object, advertisements carry the values.
func (c *converter) resolveCommunities(f *fields, key string) []ironlbv1.Community {
	var out []ironlbv1.Community
	for _, v := range f.strings(key) {
		value := v
		if !looksLikeCommunity(v) {
			resolved, ok := c.communities[v]
			if !ok {
				c.res.Report.lose(f.obj, f.field(key), fmt.Sprintf("community alias %q is defined by no Community object; not converted", v))
				continue
			}
			c.res.Report.change(f.obj, f.field(key), fmt.Sprintf("alias %q written as its value %s", v, resolved))
			value = resolved
		}
		out = append(out, ironlbv1.Community(value))
	}
	return out
}

func looksLikeCommunity(s string) bool {
	return strings.HasPrefix(s, "large:") || strings.Count(s, ":") == 1 && !strings.ContainsAny(s, " /")
}

func (c *converter) community(u *unstructured.Unstructured, f *fields) {
	var names []string
	for i, m := range f.maps("communities") {
		e := newFields(f.report, f.obj, fmt.Sprintf("spec.communities[%d]", i), m)
		name, _ := e.str("name")
		value, _ := e.str("value")
		e.leftovers()
		if name != "" && value != "" {
			c.communities[name] = value
			names = append(names, name)
		}
	}
	c.res.Report.note(f.obj, "", fmt.Sprintf("ironlb has no Community object; the aliases %s are written as their values in the BGPAdvertisements that use them", strings.Join(names, ", ")))
}
