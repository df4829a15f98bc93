package service

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/controller/allocator"
	"github.com/ironlb/ironlb/internal/status"
)

type condition struct {
	status  metav1.ConditionStatus
	reason  string
	message string
}

func failed(reason, message string) condition {
	return condition{metav1.ConditionFalse, reason, message}
}

func allocated(asg allocator.Assignment) condition {
	var parts []string
	for i, ip := range asg.IPs {
		if asg.Pools[i] == "" {
			parts = append(parts, fmt.Sprintf("%s (kept; no pool contains it any more)", ip))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s from pool %s", ip, asg.Pools[i]))
	}
	msg := strings.Join(parts, ", ")
	for _, m := range asg.Missing {
		msg += "; still waiting: " + m.Message
	}
	return condition{metav1.ConditionTrue, "Allocated", msg}
}

func ingressFor(ips []netip.Addr) []corev1.LoadBalancerIngress {
	vip := corev1.LoadBalancerIPModeVIP
	out := make([]corev1.LoadBalancerIngress, 0, len(ips))
	for _, ip := range ips {
		out = append(out, corev1.LoadBalancerIngress{IP: ip.String(), IPMode: &vip})
	}
	return out
}

func ingressIPs(in []corev1.LoadBalancerIngress) []netip.Addr {
	var out []netip.Addr
	for _, ing := range in {
		if ip, err := netip.ParseAddr(ing.IP); err == nil {
			out = append(out, ip)
		}
	}
	return out
}

// write brings the Service's status and pool annotation in line with the outcome, and
// emits events for what changed. Writes are skipped when nothing changed, so a resync of
// 3000 Services costs no API writes.
func (r *Reconciler) write(ctx context.Context, svc *corev1.Service, out outcome) error {
	before := ingressIPs(svc.Status.LoadBalancer.Ingress)
	prevCond := meta.FindStatusCondition(svc.Status.Conditions, ironlbv1.ConditionIPAllocated)
	condChanged := prevCond == nil || prevCond.Status != out.cond.status || prevCond.Reason != out.cond.reason || prevCond.Message != out.cond.message
	// An update carries the resourceVersion it was based on, so a stale copy is refused
	// (conflict, then retried) and the conditions other components write on the Service are
	// never lost; it also costs the API server less than a strategic merge patch.
	w := status.Writer{Client: r.Client, Strategy: status.Update, FieldManager: ironlbv1.ControllerName}
	var changed bool
	wrote, err := w.Write(ctx, svc, func() {
		orig := svc.Status.DeepCopy()
		svc.Status.LoadBalancer.Ingress = ingressFor(out.ips)
		if len(svc.Status.LoadBalancer.Ingress) == 0 {
			svc.Status.LoadBalancer.Ingress = nil
		}
		meta.SetStatusCondition(&svc.Status.Conditions, metav1.Condition{
			Type: ironlbv1.ConditionIPAllocated, Status: out.cond.status, Reason: out.cond.reason,
			Message: truncate(out.cond.message), ObservedGeneration: svc.Generation,
		})
		if changed = !equality.Semantic.DeepEqual(orig, &svc.Status); changed {
			// The recorded annotations travel in the same request: for Services the API
			// server keeps metadata changes sent to /status (it resets only the spec), so
			// each allocation costs one write instead of two.
			setRecordedAnnotations(svc, recordedAnnotations(out))
		}
	})
	if err != nil || (changed && !wrote) {
		return err // a Service that is gone needs no annotation or events
	}
	if err := r.annotate(ctx, svc, recordedAnnotations(out)); err != nil {
		return err
	}
	r.report(svc, before, out, condChanged)
	return nil
}

// recordedAnnotations are the annotations the controller records beside the status, by
// name, "" for one that must be absent: the pools the addresses came from, and the sharing
// fingerprint they were confirmed under (start-up reads both back, see package bootstrap).
// A Service that holds nothing carries neither.
func recordedAnnotations(out outcome) map[string]string {
	rec := map[string]string{ironlbv1.AnnotationAllocatedFromPool: "", ironlbv1.AnnotationAllocatedSharing: ""}
	if len(out.ips) > 0 {
		rec[ironlbv1.AnnotationAllocatedFromPool] = strings.Join(uniquePools(out.pools), ",")
		rec[ironlbv1.AnnotationAllocatedSharing] = out.sharing
	}
	return rec
}

// staleAnnotations returns the recorded annotations whose value on the Service differs
// from want, with the wanted value (nil to remove one), as a merge patch's annotations.
func staleAnnotations(svc *corev1.Service, want map[string]string) map[string]any {
	stale := map[string]any{}
	for name, value := range want {
		have, present := svc.Annotations[name]
		switch {
		case value == "" && present:
			stale[name] = nil
		case value != "" && have != value:
			stale[name] = value
		}
	}
	return stale
}

func setRecordedAnnotations(svc *corev1.Service, want map[string]string) {
	for name, value := range staleAnnotations(svc, want) {
		if value == nil {
			delete(svc.Annotations, name)
			continue
		}
		if svc.Annotations == nil {
			svc.Annotations = map[string]string{}
		}
		svc.Annotations[name] = value.(string)
	}
}

// annotate writes the recorded annotations when the status did not change (so no status
// write carried them), e.g. after an edit of one by hand, or a port change that kept the
// address.
func (r *Reconciler) annotate(ctx context.Context, svc *corev1.Service, want map[string]string) error {
	stale := staleAnnotations(svc, want)
	if len(stale) == 0 {
		return nil
	}
	data, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": stale}})
	if err != nil {
		return err
	}
	return client.IgnoreNotFound(r.Client.Patch(ctx, svc, client.RawPatch(types.MergePatchType, data)))
}

// report emits events and metrics for the difference between the addresses the Service
// had and the ones it has now.
func (r *Reconciler) report(svc *corev1.Service, before []netip.Addr, out outcome, condChanged bool) {
	var added []string
	for i, ip := range out.ips {
		if !slices.Contains(before, ip) {
			added = append(added, out.added(i))
			if r.Metrics != nil && out.nodes == nil {
				r.Metrics.Allocated(out.pools[i])
			}
		}
	}
	var removed []string
	for _, ip := range before {
		if !slices.Contains(out.ips, ip) {
			removed = append(removed, ip.String())
		}
	}
	if len(added) > 0 {
		r.Recorder.Eventf(svc, nil, corev1.EventTypeNormal, ironlbv1.EventIPAllocated, "Allocate", "assigned %s", strings.Join(added, ", "))
		for _, l := range out.legacy {
			r.Recorder.Eventf(svc, nil, corev1.EventTypeNormal, "LegacyAnnotation", "Allocate",
				"read MetalLB annotation %s; ironlb's own form is ironlb.io/%s", l, l[strings.Index(l, "/")+1:])
		}
	}
	if len(removed) > 0 {
		r.Recorder.Eventf(svc, nil, corev1.EventTypeNormal, ironlbv1.EventIPReleased, "Release", "released %s", strings.Join(removed, ", "))
	}
	if out.cond.status == metav1.ConditionFalse && condChanged {
		r.Recorder.Eventf(svc, nil, corev1.EventTypeWarning, ironlbv1.EventAllocationFailed, "Allocate", "%s: %s", out.cond.reason, truncate(out.cond.message))
	}
	if out.failure != "" && condChanged && r.Metrics != nil {
		r.Metrics.Failed(out.failure)
	}
}

// clearStatus removes the addresses, condition and annotations this controller wrote on a
// Service it no longer serves.
func (r *Reconciler) clearStatus(ctx context.Context, svc *corev1.Service, released []netip.Addr) error {
	w := status.Writer{Client: r.Client, Strategy: status.StrategicMergePatch, OptimisticLock: true, FieldManager: ironlbv1.ControllerName}
	var changed bool
	wrote, err := w.Write(ctx, svc, func() {
		orig := svc.Status.DeepCopy()
		var keep []corev1.LoadBalancerIngress
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			ip, err := netip.ParseAddr(ing.IP)
			if err == nil && slices.Contains(released, ip) {
				continue
			}
			keep = append(keep, ing)
		}
		svc.Status.LoadBalancer.Ingress = keep
		meta.RemoveStatusCondition(&svc.Status.Conditions, ironlbv1.ConditionIPAllocated)
		changed = !equality.Semantic.DeepEqual(orig, &svc.Status)
	})
	if err != nil || (changed && !wrote) {
		return err // a Service that is gone needs no annotation
	}
	return r.annotate(ctx, svc, recordedAnnotations(outcome{}))
}

// truncate keeps condition messages within the API's 32768-character limit.
func truncate(s string) string {
	const limit = 32000
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
