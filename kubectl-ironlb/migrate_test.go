package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/ipset"
	"github.com/ironlb/ironlb/internal/testenv"
	"github.com/ironlb/ironlb/kubectl-ironlb/migrate"
)

// The MetalLB side of the comparison is read here independently of the converter: its
// own field names, its defaults (aggregation 32/128, localPref 0), its selector meaning
// (an empty list selects everything) and its address parsing (a CIDR's host bits are
// ignored).
type mlbAdv struct {
	Pools       []string               `json:"ipAddressPools"`
	PoolSel     []metav1.LabelSelector `json:"ipAddressPoolSelectors"`
	NodeSel     []metav1.LabelSelector `json:"nodeSelectors"`
	Agg         *int32                 `json:"aggregationLength"`
	Agg6        *int32                 `json:"aggregationLengthV6"`
	LocalPref   *int64                 `json:"localPref"`
	Communities []string               `json:"communities"`
	Peers       []string               `json:"peers"`
	Interfaces  []string               `json:"interfaces"`
}

type mlbPool struct {
	Labels    map[string]string
	Addresses []string
}

type mlbPeer struct {
	Address  string
	MyASN    int64
	PeerASN  int64
	BFD      string
	NodeSel  []metav1.LabelSelector
	Password bool
}

type mlbConfig struct {
	pools       map[string]mlbPool
	l2, bgp     []mlbAdv
	peers       []mlbPeer
	communities map[string]string
}

// legacyConfig is MetalLB's ConfigMap format, as far as the samples use it.
type legacyConfig struct {
	Peers []struct {
		Address  string `json:"peer-address"`
		PeerASN  int64  `json:"peer-asn"`
		MyASN    int64  `json:"my-asn"`
		BFD      string `json:"bfd-profile"`
		Password string `json:"password"`
		NodeSel  []struct {
			MatchLabels map[string]string `json:"match-labels"`
			MatchExpr   []struct {
				Key      string   `json:"key"`
				Operator string   `json:"operator"`
				Values   []string `json:"values"`
			} `json:"match-expressions"`
		} `json:"node-selectors"`
	} `json:"peers"`
	Communities map[string]string `json:"bgp-communities"`
	Pools       []struct {
		Name      string   `json:"name"`
		Protocol  string   `json:"protocol"`
		Addresses []string `json:"addresses"`
		CIDR      []string `json:"cidr"`
		Advs      []struct {
			Agg         *int32   `json:"aggregation-length"`
			LocalPref   *int64   `json:"localpref"`
			Communities []string `json:"communities"`
		} `json:"bgp-advertisements"`
	} `json:"address-pools"`
}

func readMetalLB(t *testing.T, file string) mlbConfig {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	objs, err := migrate.ParseYAML(f, file)
	if err != nil {
		t.Fatal(err)
	}
	c := mlbConfig{pools: map[string]mlbPool{}, communities: map[string]string{}}
	for _, u := range objs {
		spec, _ := json.Marshal(u.Object["spec"])
		switch u.GetKind() {
		case "IPAddressPool":
			var s struct{ Addresses []string }
			mustUnmarshal(t, spec, &s)
			c.pools[u.GetName()] = mlbPool{Labels: u.GetLabels(), Addresses: s.Addresses}
		case "L2Advertisement", "BGPAdvertisement":
			var a mlbAdv
			mustUnmarshal(t, spec, &a)
			if u.GetKind() == "L2Advertisement" {
				c.l2 = append(c.l2, a)
			} else {
				c.bgp = append(c.bgp, a)
			}
		case "BGPPeer":
			var p struct {
				MyASN, PeerASN int64
				PeerAddress    string
				BFDProfile     string
				NodeSelectors  []metav1.LabelSelector
				Password       string
				PasswordSecret map[string]string
			}
			mustUnmarshal(t, spec, &p)
			c.peers = append(c.peers, mlbPeer{Address: p.PeerAddress, MyASN: p.MyASN, PeerASN: p.PeerASN, BFD: p.BFDProfile,
				NodeSel: p.NodeSelectors, Password: p.Password != "" || p.PasswordSecret != nil})
		case "Community":
			var s struct {
				Communities []struct{ Name, Value string }
			}
			mustUnmarshal(t, spec, &s)
			for _, e := range s.Communities {
				c.communities[e.Name] = e.Value
			}
		case "ConfigMap":
			c.addLegacy(t, u.Object["data"].(map[string]any)["config"].(string))
		}
	}
	return c
}

func (c *mlbConfig) addLegacy(t *testing.T, text string) {
	var l legacyConfig
	if err := yaml.Unmarshal([]byte(text), &l); err != nil {
		t.Fatal(err)
	}
	for k, v := range l.Communities {
		c.communities[k] = v
	}
	for _, p := range l.Pools {
		c.pools[p.Name] = mlbPool{Addresses: append(p.Addresses, p.CIDR...)}
		if p.Protocol == "layer2" {
			c.l2 = append(c.l2, mlbAdv{Pools: []string{p.Name}})
			continue
		}
		if len(p.Advs) == 0 {
			c.bgp = append(c.bgp, mlbAdv{Pools: []string{p.Name}})
		}
		for _, a := range p.Advs {
			c.bgp = append(c.bgp, mlbAdv{Pools: []string{p.Name}, Agg: a.Agg, LocalPref: a.LocalPref, Communities: a.Communities})
		}
	}
	for _, p := range l.Peers {
		var sels []metav1.LabelSelector
		for _, s := range p.NodeSel {
			sel := metav1.LabelSelector{MatchLabels: s.MatchLabels}
			for _, e := range s.MatchExpr {
				sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{
					Key: e.Key, Operator: metav1.LabelSelectorOperator(e.Operator), Values: e.Values})
			}
			sels = append(sels, sel)
		}
		c.peers = append(c.peers, mlbPeer{Address: p.Address, MyASN: p.MyASN, PeerASN: p.PeerASN, BFD: p.BFD, NodeSel: sels, Password: p.Password != ""})
	}
}

func mustUnmarshal(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}

// metallbAddresses parses MetalLB's entries the way MetalLB does: a CIDR is its network.
func metallbAddresses(t *testing.T, entries []string) ipset.Set {
	var norm []string
	for _, e := range entries {
		e = strings.ReplaceAll(e, " ", "")
		if p, err := netip.ParsePrefix(e); err == nil {
			e = p.Masked().String()
		} else if a, err := netip.ParseAddr(e); err == nil {
			e = netip.PrefixFrom(a, a.BitLen()).String()
		}
		norm = append(norm, e)
	}
	s, err := ipset.Parse(norm)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testNodes are the label sets the advertisements' and peers' node selection is compared on.
var testNodes = []map[string]string{
	{},
	{"kubernetes.io/hostname": "NodeA"},
	{"kubernetes.io/hostname": "NodeB"},
	{"kubernetes.io/hostname": "hostA", "rack": "frontend"},
	{"kubernetes.io/hostname": "hostC", "rack": "frontend"},
	{"rack": "frontend", "network-speed": "slow"},
	{"rack": "frontend", "network-speed": "fast"},
}

// nodeVector says which test nodes a selector list selects ("" = every node: empty list).
func nodeVector(t *testing.T, sels []metav1.LabelSelector) string {
	var b strings.Builder
	for _, n := range testNodes {
		match := len(sels) == 0
		for i := range sels {
			s, err := metav1.LabelSelectorAsSelector(&sels[i])
			if err != nil {
				t.Fatal(err)
			}
			match = match || s.Matches(labels.Set(n))
		}
		b.WriteString(map[bool]string{true: "1", false: "0"}[match])
	}
	return b.String()
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// behaviour describes what one advertisement does for a pool, without names.
func (c *mlbConfig) behaviour(t *testing.T, a mlbAdv) string {
	var comm []string
	for _, v := range a.Communities {
		if r, ok := c.communities[v]; ok {
			v = r
		}
		comm = append(comm, v)
	}
	sort.Strings(comm)
	sort.Strings(a.Peers)
	sort.Strings(a.Interfaces)
	return fmt.Sprintf("agg=%d/%d lp=%d comm=%v peers=%v ifaces=%v nodes=%s", deref(a.Agg, 32), deref(a.Agg6, 128),
		deref(a.LocalPref, 0), comm, a.Peers, a.Interfaces, nodeVector(t, a.NodeSel))
}

func (c *mlbConfig) selects(a mlbAdv, pool string) bool {
	if len(a.Pools) == 0 && len(a.PoolSel) == 0 {
		return true
	}
	if slices.Contains(a.Pools, pool) {
		return true
	}
	return len(a.PoolSel) > 0 && ironlbv1.MatchesAnySelector(a.PoolSel, c.pools[pool].Labels)
}

// perPool lists, for each pool, the behaviours of the advertisements that select it.
func (c *mlbConfig) perPool(t *testing.T, advs []mlbAdv) map[string][]string {
	out := map[string][]string{}
	for name := range c.pools {
		for _, a := range advs {
			if c.selects(a, name) {
				out[name] = append(out[name], c.behaviour(t, a))
			}
		}
		sort.Strings(out[name])
	}
	return out
}

// readIronlb reads back what the API server stored and describes it the same way.
func readIronlb(t *testing.T) (pools map[string]ipset.Set, l2, bgp map[string][]string, peers []string) {
	ctx := context.Background()
	var pl ironlbv1.IPAddressPoolList
	var l2l ironlbv1.L2AdvertisementList
	var bl ironlbv1.BGPAdvertisementList
	var peerList ironlbv1.BGPPeerList
	if err := env.Client.List(ctx, &pl); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.List(ctx, &l2l); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.List(ctx, &bl); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.List(ctx, &peerList); err != nil {
		t.Fatal(err)
	}
	pools, l2, bgp = map[string]ipset.Set{}, map[string][]string{}, map[string][]string{}
	for i := range pl.Items {
		p := &pl.Items[i]
		var entries []string
		for _, a := range p.Spec.Addresses {
			entries = append(entries, string(a))
		}
		set, err := ipset.Parse(entries)
		if err != nil {
			t.Fatal(err)
		}
		pools[p.Name] = set
		for _, a := range l2l.Items {
			if a.Spec.Selects(p) {
				var ifaces []string
				for _, i := range a.Spec.Interfaces {
					ifaces = append(ifaces, string(i))
				}
				sort.Strings(ifaces)
				l2[p.Name] = append(l2[p.Name], fmt.Sprintf("agg=32/128 lp=0 comm=[] peers=[] ifaces=%v nodes=%s", ifaces, nodeVector(t, a.Spec.NodeSelectors)))
			}
		}
		for _, a := range bl.Items {
			if a.Spec.Selects(p) {
				var comm []string
				for _, c := range a.Spec.Communities {
					comm = append(comm, string(c))
				}
				sort.Strings(comm)
				peers := slices.Clone(a.Spec.Peers)
				sort.Strings(peers)
				bgp[p.Name] = append(bgp[p.Name], fmt.Sprintf("agg=%d/%d lp=%d comm=%v peers=%v ifaces=[] nodes=%s", deref(a.Spec.AggregationLength, -1),
					deref(a.Spec.AggregationLengthV6, -1), deref(a.Spec.LocalPref, 0), comm, peers, nodeVector(t, a.Spec.NodeSelectors)))
			}
		}
		sort.Strings(l2[p.Name])
		sort.Strings(bgp[p.Name])
	}
	for _, p := range peerList.Items {
		peers = append(peers, peerLine(t, p.Spec.PeerAddress, p.Spec.MyASN, p.Spec.PeerASN, p.Spec.BFDProfile, p.Spec.NodeSelectors,
			p.Spec.Password != "" || p.Spec.PasswordSecret != nil))
	}
	sort.Strings(peers)
	return pools, l2, bgp, peers
}

func peerLine(t *testing.T, addr string, my, peer int64, bfd string, sels []metav1.LabelSelector, password bool) string {
	return fmt.Sprintf("%s my=%d peer=%d bfd=%q password=%v nodes=%s", addr, my, peer, bfd, password, nodeVector(t, sels))
}

func equalLists(a, b []string) bool { return slices.Equal(a, b) || len(a) == 0 && len(b) == 0 }

// TestMigrateDocumentedSamples converts each sample written from MetalLB's documentation,
// applies the printed YAML with the real kubectl (so the API server's validation of
// ironlb's CRDs judges it), and checks that the stored objects mean the same: every pool
// holds the same addresses, and each pool is advertised the same way (same attributes, to
// the same peers, from the same nodes); the peers open the same sessions on the same nodes.
func TestMigrateDocumentedSamples(t *testing.T) {
	e := testenv.Require(t, env)
	for _, name := range []string{"l2-basic", "ipaddresspool-advanced", "bgp-advanced", "legacy-config"} {
		t.Run(name, func(t *testing.T) {
			t.Cleanup(func() { removeIronlbObjects(t) })
			file := filepath.Join("migrate", "testdata", name+".yaml")
			out, report, code := plugin(t, e.Kubeconfig, "migrate", "metallb", "-f", file)
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, report)
			}
			mustContain(t, "report", report, "0 setting(s) lost")
			stdout, stderr, err := e.Kubectl(context.Background(), out, "apply", "-f", "-")
			if err != nil {
				t.Fatalf("kubectl apply refused the converted objects: %v\n%s\n%s", err, stderr, out)
			}
			t.Logf("kubectl apply:\n%s", stdout)
			want := readMetalLB(t, file)
			pools, l2, bgp, peers := readIronlb(t)
			if len(pools) != len(want.pools) {
				t.Errorf("%d pools stored, MetalLB has %d", len(pools), len(want.pools))
			}
			for pname, p := range want.pools {
				if got, ok := pools[pname]; !ok || !got.Equal(metallbAddresses(t, p.Addresses)) {
					t.Errorf("pool %s holds %v, MetalLB's holds %v", pname, got, metallbAddresses(t, p.Addresses))
				}
			}
			wantL2, wantBGP := want.perPool(t, want.l2), want.perPool(t, want.bgp)
			for pname := range want.pools {
				if !equalLists(l2[pname], wantL2[pname]) {
					t.Errorf("pool %s: layer 2\n got  %v\n want %v", pname, l2[pname], wantL2[pname])
				}
				if !equalLists(bgp[pname], wantBGP[pname]) {
					t.Errorf("pool %s: BGP\n got  %v\n want %v", pname, bgp[pname], wantBGP[pname])
				}
			}
			var wantPeers []string
			for _, p := range want.peers {
				wantPeers = append(wantPeers, peerLine(t, p.Address, p.MyASN, p.PeerASN, p.BFD, p.NodeSel, p.Password))
			}
			sort.Strings(wantPeers)
			if !equalLists(peers, wantPeers) {
				t.Errorf("peers\n got  %v\n want %v", peers, wantPeers)
			}
		})
	}
}

// TestMigrateApplyAndLoss applies a conversion with --apply (twice: created, then
// updated) and checks that a lossy configuration exits 2 and applies nothing, unless
// --allow-loss.
func TestMigrateApplyAndLoss(t *testing.T) {
	e := testenv.Require(t, env)
	t.Cleanup(func() { removeIronlbObjects(t) })
	file := filepath.Join("migrate", "testdata", "bgp-advanced.yaml")
	out, report, code := plugin(t, e.Kubeconfig, "migrate", "metallb", "-f", file, "--apply")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, report)
	}
	mustContain(t, "apply output", out, "IPAddressPool bgp-pool created", "BGPPeer peer-a created", "BFDProfile full-test created")
	out, _, code = plugin(t, e.Kubeconfig, "migrate", "metallb", "-f", file, "--apply")
	if code != 0 {
		t.Fatalf("second apply exit %d", code)
	}
	mustContain(t, "second apply", out, "IPAddressPool bgp-pool updated")

	lossy := filepath.Join("migrate", "testdata", "lossy.yaml")
	out, report, code = plugin(t, e.Kubeconfig, "migrate", "metallb", "-f", lossy, "--apply")
	if code != migrate.ExitLoss || out != "" {
		t.Fatalf("lossy: exit %d, stdout %q; want exit %d and nothing applied", code, out, migrate.ExitLoss)
	}
	mustContain(t, "lossy report", report,
		`LOST    spec.vrf: "red": ironlb opens sessions in the node's default VRF only`,
		"LOST    spec.futureSetting: 3: ironlb has no such setting",
		"BGPPeer metallb-system/unnumbered (metallb.io/v1beta2) -> (no object)",
		"Services: 1 need an edit.",
		`EDIT demo/legacy: spec.loadBalancerClass is "metallb.io/metallb"`,
		"ok   demo/web: no edit needed: ironlb reads metallb.universe.tf/address-pool, metallb.universe.tf/allow-shared-ip",
		"5 setting(s) lost", "rerun with --allow-loss")
	var p ironlbv1.IPAddressPool
	if err := e.Client.Get(context.Background(), clientKey("lab"), &p); err == nil {
		t.Error("a lossy conversion without --allow-loss applied pool lab")
	}
	out, _, code = plugin(t, e.Kubeconfig, "migrate", "metallb", "-f", lossy, "--apply", "--allow-loss")
	if code != 0 {
		t.Fatalf("--allow-loss: exit %d", code)
	}
	mustContain(t, "--allow-loss", out, "IPAddressPool lab created", "BGPPeer in-vrf created")
}
