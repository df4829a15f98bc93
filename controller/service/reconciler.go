// Package service gives LoadBalancer Services their external IPs: it asks the allocator for
// addresses, writes them to status.loadBalancer.ingress with a condition that explains the
// outcome, records the pool in an annotation, and tells the user in events what changed.
package service

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/controller/allocator"
	"github.com/ironlb/ironlb/controller/nodeaddr"
	"github.com/ironlb/ironlb/controller/request"
	"github.com/ironlb/ironlb/internal/ipset"
)

// Metrics receives allocation outcomes; may be nil.
type Metrics interface {
	Allocated(pool string)
	Released(pool string)
	Failed(reason string)
}

// Reconciler allocates addresses to one Service at a time.
type Reconciler struct {
	Client   client.Client
	Alloc    *allocator.Allocator
	Recorder events.EventRecorder
	// Class is the loadBalancerClass this controller serves; "" serves Services without one.
	Class string
	// Ready is closed once existing assignments are claimed, so nothing new is handed out
	// before every Service that already has an address holds it again.
	Ready   <-chan struct{}
	Metrics Metrics
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	select {
	case <-r.Ready:
	case <-ctx.Done():
		return reconcile.Result{}, ctx.Err()
	}
	key := req.Namespace + "/" + req.Name
	var svc corev1.Service
	if err := r.Client.Get(ctx, req.NamespacedName, &svc); err != nil {
		if apierrors.IsNotFound(err) {
			r.release(key)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	if !request.IsOurs(&svc, r.Class) {
		return reconcile.Result{}, r.stopServing(ctx, &svc, key)
	}

	var ns corev1.Namespace
	if err := r.Client.Get(ctx, types.NamespacedName{Name: svc.Namespace}, &ns); err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, err
	}
	out := r.decide(&svc, ns.Labels, key)
	if out.failure != "" && out.failure != request.InvalidAnnotation && !r.poolsSynced(ctx) {
		// A pool created just before the Service would otherwise cause a false "no pool"
		// condition and event (or node addresses it does not need): wait until the
		// allocator has every pool the cache holds.
		return reconcile.Result{RequeueAfter: 200 * time.Millisecond}, nil
	}
	if out.fallback != nil {
		var err error
		if out, err = r.nodeAddresses(ctx, &svc, out); err != nil {
			return reconcile.Result{}, err
		}
	}
	return reconcile.Result{}, r.write(ctx, &svc, out)
}

// poolsSynced tells whether the allocator has taken every pool in the cache into account,
// at its current generation.
func (r *Reconciler) poolsSynced(ctx context.Context) bool {
	var all ironlbv1.IPAddressPoolList
	if err := r.Client.List(ctx, &all); err != nil {
		return false
	}
	for _, p := range all.Items {
		if gen, ok := r.Alloc.ObservedGeneration(p.Name); !ok || gen != p.Generation {
			return false
		}
	}
	return true
}

// outcome is what the controller decided for a Service, before it is written.
type outcome struct {
	ips     []netip.Addr
	pools   []string
	sharing string // the holding's sharing fingerprint
	// nodes names the node of each address for node-address fallback (nil otherwise).
	nodes   []string
	cond    condition
	legacy  []string
	failure string // the reason of a failed or partial allocation, for metrics
	// fallback is set when no pool serves the Service, it holds nothing and it opted in to
	// node addresses: the reconciler then reads the nodes and decides with nodeaddr.
	fallback *fallback
}

func (r *Reconciler) decide(svc *corev1.Service, nsLabels map[string]string, key string) outcome {
	parsed, err := request.FromService(svc, nsLabels)
	if err != nil {
		// Bad input never costs a working Service its address: keep what it holds.
		held, _ := r.Alloc.Holding(key)
		return outcome{ips: held.IPs, pools: held.Pools, sharing: held.Sharing, failure: request.InvalidAnnotation,
			cond: failed(request.InvalidAnnotation, keeping(err.Error(), held.IPs))}
	}
	asg, err := r.Alloc.Assign(parsed.Request)
	if err != nil {
		reason := "AllocationFailed"
		var aerr *allocator.Error
		if errors.As(err, &aerr) {
			reason = string(aerr.Reason)
		}
		held, _ := r.Alloc.Holding(key)
		out := outcome{ips: held.IPs, pools: held.Pools, sharing: held.Sharing, legacy: parsed.Legacy, failure: reason,
			cond: failed(reason, keeping(err.Error(), held.IPs))}
		// Only "no pool serves it" falls back: an exhausted pool still serves the Service,
		// which waits for an address of it, and an address held is never given up.
		if reason == ironlbv1.ReasonNoMatchingPool && parsed.NodeAddressFallback && len(held.IPs) == 0 {
			out.fallback = fallbackOf(parsed.Request, err.Error())
		}
		return out
	}
	out := outcome{ips: asg.IPs, pools: asg.Pools, sharing: asg.Sharing, legacy: parsed.Legacy, cond: allocated(asg)}
	if len(asg.Missing) > 0 {
		out.failure = string(asg.Missing[0].Reason)
	}
	return out
}

func keeping(msg string, held []netip.Addr) string {
	if len(held) == 0 {
		return msg
	}
	return fmt.Sprintf("%s; the Service keeps %s until this is fixed", strings.TrimSuffix(msg, "."), ipset.FormatAddrs(held))
}

// release frees a Service's addresses (the allocator then tells the pool reconciler and
// the waiting Services) and stops it waiting.
func (r *Reconciler) release(key string) []netip.Addr {
	held, _ := r.Alloc.Holding(key)
	r.Alloc.Release(key)
	for _, p := range held.Pools {
		if r.Metrics != nil {
			r.Metrics.Released(p)
		}
	}
	return held.IPs
}

// uniquePools lists the named pools once each, in order ("" is an address in no pool).
func uniquePools(pools []string) []string {
	var names []string
	for _, p := range pools {
		if p != "" && !slices.Contains(names, p) {
			names = append(names, p)
		}
	}
	return names
}

// stopServing releases the addresses of a Service that is no longer ours (its type or class
// changed) and removes what this controller wrote on it.
func (r *Reconciler) stopServing(ctx context.Context, svc *corev1.Service, key string) error {
	released := r.release(key)
	if nodeaddr.InUse(svc) {
		released = append(released, ingressIPs(svc.Status.LoadBalancer.Ingress)...)
	}
	if err := r.clearStatus(ctx, svc, released); err != nil {
		return err
	}
	if len(released) > 0 {
		r.Recorder.Eventf(svc, nil, corev1.EventTypeNormal, ironlbv1.EventIPReleased, "Release",
			"released %s: the Service is no longer a LoadBalancer served by ironlb", ipset.FormatAddrs(released))
	}
	return nil
}
