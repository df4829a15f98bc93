// Package report reads ironlb's objects and the Services, Nodes and speaker pods once into
// a Snapshot, and builds from it what the plugin prints: the status screen, the pools
// table and the explanation of one Service. The building is pure, so it is tested on
// snapshots; only Read talks to the API server.
package report

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
)

// SpeakerSelector selects the speaker pods the chart runs (its ironlb.selector labels).
var SpeakerSelector = client.MatchingLabels{"app.kubernetes.io/name": "ironlb", "app.kubernetes.io/component": "speaker"}

// Snapshot is what the reports are built from.
type Snapshot struct {
	Pools             []ironlbv1.IPAddressPool
	L2Advertisements  []ironlbv1.L2Advertisement
	BGPAdvertisements []ironlbv1.BGPAdvertisement
	BGPPeers          []ironlbv1.BGPPeer
	BFDProfiles       []ironlbv1.BFDProfile
	Services          []corev1.Service // LoadBalancer Services only
	Nodes             []corev1.Node
	Speakers          []corev1.Pod
	// SpeakersError says why the speaker pods could not be listed (e.g. no permission to
	// list pods); the rest of the report does not need them.
	SpeakersError string
}

// Read lists everything the reports need. The pools come first, so a cluster without
// ironlb's CRDs fails on the first request.
func Read(ctx context.Context, c client.Client) (*Snapshot, error) {
	s := &Snapshot{}
	lists := []struct {
		list client.ObjectList
		name string
	}{
		{&ironlbv1.IPAddressPoolList{}, "IPAddressPools"},
		{&ironlbv1.L2AdvertisementList{}, "L2Advertisements"},
		{&ironlbv1.BGPAdvertisementList{}, "BGPAdvertisements"},
		{&ironlbv1.BGPPeerList{}, "BGPPeers"},
		{&ironlbv1.BFDProfileList{}, "BFDProfiles"},
		{&corev1.ServiceList{}, "Services"},
		{&corev1.NodeList{}, "Nodes"},
	}
	for _, l := range lists {
		if err := c.List(ctx, l.list); err != nil {
			return nil, err
		}
	}
	s.Pools = lists[0].list.(*ironlbv1.IPAddressPoolList).Items
	s.L2Advertisements = lists[1].list.(*ironlbv1.L2AdvertisementList).Items
	s.BGPAdvertisements = lists[2].list.(*ironlbv1.BGPAdvertisementList).Items
	s.BGPPeers = lists[3].list.(*ironlbv1.BGPPeerList).Items
	s.BFDProfiles = lists[4].list.(*ironlbv1.BFDProfileList).Items
	for _, svc := range lists[5].list.(*corev1.ServiceList).Items {
		if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
			s.Services = append(s.Services, svc)
		}
	}
	s.Nodes = lists[6].list.(*corev1.NodeList).Items
	var pods corev1.PodList
	if err := c.List(ctx, &pods, SpeakerSelector); err != nil {
		s.SpeakersError = fmt.Sprintf("cannot list the speaker pods: %v", err)
	} else {
		s.Speakers = pods.Items
	}
	return s, nil
}

// ServiceDetail is what explain needs beyond the snapshot for one Service.
type ServiceDetail struct {
	Service        *corev1.Service
	EndpointSlices []discoveryv1.EndpointSlice
	Events         []corev1.Event
}

// ReadService reads one Service (of any type), its EndpointSlices and its events.
func ReadService(ctx context.Context, c client.Client, namespace, name string) (*ServiceDetail, error) {
	d := &ServiceDetail{Service: &corev1.Service{}}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, d.Service); err != nil {
		return nil, err
	}
	var slices discoveryv1.EndpointSliceList
	if err := c.List(ctx, &slices, client.InNamespace(namespace), client.MatchingLabels{discoveryv1.LabelServiceName: name}); err != nil {
		return nil, err
	}
	d.EndpointSlices = slices.Items
	var events corev1.EventList
	if err := c.List(ctx, &events, client.InNamespace(namespace),
		client.MatchingFields{"involvedObject.kind": "Service", "involvedObject.name": name}); err != nil {
		return nil, err
	}
	d.Events = events.Items
	return d, nil
}
