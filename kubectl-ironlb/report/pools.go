package report

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/ipset"
	"github.com/ironlb/ironlb/kubectl-ironlb/textout"
)

// PoolReport is one pool: usage per family as the controller counts it, its conditions,
// and the Services holding its addresses.
type PoolReport struct {
	Name       string             `json:"name"`
	Addresses  []string           `json:"addresses"`
	AutoAssign bool               `json:"autoAssign"`
	IPv4       *FamilyReport      `json:"ipv4,omitempty"`
	IPv6       *FamilyReport      `json:"ipv6,omitempty"`
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	Services   []PoolService      `json:"services,omitempty"`
}

// FamilyReport is ironlbv1.FamilyUsage with the names a reader expects.
type FamilyReport struct {
	Total string `json:"total"`
	Used  int64  `json:"used"`
	Free  string `json:"free"`
}

// PoolService is a Service and the addresses it holds from the pool.
type PoolService struct {
	Service   string   `json:"service"`
	Addresses []string `json:"addresses"`
}

// Pools builds the pool reports, in name order.
func Pools(s *Snapshot) []PoolReport {
	var out []PoolReport
	held := holders(s)
	for i := range s.Pools {
		p := &s.Pools[i]
		r := PoolReport{Name: p.Name, AutoAssign: p.Spec.AutoAssign == nil || *p.Spec.AutoAssign,
			Conditions: p.Status.Conditions, Services: held[p.Name]}
		for _, a := range p.Spec.Addresses {
			r.Addresses = append(r.Addresses, string(a))
		}
		r.IPv4, r.IPv6 = family(p.Status.IPv4), family(p.Status.IPv6)
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func family(u *ironlbv1.FamilyUsage) *FamilyReport {
	if u == nil {
		return nil
	}
	return &FamilyReport{Total: u.Total, Used: u.Assigned, Free: u.Available}
}

// holders maps each pool to the Services with addresses in it. The pool of an address is
// the one the controller recorded in the Service's annotation that contains it.
func holders(s *Snapshot) map[string][]PoolService {
	sets := map[string]ipset.Set{}
	for _, p := range s.Pools {
		entries := make([]string, len(p.Spec.Addresses))
		for i, a := range p.Spec.Addresses {
			entries[i] = string(a)
		}
		if set, err := ipset.Parse(entries); err == nil {
			sets[p.Name] = set
		}
	}
	out := map[string][]PoolService{}
	for _, svc := range s.Services {
		byPool := map[string][]string{}
		for _, ip := range IngressIPs(svc.Status.LoadBalancer.Ingress) {
			if pool := PoolOf(ip, svc.Annotations[ironlbv1.AnnotationAllocatedFromPool], sets); pool != "" {
				byPool[pool] = append(byPool[pool], ip.String())
			}
		}
		for pool, ips := range byPool {
			out[pool] = append(out[pool], PoolService{Service: svc.Namespace + "/" + svc.Name, Addresses: ips})
		}
	}
	for _, list := range out {
		sort.Slice(list, func(i, j int) bool { return list[i].Service < list[j].Service })
	}
	return out
}

// PoolOf finds the pool of an address: first among the pools the controller recorded on
// the Service, then any pool that contains it.
func PoolOf(ip netip.Addr, annotation string, sets map[string]ipset.Set) string {
	recorded := strings.Split(annotation, ",")
	for _, name := range recorded {
		if set, ok := sets[strings.TrimSpace(name)]; ok && set.Contains(ip) {
			return strings.TrimSpace(name)
		}
	}
	names := make([]string, 0, len(sets))
	for n := range sets {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if sets[n].Contains(ip) {
			return n
		}
	}
	return ""
}

// PrintPools writes the pools table: one line per pool and family, the Services after.
func PrintPools(out io.Writer, pools []PoolReport) error {
	w := textout.New(out)
	if len(pools) == 0 {
		w.Println("No IPAddressPools: create one (see config/samples) so LoadBalancer Services get addresses.")
		return w.Err()
	}
	tw := textout.Table(w)
	tw.Println("POOL\tFAMILY\tUSED\tFREE\tTOTAL\tAUTO\tSTATE\tSERVICES")
	for _, p := range pools {
		fams := []struct {
			name string
			u    *FamilyReport
		}{{"IPv4", p.IPv4}, {"IPv6", p.IPv6}}
		first := true
		for _, f := range fams {
			if f.u == nil {
				continue
			}
			name, auto, state, svcs := "", "", "", ""
			if first {
				name, auto, state, svcs = p.Name, yesNo(p.AutoAssign), poolState(p.Conditions), serviceList(p.Services)
			}
			tw.Printf("%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", name, f.name, f.u.Used, f.u.Free, f.u.Total, auto, state, svcs)
			first = false
		}
		if first { // no status yet: the controller has not counted this pool
			tw.Printf("%s\t-\t-\t-\t-\t%s\t%s\t%s\n", p.Name, yesNo(p.AutoAssign), poolState(p.Conditions), serviceList(p.Services))
		}
	}
	w.Check(tw.Flush())
	return w.Err()
}

// poolState sums up a pool's conditions: Ready, or each problem condition that is True.
func poolState(conds []metav1.Condition) string {
	if len(conds) == 0 {
		return "no status (is the controller running?)"
	}
	var bad []string
	for _, t := range []string{ironlbv1.ConditionConflict, ironlbv1.ConditionExhausted, ironlbv1.ConditionShrunk} {
		if meta.IsStatusConditionTrue(conds, t) {
			bad = append(bad, t)
		}
	}
	if c := meta.FindStatusCondition(conds, ironlbv1.ConditionReady); c != nil && c.Status != metav1.ConditionTrue {
		bad = append([]string{"NotReady(" + c.Reason + ")"}, bad...)
	}
	if len(bad) == 0 {
		return ironlbv1.ConditionReady
	}
	return strings.Join(bad, ",")
}

func serviceList(svcs []PoolService) string {
	if len(svcs) == 0 {
		return "-"
	}
	parts := make([]string, len(svcs))
	for i, s := range svcs {
		parts[i] = fmt.Sprintf("%s (%s)", s.Service, strings.Join(s.Addresses, ", "))
	}
	return strings.Join(parts, ", ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
