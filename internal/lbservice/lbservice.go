// Package lbservice holds what the controller and the speaker must agree on about a
// LoadBalancer Service: which Services ironlb serves.
package lbservice

import corev1 "k8s.io/api/core/v1"

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
