package lab

import (
	"context"
	"path/filepath"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
)

// tokenLifetime is how long ServiceAccount kubeconfigs stay valid: longer than any test or
// demo session, since nothing in the lab refreshes them.
const tokenLifetime int64 = 7 * 24 * 3600

// Kubeconfig returns the path of the admin kubeconfig (client certificate in
// system:masters), for kubectl and tests.
func (l *Lab) Kubeconfig() string { return filepath.Join(l.Dir, "admin.kubeconfig") }

// writeKubeconfig writes a kubeconfig for the lab API server with the given credentials.
func (l *Lab) writeKubeconfig(path, user string, auth *clientcmdapi.AuthInfo) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["lab"] = &clientcmdapi.Cluster{Server: l.APIServerURL, CertificateAuthorityData: l.pki.caPEM}
	cfg.AuthInfos[user] = auth
	cfg.Contexts["lab"] = &clientcmdapi.Context{Cluster: "lab", AuthInfo: user}
	cfg.CurrentContext = "lab"
	return clientcmd.WriteToFile(*cfg, path)
}

// setupAdminClients writes the admin kubeconfig and builds the admin clients.
func (l *Lab) setupAdminClients() error {
	if err := l.writeKubeconfig(l.Kubeconfig(), "admin", &clientcmdapi.AuthInfo{
		ClientCertificateData: l.pki.adminCertPEM,
		ClientKeyData:         l.pki.adminKeyPEM,
	}); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", l.Kubeconfig())
	if err != nil {
		return err
	}
	// The lab creates thousands of objects in benchmarks; the default 5 QPS would make the
	// lab itself the bottleneck.
	cfg.QPS, cfg.Burst = 500, 1000
	l.Config = cfg
	if l.Kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	l.Scheme = runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(l.Scheme); err != nil {
		return err
	}
	if err := ironlbv1.AddToScheme(l.Scheme); err != nil {
		return err
	}
	l.Client, err = client.New(cfg, client.Options{Scheme: l.Scheme})
	return err
}

// ServiceAccountKubeconfig creates the ServiceAccount (and its namespace) if needed, asks
// the TokenRequest API for a token and writes a kubeconfig using it. Components run with it
// act under their own identity, so RBAC applies to them exactly as in a cluster.
func (l *Lab) ServiceAccountKubeconfig(ctx context.Context, namespace, name string) (string, error) {
	token, err := l.ServiceAccountToken(ctx, namespace, name)
	if err != nil {
		return "", err
	}
	path := filepath.Join(l.Dir, "kubeconfigs", namespace+"."+name+".kubeconfig")
	user := "system:serviceaccount:" + namespace + ":" + name
	if err := l.writeKubeconfig(path, user, &clientcmdapi.AuthInfo{Token: token}); err != nil {
		return "", err
	}
	return path, nil
}

// RESTConfigFor returns a client config that authenticates with a kubeconfig file, such as
// one from ServiceAccountKubeconfig, for tests that check what an identity may do.
func RESTConfigFor(kubeconfig string) (*rest.Config, error) {
	return clientcmd.BuildConfigFromFlags("", kubeconfig)
}
