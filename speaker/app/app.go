// Package app wires the speaker: memberlist membership, the Kubernetes objects it watches,
// the per-address election and the ARP/NDP announcer, plus metrics, health and a graceful
// shutdown that hands addresses over before this node stops answering.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/speaker/layer2"
	"github.com/ironlb/ironlb/speaker/membership"
)

// Options are the speaker's settings; each is a command-line flag.
type Options struct {
	NodeName          string
	LoadBalancerClass string
	MetricsAddr       string
	HealthAddr        string
	LogLevel          string
	QPS               float64
	Burst             int

	// Memberlist: the node's address, the port, the file holding the Secret the gossip
	// key is derived from, and the failure-detection timings.
	BindAddr   string
	SecretFile string
	Membership membership.Config

	GratuitousCount    int
	GratuitousInterval time.Duration
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
	if o.BindAddr == "" {
		errs = append(errs, errors.New("--memberlist-bind-address is required (set it from status.hostIP)"))
	}
	if o.SecretFile == "" {
		errs = append(errs, errors.New("--memberlist-secret-file is required: speakers never gossip unencrypted"))
	}
	if o.Membership.Port < 1 || o.Membership.Port > 65535 {
		errs = append(errs, fmt.Errorf("--memberlist-port must be 1-65535, got %d", o.Membership.Port))
	}
	if o.QPS <= 0 || o.Burst <= 0 {
		errs = append(errs, fmt.Errorf("--kube-api-qps and --kube-api-burst must be positive"))
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(o.LogLevel)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", o.LogLevel))
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

	secret, err := os.ReadFile(o.SecretFile)
	if err != nil {
		return fmt.Errorf("reading the memberlist secret: %w", err)
	}
	mcfg := o.Membership
	mcfg.NodeName, mcfg.BindAddr, mcfg.Secret = o.NodeName, o.BindAddr, secret
	mcfg.Logger = logger.With("component", "membership")
	mcfg.Registerer = crmetrics.Registry
	member, err := membership.New(mcfg)
	if err != nil {
		return err
	}
	defer func() { _ = member.Shutdown() }()

	an := &announcer{nodeName: o.NodeName, class: o.LoadBalancerClass, member: member, logger: logger, port: mcfg.Port}
	an.l2 = layer2.New(layer2.Options{
		Logger:             logger.With("component", "layer2"),
		GratuitousCount:    o.GratuitousCount,
		GratuitousInterval: o.GratuitousInterval,
		RefreshInterval:    o.RefreshInterval,
		OnForeignReply:     an.foreignReply,
		Metrics:            layer2.NewMetrics(crmetrics.Registry),
	})

	mgr, err := newManager(o)
	if err != nil {
		_ = an.l2.Close()
		return err
	}
	an.client = mgr.GetClient()
	an.recorder = mgr.GetEventRecorder("ironlb-speaker")
	if err := an.setup(mgr); err != nil {
		_ = an.l2.Close()
		return err
	}
	runErr := mgr.Start(ctx)

	// Graceful hand-over: leave first so the others elect new owners and announce them,
	// keep answering meanwhile, then go quiet.
	logger.Info("leaving the speaker cluster", "handoverDelay", o.HandoverDelay)
	if err := member.Leave(time.Second); err != nil {
		logger.Warn("leaving memberlist", "error", err)
	}
	time.Sleep(o.HandoverDelay)
	_ = an.l2.Close()
	return runErr
}

func newManager(o Options) (manager.Manager, error) {
	cfg := o.Config
	if cfg == nil {
		var err error
		if cfg, err = ctrl.GetConfig(); err != nil {
			return nil, err
		}
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = float32(o.QPS), o.Burst
	cfg.UserAgent = "ironlb-speaker/" + o.NodeName
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := ironlbv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, manager.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress: o.HealthAddr,
		Cache:                  cache.Options{DefaultTransform: cache.TransformStripManagedFields()},
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
