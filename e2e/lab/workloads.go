package lab

import (
	"context"
	"fmt"
	"time"

	"github.com/ironlb/ironlb/e2e/lab/host"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// NewPodserverDeployment returns a Deployment of the podserver image in a cluster lab:
// pods labelled app=NAME that serve their name on PodPort (and 80), with a readiness probe
// on PodPort, so the EndpointSlice controller marks an endpoint ready only once its pod
// answers. Change what a test needs (node selector, replicas) and pass it to
// CreateDeployment.
func NewPodserverDeployment(namespace, name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					// The podserver stops within 2 s of SIGTERM.
					TerminationGracePeriodSeconds: ptr(int64(5)),
					Containers: []corev1.Container{{
						Name:  "podserver",
						Image: PodserverImage,
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: PodPort}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(PodPort)}},
							PeriodSeconds:    1,
							FailureThreshold: 1,
						},
					}},
				},
			},
		},
	}
}

// CreateDeployment creates a Deployment (and its namespace if needed) and waits until all
// its replicas are available, which in a cluster lab means scheduled, running under a
// kubelet and passing their readiness probes.
func (l *Lab) CreateDeployment(ctx context.Context, d *appsv1.Deployment) (*appsv1.Deployment, error) {
	if d.Namespace == "" {
		d.Namespace = "default"
	}
	if err := l.ensureNamespace(ctx, d.Namespace); err != nil {
		return nil, err
	}
	if _, err := l.Kube.AppsV1().Deployments(d.Namespace).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create Deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	return l.WaitDeploymentAvailable(ctx, d.Namespace, d.Name, 2*time.Minute)
}

// WaitDeploymentAvailable waits until a Deployment's observed generation is current and
// every wanted replica is updated and available.
func (l *Lab) WaitDeploymentAvailable(ctx context.Context, namespace, name string, timeout time.Duration) (*appsv1.Deployment, error) {
	var d *appsv1.Deployment
	err := host.Poll(ctx, timeout, 200*time.Millisecond, "Deployment "+namespace+"/"+name+" to be available", func(ctx context.Context) (bool, error) {
		var err error
		d, err = l.Kube.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		s := d.Status
		if s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.AvailableReplicas == want && s.Replicas == want {
			return true, nil
		}
		return false, fmt.Errorf("%d/%d updated, %d available, %d total", s.UpdatedReplicas, want, s.AvailableReplicas, s.Replicas)
	})
	if err != nil {
		pods, _ := l.Kubectl(ctx, "-n", namespace, "get", "pods", "-o", "wide")
		events, _ := l.Kubectl(ctx, "-n", namespace, "get", "events", "--sort-by=.lastTimestamp")
		return nil, fmt.Errorf("%w\n%s\n%s", err, pods, lastLines(events, 15))
	}
	return d, nil
}

// PodsOf returns the running pods that a label selector matches, with their nodes.
func (l *Lab) PodsOf(ctx context.Context, namespace, selector string) ([]corev1.Pod, error) {
	list, err := l.Kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			pods = append(pods, p)
		}
	}
	return pods, nil
}
