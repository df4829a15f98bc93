package chart

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestMetricsScraping renders the monitors and the programs' metrics flags for secure
// (default), secure with a CA, and plain metrics: with metrics.secure both programs get
// --metrics-secure=true and every monitor endpoint scrapes over HTTPS with a bearer token
// (ServiceMonitors: Prometheus' own token file; PodMonitors: the scraper account's token
// Secret), skipping certificate verification unless metrics.tls.ca is set; with a
// certSecret both programs mount it and get --metrics-cert-dir.
func TestMetricsScraping(t *testing.T) {
	ca := []string{"metrics.tls.certSecret=mt", "metrics.tls.ca.secret.name=mt", "metrics.tls.ca.secret.key=ca.crt", "metrics.tls.serverName=ironlb-metrics"}
	for _, c := range []struct {
		name           string
		set            []string
		secure, withCA bool
	}{
		{"secure", nil, true, false},
		{"secure with a CA", ca, true, true},
		{"plain", []string{"metrics.secure=false"}, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			objs := parse(t, render(t, append([]string{"metrics.podMonitor.enabled=true"}, c.set...)...))
			objs = append(objs, parse(t, render(t, append([]string{"metrics.serviceMonitor.enabled=true"}, c.set...)...))...)
			checkMetricsFlags(t, objs, c.secure, c.withCA)
			monitors := append(find(objs, "PodMonitor"), find(objs, "ServiceMonitor")...)
			if len(monitors) != 4 {
				t.Fatalf("want a PodMonitor and a ServiceMonitor per program, got %d monitors", len(monitors))
			}
			for _, m := range monitors {
				field := "podMetricsEndpoints"
				if m.GetKind() == "ServiceMonitor" {
					field = "endpoints"
				}
				eps, _, _ := unstructured.NestedSlice(m.Object, "spec", field)
				if len(eps) != 1 {
					t.Fatalf("%s %s has %d endpoints", m.GetKind(), m.GetName(), len(eps))
				}
				checkEndpoint(t, m.GetKind()+" "+m.GetName(), eps[0].(map[string]any), c.secure, c.withCA)
			}
		})
	}
}

func checkEndpoint(t *testing.T, name string, ep map[string]any, secure, withCA bool) {
	t.Helper()
	scheme, _, _ := unstructured.NestedString(ep, "scheme")
	skip, _, _ := unstructured.NestedBool(ep, "tlsConfig", "insecureSkipVerify")
	caName, _, _ := unstructured.NestedString(ep, "tlsConfig", "ca", "secret", "name")
	file, _, _ := unstructured.NestedString(ep, "bearerTokenFile")
	cred, _, _ := unstructured.NestedString(ep, "authorization", "credentials", "name")
	hasToken := file == "/var/run/secrets/kubernetes.io/serviceaccount/token" || cred == "ironlb-metrics-scraper"
	if !secure {
		if scheme == "https" || hasToken {
			t.Errorf("%s: plain metrics scraped with scheme %q, token %v", name, scheme, hasToken)
		}
		return
	}
	if scheme != "https" || !hasToken {
		t.Errorf("%s: scheme %q, bearer token %v; want https with a token", name, scheme, hasToken)
	}
	if withCA == skip || withCA != (caName == "mt") {
		t.Errorf("%s: insecureSkipVerify %v, CA %q; want verification exactly when metrics.tls.ca is set (%v)", name, skip, caName, withCA)
	}
}

func checkMetricsFlags(t *testing.T, objs []*unstructured.Unstructured, secure, withCert bool) {
	t.Helper()
	specs := map[string]corev1.PodSpec{
		"controller": one[appsv1.Deployment](t, objs[:len(objs)/2], "Deployment").Spec.Template.Spec,
		"speaker":    one[appsv1.DaemonSet](t, objs[:len(objs)/2], "DaemonSet").Spec.Template.Spec,
	}
	for program, spec := range specs {
		c := spec.Containers[0]
		wantSecure := "--metrics-secure=false"
		if secure {
			wantSecure = "--metrics-secure=true"
		}
		if !slices.Contains(c.Args, wantSecure) {
			t.Errorf("%s args %v lack %s", program, c.Args, wantSecure)
		}
		mounted := slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == "metrics-tls" })
		if slices.Contains(c.Args, "--metrics-cert-dir=/etc/ironlb/metrics-tls") != withCert || mounted != withCert {
			t.Errorf("%s: --metrics-cert-dir and its mount (%v) must be there exactly with metrics.tls.certSecret (%v)", program, mounted, withCert)
		}
	}
}
