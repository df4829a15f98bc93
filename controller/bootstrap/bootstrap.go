// Package bootstrap claims every existing assignment before the controller hands out a new
// address. It reads pools and Services straight from the API server (not from a cache that
// may lag behind what a previous leader wrote), gives the pools to the allocator, and
// claims each Service's current addresses in creation order, so a restart or a leader
// change moves no IP.
package bootstrap

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/controller/allocator"
	"github.com/ironlb/ironlb/controller/nodeaddr"
	"github.com/ironlb/ironlb/controller/pool"
	"github.com/ironlb/ironlb/controller/request"
)

// Claimer is a manager Runnable that runs once, after this replica becomes leader.
type Claimer struct {
	Reader client.Reader
	Alloc  *allocator.Allocator
	Class  string
	// Done is closed when every existing assignment is claimed.
	Done chan struct{}
}

// Start claims existing assignments, retrying until it succeeds or ctx ends.
func (c *Claimer) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("bootstrap")
	for delay := 200 * time.Millisecond; ; delay = min(delay*2, 10*time.Second) {
		claimed, err := c.claim(ctx)
		if err == nil {
			logger.Info("claimed existing assignments", "services", claimed)
			close(c.Done)
			return nil
		}
		logger.Error(err, "claiming existing assignments; retrying", "in", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
}

// NeedLeaderElection makes the claim run on the leader only, after it is elected.
func (c *Claimer) NeedLeaderElection() bool { return true }

func (c *Claimer) claim(ctx context.Context) (int, error) {
	var pools ironlbv1.IPAddressPoolList
	if err := c.Reader.List(ctx, &pools); err != nil {
		return 0, fmt.Errorf("listing pools: %w", err)
	}
	conflicts := pool.Conflicts(pools.Items)
	for i := range pools.Items {
		p := &pools.Items[i]
		compiled, err := pool.Compile(p)
		if err != nil {
			continue
		}
		compiled.Conflict = conflicts[p.Name] != "" || !p.DeletionTimestamp.IsZero()
		c.Alloc.SetPool(compiled)
	}
	var services corev1.ServiceList
	if err := c.Reader.List(ctx, &services); err != nil {
		return 0, fmt.Errorf("listing services: %w", err)
	}
	items := services.Items
	slices.SortFunc(items, func(a, b corev1.Service) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	logger := log.FromContext(ctx).WithName("bootstrap")
	claimed := 0
	for _, cl := range claimOrder(items, c.Class) {
		claimed += c.claimOne(logger, cl)
	}
	return claimed, nil
}

// claimOrder returns the claims of the Services (sorted by creation) in the order they
// are made. When two Services claim one address and can no longer share it, the one that
// claims first keeps it, so the order is the start-up side of the contested-address rule,
// and it is the runtime one: a Service whose request changed gives up what no longer fits,
// the others keep what they hold.
//  1. Services whose sharing request is the one their addresses were last confirmed under
//     (the ip-allocated-sharing annotation), oldest first;
//  2. Services whose sharing request changed while no controller watched, or whose record
//     is missing (an edit that replaced the annotations, or a Service from a release
//     before the record), oldest first: they yield a contested address;
//  3. Services whose sharing-key annotation is malformed, with the key their co-holders
//     use (see allocator.Request.SharingKeyUnknown).
func claimOrder(items []corev1.Service, class string) []claim {
	var unchanged, changed, unknownKey []claim
	for i := range items {
		cl, ok := claimOf(&items[i], class)
		switch {
		case !ok:
		case cl.req.SharingKeyUnknown:
			unknownKey = append(unknownKey, cl)
		case cl.sharingChanged:
			changed = append(changed, cl)
		default:
			unchanged = append(unchanged, cl)
		}
	}
	return slices.Concat(unchanged, changed, unknownKey)
}

// claim is what one Service claims at start-up.
type claim struct {
	req  allocator.Request
	ips  []netip.Addr
	hint string
	// sharingChanged: the Service's sharing request is not the one recorded when its
	// addresses were last confirmed, or nothing is recorded.
	sharingChanged bool
}

// claimOf reads a Service's claim: the addresses in its status and its request.
func claimOf(svc *corev1.Service, class string) (claim, bool) {
	if !request.IsOurs(svc, class) || nodeaddr.InUse(svc) {
		// Node addresses are no pool's: the Service holds nothing, waits for a pool, and
		// its reconcile recomputes them from the nodes.
		return claim{}, false
	}
	var ips []netip.Addr
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if ip, err := netip.ParseAddr(ing.IP); err == nil {
			ips = append(ips, ip)
		}
	}
	if len(ips) == 0 {
		return claim{}, false
	}
	// A malformed annotation does not cost the Service its address: the request keeps
	// every field that still reads (sharing key, ports), exactly as a running
	// controller keeps the holding it had when the annotation broke.
	parsed, _ := request.FromService(svc, nil)
	req := parsed.Request
	if req.Service == "" {
		req = allocator.Request{Service: svc.Namespace + "/" + svc.Name, Namespace: svc.Namespace}
	}
	return claim{req: req, ips: ips, hint: svc.Annotations[ironlbv1.AnnotationAllocatedFromPool],
		sharingChanged: svc.Annotations[ironlbv1.AnnotationAllocatedSharing] != allocator.SharingFingerprint(req)}, true
}

// claimOne claims one Service's addresses and returns 1 if it got them.
func (c *Claimer) claimOne(logger logr.Logger, cl claim) int {
	if err := c.Alloc.Claim(cl.req, cl.ips, cl.hint); err != nil {
		logger.Info("could not claim the addresses in a Service's status; it will get new ones", "service", cl.req.Service, "reason", err.Error())
		return 0
	}
	return 1
}
