// Package v1beta1 holds ironlb's API: address pools and how their addresses are announced.
//
// Every type is cluster-scoped because pools and announcements are shared by all namespaces.
// Per-object rules live in the CRD schema (OpenAPI and CEL) so `kubectl apply` refuses a bad
// object with a message naming the field, without an admission webhook. Rules that span
// objects (overlapping pools, a missing BFD profile) are reported as status conditions.
//
// +kubebuilder:object:generate=true
// +groupName=ironlb.io
package v1beta1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of every ironlb object.
	GroupVersion = schema.GroupVersion{Group: "ironlb.io", Version: "v1beta1"}

	// SchemeBuilder registers the ironlb types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the ironlb types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
