package lab

import (
	"context"
	"fmt"
	"path/filepath"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	if err := l.ensureNamespace(ctx, namespace); err != nil {
		return "", err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if _, err := l.Kube.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create ServiceAccount %s/%s: %w", namespace, name, err)
	}
	lifetime := tokenLifetime
	tr, err := l.Kube.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &lifetime},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for ServiceAccount %s/%s: %w", namespace, name, err)
	}
	path := filepath.Join(l.Dir, "kubeconfigs", namespace+"."+name+".kubeconfig")
	user := "system:serviceaccount:" + namespace + ":" + name
	if err := l.writeKubeconfig(path, user, &clientcmdapi.AuthInfo{Token: tr.Status.Token}); err != nil {
		return "", err
	}
	return path, nil
}

// RESTConfigFor returns a client config that authenticates with a kubeconfig file, such as
// one from ServiceAccountKubeconfig, for tests that check what an identity may do.
func RESTConfigFor(kubeconfig string) (*rest.Config, error) {
	return clientcmd.BuildConfigFromFlags("", kubeconfig)
}
