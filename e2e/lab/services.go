package lab

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// EndpointSliceManager is the managed-by label value of the slices the lab writes.
const EndpointSliceManager = "ironlb-lab"

// NewLoadBalancerService returns a dual-stack Service of type LoadBalancer, port 80 to the
// pods' PodPort, selecting app=NAME. Change what a test needs and pass it to CreateService.
func NewLoadBalancerService(namespace, name string) *corev1.Service {
	policy := corev1.IPFamilyPolicyRequireDualStack
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: corev1.ServiceSpec{
			Type:           corev1.ServiceTypeLoadBalancer,
			Selector:       map[string]string{"app": name},
			IPFamilyPolicy: &policy,
			IPFamilies:     []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol},
			Ports: []corev1.ServicePort{{
				Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(PodPort),
			}},
		},
	}
}

// CreateService creates a Service (and its namespace if needed) and returns it as stored,
// with ClusterIPs and NodePorts filled in by the API server.
func (l *Lab) CreateService(ctx context.Context, svc *corev1.Service) (*corev1.Service, error) {
	if svc.Namespace == "" {
		svc.Namespace = "default"
	}
	if err := l.ensureNamespace(ctx, svc.Namespace); err != nil {
		return nil, err
	}
	created, err := l.Kube.CoreV1().Services(svc.Namespace).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create Service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	return created, nil
}

// DeleteService deletes a Service and the EndpointSlices the lab wrote for it (there is no
// garbage collector to follow the owner references).
func (l *Lab) DeleteService(ctx context.Context, namespace, name string) error {
	err := l.Kube.CoreV1().Services(namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete Service %s/%s: %w", namespace, name, err)
	}
	err = l.Kube.DiscoveryV1().EndpointSlices(namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + name + "," + discoveryv1.LabelManagedBy + "=" + EndpointSliceManager,
	})
	if err != nil {
		return fmt.Errorf("delete EndpointSlices of %s/%s: %w", namespace, name, err)
	}
	return nil
}

// Endpoint is a pod as a Service's EndpointSlice shows it.
type Endpoint struct {
	Pod *Pod
	// Ready, Serving and Terminating are the EndpointSlice conditions. A pod being shut down
	// gracefully is Terminating, Serving until it stops answering, and not Ready.
	Ready, Serving, Terminating bool
}

// Ready returns the pods as ready, serving endpoints.
func Ready(pods ...*Pod) []Endpoint {
	eps := make([]Endpoint, 0, len(pods))
	for _, p := range pods {
		eps = append(eps, Endpoint{Pod: p, Ready: true, Serving: true})
	}
	return eps
}

// SetEndpoints replaces the endpoints of a Service: one EndpointSlice per IP family of the
// Service (NAME-ipv4, NAME-ipv6), each endpoint with its node's name so
// externalTrafficPolicy: Local sees where pods run. This is the EndpointSlice controller's
// job in a cluster; kube-proxy and ironlb read the slices exactly as they would read its.
func (l *Lab) SetEndpoints(ctx context.Context, svc *corev1.Service, eps []Endpoint) error {
	current, err := l.Kube.CoreV1().Services(svc.Namespace).Get(ctx, svc.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("set endpoints of %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	families := current.Spec.IPFamilies
	for _, fam := range []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol} {
		name := current.Name + "-" + strings.ToLower(string(fam))
		want := false
		for _, f := range families {
			want = want || f == fam
		}
		if !want {
			err := l.Kube.DiscoveryV1().EndpointSlices(current.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			continue
		}
		if err := l.writeSlice(ctx, current, name, fam, eps); err != nil {
			return fmt.Errorf("set endpoints of %s/%s: %w", svc.Namespace, svc.Name, err)
		}
	}
	return nil
}

// writeSlice creates or updates one EndpointSlice.
func (l *Lab) writeSlice(ctx context.Context, svc *corev1.Service, name string, fam corev1.IPFamily, eps []Endpoint) error {
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: svc.Namespace,
			Name:      name,
			Labels: map[string]string{
				discoveryv1.LabelServiceName: svc.Name,
				discoveryv1.LabelManagedBy:   EndpointSliceManager,
			},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID,
			}},
		},
		AddressType: discoveryv1.AddressType(fam),
		Endpoints:   []discoveryv1.Endpoint{},
	}
	for _, sp := range svc.Spec.Ports {
		port := int32(PodPort)
		if sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal != 0 {
			port = sp.TargetPort.IntVal
		}
		slice.Ports = append(slice.Ports, discoveryv1.EndpointPort{
			Name: ptr(sp.Name), Protocol: ptr(sp.Protocol), Port: ptr(port),
		})
	}
	for _, ep := range eps {
		addr := ep.Pod.IPv4
		if fam == corev1.IPv6Protocol {
			addr = ep.Pod.IPv6
		}
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{addr.String()},
			Conditions: discoveryv1.EndpointConditions{
				Ready: ptr(ep.Ready), Serving: ptr(ep.Serving), Terminating: ptr(ep.Terminating),
			},
			NodeName: ptr(ep.Pod.Node.Name),
		})
	}
	slices := l.Kube.DiscoveryV1().EndpointSlices(svc.Namespace)
	existing, err := slices.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = slices.Create(ctx, slice, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	existing.Labels, existing.OwnerReferences = slice.Labels, slice.OwnerReferences
	existing.Ports, existing.Endpoints = slice.Ports, slice.Endpoints
	_, err = slices.Update(ctx, existing, metav1.UpdateOptions{})
	return err
}

func ptr[T any](v T) *T { return &v }
