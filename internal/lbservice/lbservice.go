// Package lbservice holds what the controller and the speaker must agree on about a
// LoadBalancer Service: which Services ironlb serves.
package lbservice

import (
	corev1 "k8s.io/api/core/v1"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
)

// AnnotationAllocatedFromPool is ironlbv1.AnnotationAllocatedFromPool, kept under this
// name until the controller imports the contract directly.
const AnnotationAllocatedFromPool = ironlbv1.AnnotationAllocatedFromPool

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
