package lab

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/e2e/lab/host"
)

// Scraping ironlb's metrics as a Prometheus does: both programs serve /metrics over HTTPS
// to bearer tokens allowed `get /metrics`, so the lab scrapes with the token of a
// ServiceAccount bound to the chart's metrics-reader ClusterRole (config/rbac in process
// mode, the chart in cluster mode): what the tests exercise is the real configuration.
const (
	// MetricsReaderRole is the chart's ClusterRole that allows `get /metrics`.
	MetricsReaderRole = ReleaseName + "-metrics-reader"
	// MetricsScraperNamespace and MetricsScraperName are the lab's Prometheus identity.
	MetricsScraperNamespace = "monitoring"
	MetricsScraperName      = "lab-prometheus"
)

// MetricsToken returns a bearer token of the lab's scraper ServiceAccount, creating the
// account and its ClusterRoleBinding to MetricsReaderRole on first use.
func (l *Lab) MetricsToken(ctx context.Context) (string, error) {
	l.mu.Lock()
	tok := l.metricsToken
	l.mu.Unlock()
	if tok != "" {
		return tok, nil
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: MetricsScraperName + "-metrics"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: MetricsReaderRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: MetricsScraperNamespace, Name: MetricsScraperName}},
	}
	if _, err := l.Kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("bind %s to %s: %w", MetricsScraperName, MetricsReaderRole, err)
	}
	tok, err := l.ServiceAccountToken(ctx, MetricsScraperNamespace, MetricsScraperName)
	if err != nil {
		return "", err
	}
	l.mu.Lock()
	l.metricsToken = tok
	l.mu.Unlock()
	return tok, nil
}

// ServiceAccountToken creates the ServiceAccount (and its namespace) if needed and returns
// a token of it from the TokenRequest API, valid as long as the lab's kubeconfigs.
func (l *Lab) ServiceAccountToken(ctx context.Context, namespace, name string) (string, error) {
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
	return tr.Status.Token, nil
}

// ScrapeMetrics returns the body of https://hostport/metrics, fetched from netns with
// MetricsToken; the certificate is not checked (the programs' own are self-signed, as the
// chart's monitors assume by default). Any answer but 200 is an error.
func (l *Lab) ScrapeMetrics(ctx context.Context, netns, hostport string) (string, error) {
	tok, err := l.MetricsToken(ctx)
	if err != nil {
		return "", err
	}
	url := "https://" + hostport + "/metrics"
	code, body, err := l.HTTPGet(ctx, netns, url, tok)
	if err != nil {
		return "", err
	}
	if code != 200 {
		return "", fmt.Errorf("GET %s: HTTP %d: %s", url, code, body)
	}
	return body, nil
}

// HTTPGet runs curl inside netns and returns the status code and body of whatever answer
// came back (an HTTP error is not an error here); with token it sends it as a bearer
// token. HTTPS certificates are not checked. Like Curl, it gives up after 3 seconds or
// ctx's deadline.
func (l *Lab) HTTPGet(ctx context.Context, netns, url, token string) (int, string, error) {
	if err := checkLabURL(url); err != nil {
		return 0, "", err
	}
	limit := 3 * time.Second
	if deadline, ok := ctx.Deadline(); ok {
		limit = min(limit, max(time.Until(deadline), 100*time.Millisecond))
	}
	args := []string{"-sS", "-g", "-k", "--noproxy", "*", "--max-time", fmt.Sprintf("%.3f", limit.Seconds()), "-w", "\n%{http_code}"}
	if token != "" {
		args = append(args, "-H", "Authorization: Bearer "+token)
	}
	out, err := host.RunIn(ctx, netns, "curl", append(args, url)...)
	if err != nil {
		return 0, "", err
	}
	i := strings.LastIndexByte(out, '\n')
	code, err := strconv.Atoi(strings.TrimSpace(out[i+1:]))
	if err != nil {
		return 0, "", fmt.Errorf("GET %s: no status code in curl's output %q", url, out)
	}
	if i < 0 {
		return code, "", nil
	}
	return code, out[:i], nil
}
