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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the API group and version of every ironlb object.
	GroupVersion = schema.GroupVersion{Group: "ironlb.io", Version: "v1beta1"}

	// SchemeBuilder collects the functions that add ironlb's types to a scheme. The API
	// package depends only on apimachinery so that any program can import it cheaply.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the ironlb types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme

	knownTypes []runtime.Object
)

// register records types for addKnownTypes; each types file calls it from init.
func register(objs ...runtime.Object) { knownTypes = append(knownTypes, objs...) }

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, knownTypes...)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
