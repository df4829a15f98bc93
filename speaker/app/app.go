// Package app wires the speaker: memberlist membership, the Kubernetes objects it watches,
// the per-address election and the ARP/NDP announcer, the embedded BGP server, plus
// metrics, health and a graceful shutdown that hands addresses over before this node stops
// answering.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/metricsendpoint"
	"github.com/ironlb/ironlb/speaker/bgp"
	"github.com/ironlb/ironlb/speaker/layer2"
	"github.com/ironlb/ironlb/speaker/membership"
)

// Options are the speaker's settings; each is a command-line flag.
type Options struct {
	NodeName          string
	LoadBalancerClass string
	// Metrics is the /metrics endpoint: HTTPS with authentication and authorization
	// unless Metrics.Secure is false (the speaker is in the host network: plain HTTP would
	// be open to every network the node is on).
	Metrics    metricsendpoint.Options
	HealthAddr string
	PprofAddr  string
	LogLevel   string
	QPS        float64
	Burst      int

	// Layer2 answers ARP/NDP for elected addresses (it needs memberlist); BGP runs the
	// embedded BGP server for BGPPeers that select this node.
	Layer2, BGP bool
	// Namespace is the only namespace the speaker reads Secrets in (BGP passwords).
	Namespace string
	// SpeakerPodSelector selects the speaker Pods in Namespace. With it, a speaker that
	// cannot join the others while the API reports them Ready knows it is isolated, not
	// the last survivor (see plan.Snapshot.Isolated).
	SpeakerPodSelector string
	// PodName is this speaker's own Pod in Namespace, where it reports its memberlist
	// view (ConditionGossip); empty (a speaker not run as a Pod) reports nothing.
	PodName string

	// Memberlist: the node's address, the port, the file holding the Secret the gossip
	// key is derived from, and the failure-detection timings.
	BindAddr   string
	SecretFile string
	Membership membership.Config

	GratuitousCount    int
	GratuitousInterval time.Duration
	GratuitousRate     float64 // packets per second; 0: no bound
	RefreshInterval    time.Duration
	// HandoverDelay is how long a stopping speaker keeps answering after it has left the
	// cluster, so the new owner's gratuitous packets go out before this one goes quiet.
	HandoverDelay time.Duration

	// Config, when set, is used instead of --kubeconfig (for tests).
	Config *rest.Config
}

// Validate checks the options without touching the cluster or the network.
func (o Options) Validate() error {
	var errs []error
	if o.NodeName == "" {
		errs = append(errs, errors.New("--node-name is required (set it from spec.nodeName)"))
	}
	if !o.Layer2 && !o.BGP {
		errs = append(errs, errors.New("--layer2 and --bgp are both false: the speaker would announce nothing"))
	}
	if o.Layer2 {
		if o.BindAddr == "" {
			errs = append(errs, errors.New("--memberlist-bind-address is required (set it from status.hostIP)"))
		}
		if o.SecretFile == "" {
			errs = append(errs, errors.New("--memberlist-secret-file is required: speakers never gossip unencrypted"))
		}
		if o.Membership.Port < 1 || o.Membership.Port > 65535 {
			errs = append(errs, fmt.Errorf("--memberlist-port must be 1-65535, got %d", o.Membership.Port))
		}
	}
	if o.SpeakerPodSelector != "" {
		if o.Namespace == "" {
			errs = append(errs, errors.New("--speaker-pod-selector needs --namespace (set it from metadata.namespace)"))
		}
		if _, err := labels.Parse(o.SpeakerPodSelector); err != nil {
			errs = append(errs, fmt.Errorf("--speaker-pod-selector: %w", err))
		}
	}
	if o.PodName != "" && o.Namespace == "" {
		errs = append(errs, errors.New("--pod-name needs --namespace (set it from metadata.namespace)"))
	}
	if o.QPS <= 0 || o.Burst <= 0 {
		errs = append(errs, fmt.Errorf("--kube-api-qps and --kube-api-burst must be positive"))
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(o.LogLevel)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", o.LogLevel))
	}
	if err := o.Metrics.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Run starts the speaker and blocks until ctx ends, then hands its addresses over.
func Run(ctx context.Context, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(o.LogLevel))
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("node", o.NodeName)
	ctrl.SetLogger(logr.FromSlogHandler(logger.Handler()))

	// A missing certificate is a mistake to report, not an API server to wait for.
	if _, err := o.Metrics.Server(); err != nil {
		return err
	}
	mgr, err := newManagerWhenReachable(ctx, o, logger)
	if err != nil {
		return err
	}
	var stops []func()
	defer func() {
		for _, stop := range slices.Backward(stops) {
			stop()
		}
	}()
	if o.BGP {
		b := &bgpReconciler{nodeName: o.NodeName, class: o.LoadBalancerClass, namespace: o.Namespace,
			client: mgr.GetClient(), recorder: mgr.GetEventRecorder(ironlbv1.SpeakerName), logger: logger.With("component", "bgp")}
		b.speaker = bgp.New(bgp.Options{Logger: b.logger, LogLevel: level, OnChange: b.sessionChanged})
		// Stopping keeps the routes of graceful-restart sessions at their routers, so a
		// restarting speaker does not move traffic; the other sessions withdraw at once.
		// Then the node's session entries go, since no session backs them any more.
		stops = append(stops, func() {
			_ = b.speaker.Close(true)
			b.goodbye(mgr.GetAPIReader())
		})
		if err := crmetrics.Registry.Register(bgp.NewCollector(b.speaker, o.NodeName)); err != nil {
			return err
		}
		if err := b.setup(mgr); err != nil {
			return err
		}
	}
	var handOver func()
	if o.Layer2 {
		an, stop, err := setupLayer2(mgr, o, logger)
		if err != nil {
			return err
		}
		stops = append(stops, stop)
		handOver = an
	}
	runErr := mgr.Start(ctx)
	if handOver != nil {
		handOver()
	}
	return runErr
}

// setupLayer2 joins memberlist and starts the ARP/NDP announcer. It returns the graceful
// hand-over to run after the manager stops, and the final cleanup.
func setupLayer2(mgr manager.Manager, o Options, logger *slog.Logger) (func(), func(), error) {
	secret, accepted, err := readSecrets(o.SecretFile)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the memberlist secret: %w", err)
	}
	mcfg := o.Membership
	mcfg.NodeName, mcfg.BindAddr, mcfg.Secret, mcfg.AcceptedSecrets = o.NodeName, o.BindAddr, secret, accepted
	mcfg.Logger = logger.With("component", "membership")
	mcfg.Registerer = crmetrics.Registry
	member, err := membership.New(mcfg)
	if err != nil {
		return nil, nil, err
	}
	an := &layer2Reconciler{nodeName: o.NodeName, class: o.LoadBalancerClass, member: member, logger: logger, port: mcfg.Port,
		namespace: o.Namespace, knowsPods: o.SpeakerPodSelector != "",
		unannounced: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ironlb_speaker_unannounced_addresses",
			Help: "Layer-2 Service addresses that no node answers ARP/NDP for, as this speaker sees them.",
		}),
		isolated: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ironlb_speaker_isolated",
			Help: "1 while this speaker cannot join speakers that are up (wrong key, blocked port) and so announces nothing on layer 2.",
		})}
	for _, g := range []prometheus.Collector{an.unannounced, an.isolated} {
		if err := crmetrics.Registry.Register(g); err != nil {
			_ = member.Shutdown()
			return nil, nil, err
		}
	}
	l2opts := o.layer2Options()
	l2opts.Logger = logger.With("component", "layer2")
	l2opts.OnForeignReply = an.foreignReply
	l2opts.Metrics = layer2.NewMetrics(crmetrics.Registry)
	an.l2 = layer2.New(l2opts)
	stop := func() {
		_ = an.l2.Close()
		_ = member.Shutdown()
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		reloadSecrets(ctx, o.SecretFile, member.SetSecrets, logger.With("component", "membership"))
		return nil
	})); err != nil {
		stop()
		return nil, nil, err
	}
	an.client = mgr.GetClient()
	an.recorder = mgr.GetEventRecorder(ironlbv1.SpeakerName)
	if o.PodName != "" {
		an.gossipCond = newGossipWriter(an.client, types.NamespacedName{Namespace: o.Namespace, Name: o.PodName},
			ironlbv1.SpeakerFieldManager(o.NodeName), logger.With("component", "gossip-condition"))
		if err := mgr.Add(an.gossipCond); err != nil {
			stop()
			return nil, nil, err
		}
	}
	if err := an.setup(mgr); err != nil {
		stop()
		return nil, nil, err
	}
	// Graceful hand-over: leave first so the others elect new owners and announce them,
	// keep answering meanwhile, then go quiet.
	handOver := func() {
		logger.Info("leaving the speaker cluster", "handoverDelay", o.HandoverDelay)
		if err := member.Leave(time.Second); err != nil {
			logger.Warn("leaving memberlist", "error", err)
		}
		time.Sleep(o.HandoverDelay)
	}
	return handOver, stop, nil
}

// layer2Options turns the flags into the announcer's options. The flags mean what they
// say: 0 gratuitous packets sends none, a 0 rate is no bound and a 0 refresh interval
// turns refreshing off, where the announcer reads 0 as "the default" and a negative value
// as "none".
func (o Options) layer2Options() layer2.Options {
	l := layer2.Options{GratuitousCount: o.GratuitousCount, GratuitousInterval: o.GratuitousInterval,
		GratuitousRate: o.GratuitousRate, RefreshInterval: o.RefreshInterval}
	if l.GratuitousCount == 0 {
		l.GratuitousCount = -1
	}
	if l.GratuitousRate == 0 {
		l.GratuitousRate = -1
	}
	if l.RefreshInterval == 0 {
		l.RefreshInterval = -1
	}
	return l
}

// newManagerWhenReachable retries creating the manager while the API server cannot be
// reached (it needs discovery to scope the Secret cache): a node that boots before the
// API server is reachable would otherwise exit and wait out CrashLoopBackOff.
func newManagerWhenReachable(ctx context.Context, o Options, logger *slog.Logger) (manager.Manager, error) {
	if o.Config == nil {
		cfg, err := ctrl.GetConfig() // a missing or bad kubeconfig is no reason to wait
		if err != nil {
			return nil, err
		}
		o.Config = cfg
	}
	delay := time.Second
	for {
		mgr, err := newManager(o)
		if err == nil {
			return mgr, nil
		}
		logger.Warn("cannot start yet, retrying", "error", err, "in", delay)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(delay):
		}
		delay = min(2*delay, 15*time.Second)
	}
}

func newManager(o Options) (manager.Manager, error) {
	cfg := rest.CopyConfig(o.Config)
	cfg.QPS, cfg.Burst = float32(o.QPS), o.Burst
	cfg.UserAgent = ironlbv1.SpeakerName + "/" + o.NodeName
	// Every speaker watches every Service and EndpointSlice: gzip on those watches cost a
	// speaker about a tenth of its CPU in a burst of Services (and the API server as much
	// again per speaker), to save bandwidth on the cluster network, where it is cheap.
	cfg.DisableCompression = true
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := ironlbv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	metricsOpts, err := o.Metrics.Server()
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, manager.Options{
		Scheme:                 scheme,
		Metrics:                metricsOpts,
		HealthProbeBindAddress: o.HealthAddr,
		PprofBindAddress:       o.PprofAddr,
		Cache:                  cacheOptions(o),
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	return mgr, nil
}

// cacheOptions strips managed fields (never read) and limits the Secret and Pod caches to
// the speaker's own namespace, the only one its RBAC lets it read them in.
func cacheOptions(o Options) cache.Options {
	opts := cache.Options{DefaultTransform: cache.TransformStripManagedFields(), ByObject: map[client.Object]cache.ByObject{}}
	if o.BGP && o.Namespace != "" {
		opts.ByObject[&corev1.Secret{}] = cache.ByObject{Namespaces: map[string]cache.Config{o.Namespace: {}}}
	}
	if sel, err := labels.Parse(o.SpeakerPodSelector); err == nil && o.Layer2 && o.SpeakerPodSelector != "" {
		// Only the speaker Pods: the speaker never reads any other Pod.
		opts.ByObject[&corev1.Pod{}] = cache.ByObject{Namespaces: map[string]cache.Config{o.Namespace: {LabelSelector: sel}}}
	}
	return opts
}
