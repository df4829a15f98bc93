package service

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/controller/allocator"
	"github.com/ironlb/ironlb/controller/nodeaddr"
	"github.com/ironlb/ironlb/controller/request"
	"github.com/ironlb/ironlb/internal/ipset"
)

// fallback is what node-address fallback needs to know of a Service that no pool serves.
type fallback struct {
	service    string
	families   []ipset.Family
	requireAll bool
	local      bool
	tcpPorts   []int32
	// noPool is the allocator's NoMatchingPool message, kept in the condition so the user
	// still reads why no pool serves the Service.
	noPool string
}

func fallbackOf(req allocator.Request, noPool string) *fallback {
	fb := &fallback{service: req.Service, families: allocator.WantedFamilies(req),
		requireAll: req.Policy == allocator.RequireDualStack, local: req.TrafficPolicyLocal, noPool: noPool}
	for _, p := range req.Ports {
		if p.Protocol == string(corev1.ProtocolTCP) {
			fb.tcpPorts = append(fb.tcpPorts, p.Port)
		}
	}
	return fb
}

// nodeAddresses reads the nodes (and, with externalTrafficPolicy: Local, the Service's
// endpoints) from the cache and turns the fallback into the Service's outcome.
func (r *Reconciler) nodeAddresses(ctx context.Context, svc *corev1.Service, out outcome) (outcome, error) {
	fb := out.fallback
	var nodes corev1.NodeList
	if err := r.Client.List(ctx, &nodes); err != nil {
		return out, err
	}
	in := nodeaddr.Input{Nodes: nodes.Items, Families: fb.families, RequireAll: fb.requireAll, Local: fb.local, TCPPorts: fb.tcpPorts}
	if fb.local {
		var slices discoveryv1.EndpointSliceList
		if err := r.Client.List(ctx, &slices, client.InNamespace(svc.Namespace),
			client.MatchingLabels{discoveryv1.LabelServiceName: svc.Name}); err != nil {
			return out, err
		}
		in.LocalNodes = nodeaddr.LocalNodes(slices.Items)
	}
	res := nodeaddr.Compute(in)
	collision, err := r.collision(ctx, svc, res)
	if err != nil {
		return out, err
	}
	return fallbackOutcome(res, fb, out.legacy, collision), nil
}

// collision checks the Service's node addresses and ports against the other Services of
// ours on node addresses (see nodeaddr.Collision).
func (r *Reconciler) collision(ctx context.Context, svc *corev1.Service, res nodeaddr.Result) (string, error) {
	if len(res.Addresses) == 0 {
		return "", nil
	}
	var list corev1.ServiceList
	if err := r.Client.List(ctx, &list); err != nil {
		return "", err
	}
	var others []nodeaddr.Claim
	for i := range list.Items {
		o := &list.Items[i]
		if nodeaddr.InUse(o) && wantsFallback(o) && request.IsOurs(o, r.Class) {
			others = append(others, nodeaddr.ClaimOf(o))
		}
	}
	self := nodeaddr.ClaimOf(svc)
	self.IPs = res.IPs()
	return nodeaddr.Collision(self, others), nil
}

// fallbackOutcome is the Service's outcome with node addresses: True NodeAddresses naming
// the nodes, or False NoNodeAddresses saying why each node gives none. Either message ends
// with why no pool serves the Service, which is what makes a pool address come back.
func fallbackOutcome(res nodeaddr.Result, fb *fallback, legacy []string, collision string) outcome {
	why := fmt.Sprintf("(annotation %s). %s", ironlbv1.AnnotationNodeAddressFallback, fb.noPool)
	if collision != "" {
		return outcome{legacy: legacy, failure: ironlbv1.ReasonNoNodeAddresses,
			cond: failed(ironlbv1.ReasonNoNodeAddresses,
				fmt.Sprintf("Service %s cannot use node addresses: %s; use other ports, or wait until that Service leaves them %s", fb.service, collision, why))}
	}
	if len(res.Addresses) == 0 {
		return outcome{legacy: legacy, failure: ironlbv1.ReasonNoNodeAddresses,
			cond: failed(ironlbv1.ReasonNoNodeAddresses,
				fmt.Sprintf("No node can give Service %s an address: %s %s", fb.service, res.Refused(), why))}
	}
	out := outcome{ips: res.IPs(), legacy: legacy, pools: make([]string, len(res.Addresses)),
		cond: condition{metav1.ConditionTrue, ironlbv1.ReasonNodeAddresses,
			fmt.Sprintf("Service %s %s %s", fb.service, res.Used(), why)}}
	for _, a := range res.Addresses {
		out.nodes = append(out.nodes, a.Node)
	}
	return out
}

// added describes an address new in the Service's status for the IPAllocated event.
func (o outcome) added(i int) string {
	if o.nodes != nil && o.nodes[i] != "" {
		return fmt.Sprintf("%s (InternalIP of node %s)", o.ips[i], o.nodes[i])
	}
	return fmt.Sprintf("%s from pool %s", o.ips[i], o.pools[i])
}

// wantsFallback tells whether a Service opted in to node addresses, without parsing the
// rest of it: the watches use it to skip the Services a node or endpoint change cannot
// affect.
func wantsFallback(svc *corev1.Service) bool {
	return strings.TrimSpace(svc.Annotations[ironlbv1.AnnotationNodeAddressFallback]) == "true"
}
