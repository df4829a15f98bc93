// Package app wires the controller together: the API client, the leader election, the
// allocator shared by the pool and Service reconcilers, the start-up claim of existing
// assignments, metrics and health endpoints.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/controller/advertisement"
	"github.com/ironlb/ironlb/controller/allocator"
	"github.com/ironlb/ironlb/controller/bgpcondition"
	"github.com/ironlb/ironlb/controller/bootstrap"
	"github.com/ironlb/ironlb/controller/gossipkey"
	"github.com/ironlb/ironlb/controller/metrics"
	"github.com/ironlb/ironlb/controller/pool"
	"github.com/ironlb/ironlb/controller/service"
	"github.com/ironlb/ironlb/internal/metricsendpoint"
)

// Options are the controller's settings; each is a command-line flag.
type Options struct {
	LoadBalancerClass string
	// Metrics is the /metrics endpoint: HTTPS with authentication and authorization
	// unless Metrics.Secure is false.
	Metrics                 metricsendpoint.Options
	HealthAddr              string
	LeaderElect             bool
	LeaderElectionNamespace string
	LeaseDuration           time.Duration
	RenewDeadline           time.Duration
	RetryPeriod             time.Duration
	QPS                     float64
	Burst                   int
	// EventsQPS and EventsBurst limit event writes on a client of their own, so that a
	// burst of allocations spends the API budget on addresses, not on their events.
	EventsQPS   float64
	EventsBurst int
	Workers     int
	LogLevel    string
	// BGPConditionInterval is the shortest time between two writes of one Service's
	// ironlb.io/BGPAdvertised condition (see bgpcondition.DefaultMinInterval).
	BGPConditionInterval time.Duration
	// BGPConditionQPS and BGPConditionBurst limit those writes on a client of their own,
	// so a peer going down under thousands of Services does not delay allocations; zero
	// is bgpcondition.DefaultQPS and DefaultBurst.
	BGPConditionQPS   float64
	BGPConditionBurst int
	// MemberlistSecretName, when set, is the Secret the controller creates once with a
	// random gossip key if it is missing (see gossipkey); empty creates nothing (the
	// chart leaves it empty when speaker.layer2.memberlist.existingSecret is set).
	MemberlistSecretName string
	// MemberlistSecretNamespace is that Secret's namespace; empty is the controller's own
	// (the Lease's namespace).
	MemberlistSecretNamespace string
	// SpeakerPodSelector, when set, selects the speaker Pods in SpeakerPodNamespace: a
	// node's BGP sessions then count in the BGPAdvertised condition only while a Ready
	// speaker Pod runs on it (a killed speaker leaves its session states Established in
	// the BGPPeers' status). Empty checks only the Node's Ready condition.
	SpeakerPodSelector string
	// SpeakerPodNamespace is the speaker Pods' namespace; empty is the controller's own
	// (the Lease's namespace). The controller lists and watches Pods only there, and only
	// those of the selector.
	SpeakerPodNamespace string

	// Config, when set, is used instead of --kubeconfig (for tests).
	Config *rest.Config
}

// Validate checks the options without touching the cluster.
func (o Options) Validate() error {
	var errs []error
	if o.QPS <= 0 {
		errs = append(errs, fmt.Errorf("--kube-api-qps must be positive, got %v", o.QPS))
	}
	if o.Burst <= 0 {
		errs = append(errs, fmt.Errorf("--kube-api-burst must be positive, got %d", o.Burst))
	}
	if o.EventsQPS <= 0 || o.EventsBurst <= 0 {
		errs = append(errs, fmt.Errorf("--events-qps and --events-burst must be positive, got %v and %d", o.EventsQPS, o.EventsBurst))
	}
	if o.BGPConditionInterval < 0 {
		errs = append(errs, fmt.Errorf("--bgp-condition-interval must not be negative, got %v", o.BGPConditionInterval))
	}
	if o.BGPConditionQPS < 0 || o.BGPConditionBurst < 0 {
		errs = append(errs, fmt.Errorf("--bgp-condition-qps and --bgp-condition-burst must not be negative, got %v and %d", o.BGPConditionQPS, o.BGPConditionBurst))
	}
	if o.Workers <= 0 {
		errs = append(errs, fmt.Errorf("--workers must be positive, got %d", o.Workers))
	}
	if o.LeaderElect && (o.RetryPeriod >= o.RenewDeadline || o.RenewDeadline >= o.LeaseDuration) {
		errs = append(errs, fmt.Errorf("leader election needs --retry-period (%v) < --renew-deadline (%v) < --lease-duration (%v)", o.RetryPeriod, o.RenewDeadline, o.LeaseDuration))
	}
	if _, err := parseLevel(o.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if _, err := o.speakerPods(); err != nil {
		errs = append(errs, err)
	}
	if err := o.Metrics.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// speakerPods parses --speaker-pod-selector (nil when unset).
func (o Options) speakerPods() (labels.Selector, error) {
	if o.SpeakerPodSelector == "" {
		return nil, nil
	}
	sel, err := labels.Parse(o.SpeakerPodSelector)
	if err != nil {
		return nil, fmt.Errorf("--speaker-pod-selector: %w", err)
	}
	if sel.Empty() {
		return nil, fmt.Errorf("--speaker-pod-selector %q selects every Pod; give the speaker Pods' labels", o.SpeakerPodSelector)
	}
	return sel, nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", s)
	}
	return l, nil
}

// withNamespaces fills the namespaces left empty: the Lease's from $POD_NAMESPACE (outside
// a Pod there is no service-account namespace file to fall back on; the chart sets it, and
// so can whoever runs the binary by hand), the others from the Lease's.
func (o Options) withNamespaces() (Options, error) {
	if o.LeaderElectionNamespace == "" {
		o.LeaderElectionNamespace = os.Getenv("POD_NAMESPACE")
	}
	if o.MemberlistSecretNamespace == "" {
		o.MemberlistSecretNamespace = o.LeaderElectionNamespace
	}
	if o.MemberlistSecretName != "" && o.MemberlistSecretNamespace == "" {
		return o, errors.New("--memberlist-secret-name needs --memberlist-secret-namespace or $POD_NAMESPACE")
	}
	if o.SpeakerPodNamespace == "" {
		o.SpeakerPodNamespace = o.LeaderElectionNamespace
	}
	if o.SpeakerPodSelector != "" && o.SpeakerPodNamespace == "" {
		return o, errors.New("--speaker-pod-selector needs --speaker-pod-namespace or $POD_NAMESPACE")
	}
	return o, nil
}

// Run starts the controller and blocks until ctx ends.
func Run(ctx context.Context, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	o, err := o.withNamespaces()
	if err != nil {
		return err
	}
	level, _ := parseLevel(o.LogLevel)
	ctrl.SetLogger(logr.FromSlogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})))

	cfg := o.Config
	if cfg == nil {
		var err error
		if cfg, err = ctrl.GetConfig(); err != nil {
			return err
		}
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = float32(o.QPS), o.Burst
	cfg.UserAgent = ironlbv1.ControllerName

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := ironlbv1.AddToScheme(scheme); err != nil {
		return err
	}
	metricsOpts, err := o.Metrics.Server()
	if err != nil {
		return err
	}
	var mgr manager.Manager
	lease, renew, retry := o.LeaseDuration, o.RenewDeadline, o.RetryPeriod
	mgr, err = ctrl.NewManager(cfg, manager.Options{
		Scheme:                        scheme,
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        o.HealthAddr,
		LeaderElection:                o.LeaderElect,
		LeaderElectionID:              ironlbv1.ControllerName,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &lease,
		RenewDeadline:                 &renew,
		RetryPeriod:                   &retry,
		Cache:                         cacheOptions(o),
		// Tests run several replicas in one process; names only need to be unique per manager.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	recorder, err := eventRecorder(mgr, cfg, o)
	if err != nil {
		return err
	}
	if err := wire(mgr, o, recorder); err != nil {
		return err
	}
	if err := setupBGPCondition(mgr, cfg, o, recorder); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// wire builds the reconcilers around one allocator: the state they share lives there, and
// each reconciler sets itself up.
func wire(mgr manager.Manager, o Options, recorder events.EventRecorder) error {
	alloc := allocator.New()
	m := metrics.New()
	ready := make(chan struct{})
	claimer := &bootstrap.Claimer{Reader: mgr.GetAPIReader(), Alloc: alloc, Class: o.LoadBalancerClass, Done: ready}
	if err := mgr.Add(claimer); err != nil {
		return err
	}
	services := &service.Reconciler{Client: mgr.GetClient(), Alloc: alloc, Recorder: recorder, Class: o.LoadBalancerClass, Ready: ready, Metrics: m}
	if err := services.SetupWithManager(mgr, o.Workers); err != nil {
		return fmt.Errorf("creating the service controller: %w", err)
	}
	pools := &pool.Reconciler{Client: mgr.GetClient(), Alloc: alloc, Recorder: recorder, Ready: ready, Metrics: m}
	if err := pools.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("creating the pool controller: %w", err)
	}
	if err := advertisement.Setup(mgr); err != nil {
		return fmt.Errorf("creating the advertisement controllers: %w", err)
	}
	if o.MemberlistSecretName != "" {
		return mgr.Add(&gossipkey.Creator{Client: mgr.GetClient(), Namespace: o.MemberlistSecretNamespace, Name: o.MemberlistSecretName})
	}
	return nil
}

// cacheOptions strips managed fields (never read) and, with --speaker-pod-selector, limits
// the Pod cache to the speaker Pods in their namespace: the controller reads no other Pod,
// and its RBAC lets it list Pods only there.
func cacheOptions(o Options) cache.Options {
	opts := cache.Options{DefaultTransform: cache.TransformStripManagedFields()}
	if sel, err := o.speakerPods(); err == nil && sel != nil {
		opts.ByObject = map[client.Object]cache.ByObject{
			&corev1.Pod{}: {Namespaces: map[string]cache.Config{o.SpeakerPodNamespace: {LabelSelector: sel}}},
		}
	}
	return opts
}

// setupBGPCondition starts the writer of the Services' BGPAdvertised and BGPAttributes
// conditions, with a client of its own rate limit (see BGPConditionQPS).
func setupBGPCondition(mgr manager.Manager, cfg *rest.Config, o Options, recorder events.EventRecorder) error {
	wcfg := rest.CopyConfig(cfg)
	wcfg.QPS, wcfg.Burst = float32(bgpcondition.DefaultQPS), bgpcondition.DefaultBurst
	if o.BGPConditionQPS > 0 {
		wcfg.QPS = float32(o.BGPConditionQPS)
	}
	if o.BGPConditionBurst > 0 {
		wcfg.Burst = o.BGPConditionBurst
	}
	writer, err := client.New(wcfg, client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return err
	}
	pods, _ := o.speakerPods() // checked by Validate
	r := &bgpcondition.Reconciler{Client: mgr.GetClient(), Writer: writer, Class: o.LoadBalancerClass, MinInterval: o.BGPConditionInterval,
		Recorder: recorder, SpeakerPods: pods, SpeakerNamespace: o.SpeakerPodNamespace}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("creating the BGP condition controller: %w", err)
	}
	return nil
}

// eventRecorder sends events through a client with its own rate limit (see EventsQPS).
func eventRecorder(mgr manager.Manager, cfg *rest.Config, o Options) (events.EventRecorder, error) {
	ecfg := rest.CopyConfig(cfg)
	ecfg.QPS, ecfg.Burst = float32(o.EventsQPS), o.EventsBurst
	cs, err := kubernetes.NewForConfig(ecfg)
	if err != nil {
		return nil, err
	}
	b := events.NewBroadcaster(&events.EventSinkImpl{Interface: cs.EventsV1()})
	stop := make(chan struct{})
	b.StartRecordingToSink(stop)
	err = mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		<-ctx.Done()
		close(stop)
		b.Shutdown()
		return nil
	}))
	return b.NewRecorder(mgr.GetScheme(), ironlbv1.ControllerName), err
}
