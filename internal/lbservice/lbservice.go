// Package lbservice holds what the controller and the speaker must agree on about a
// LoadBalancer Service: which Services ironlb serves, and the annotation naming the pools
// the addresses came from.
package lbservice

import corev1 "k8s.io/api/core/v1"

// AnnotationAllocatedFromPool is written by the controller: the pool (or pools, comma
// separated, one per address family) the Service's addresses came from. The speaker reads
// it to find the pool of an address when pools overlap.
const AnnotationAllocatedFromPool = "ironlb.io/ip-allocated-from-pool"

// IsOurs tells whether the ironlb with the given loadBalancerClass ("" for the default)
// serves this Service.
func IsOurs(svc *corev1.Service, class string) bool {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return false
	}
	if svc.Spec.LoadBalancerClass == nil {
		return class == ""
	}
	return *svc.Spec.LoadBalancerClass == class
}
