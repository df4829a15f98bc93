// Package kube connects to the cluster the way kubectl does (kubeconfig, context,
// namespace) and turns API errors into the one-line messages the plugin prints.
package kube

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
)

// Options are kubectl's connection flags.
type Options struct {
	Kubeconfig string
	Context    string
	Namespace  string
	// Timeout bounds each request, so an unreachable cluster fails in seconds.
	Timeout time.Duration
}

// Clients talk to one cluster.
type Clients struct {
	Client    client.Client
	Dynamic   dynamic.Interface
	Namespace string // from the flag, else the context's, else "default"
	Host      string
}

// Scheme holds the core and ironlb types.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = ironlbv1.AddToScheme(s)
	return s
}

// Connect reads the kubeconfig like kubectl and builds the clients. It does not contact
// the cluster: the first request does, and Plain explains its failure.
func Connect(o Options) (*Clients, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.Kubeconfig != "" {
		rules.ExplicitPath = o.Kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: o.Context}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, errors.New("no cluster: no kubeconfig found; set KUBECONFIG or pass --kubeconfig")
		}
		if errors.Is(err, fs.ErrNotExist) && o.Kubeconfig != "" {
			return nil, fmt.Errorf("no cluster: the kubeconfig %s does not exist", o.Kubeconfig)
		}
		return nil, fmt.Errorf("no cluster: %s", oneLine(err.Error()))
	}
	ns := o.Namespace
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil || ns == "" {
			ns = "default"
		}
	}
	return New(cfg, ns, o.Timeout)
}

// New builds the clients for a rest config.
func New(cfg *rest.Config, namespace string, timeout time.Duration) (*Clients, error) {
	cfg = rest.CopyConfig(cfg)
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	cfg.Timeout = timeout
	cfg.UserAgent = "kubectl-ironlb"
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return nil, Plain(err, cfg.Host)
	}
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, Plain(err, cfg.Host)
	}
	return &Clients{Client: c, Dynamic: d, Namespace: namespace, Host: cfg.Host}, nil
}

// Plain turns an error from the API into one line that says what is wrong: the cluster
// cannot be reached, ironlb's CRDs are missing, a permission is missing, or the
// credentials are refused. Other errors keep their text, on one line.
func Plain(err error, host string) error {
	if err == nil {
		return nil
	}
	var urlErr *url.Error
	var netErr *net.OpError
	switch {
	case meta.IsNoMatchError(err):
		return fmt.Errorf("ironlb is not installed in this cluster: the API server at %s does not serve the %s CRDs (install the chart charts/ironlb, or kubectl apply -f config/crd/bases)", host, ironlbv1.GroupVersion.Group)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("no permission: %s", oneLine(statusMessage(err)))
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("not logged in: the API server at %s refused the credentials (check the kubeconfig's user)", host)
	case errors.As(err, &netErr), errors.As(err, &urlErr):
		return fmt.Errorf("cannot reach the cluster at %s: %s", host, oneLine(innermost(err)))
	}
	return errors.New(oneLine(err.Error()))
}

func statusMessage(err error) string {
	var s apierrors.APIStatus
	if errors.As(err, &s) {
		return s.Status().Message
	}
	return err.Error()
}

// innermost is the root cause of a network error ("connection refused", "i/o timeout").
func innermost(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// IsNotFound is apierrors.IsNotFound, so callers need not import both.
func IsNotFound(err error) bool { return apierrors.IsNotFound(err) }
