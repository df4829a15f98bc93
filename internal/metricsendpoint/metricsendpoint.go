// Package metricsendpoint holds the settings of the Prometheus endpoint both programs
// serve, and turns them into controller-runtime's metrics server options. By default the
// endpoint is HTTPS and answers only clients the API server vouches for: a bearer token
// that a TokenReview authenticates and a SubjectAccessReview allows `get` on the
// non-resource URL /metrics (controller-runtime's filter, as kubebuilder projects use).
// The speaker runs in the host network, so without this its metrics would be open to
// every network its node is on.
package metricsendpoint

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// Options are the endpoint's flags, the same in both programs.
type Options struct {
	// BindAddress is where /metrics listens; "0" turns the endpoint off.
	BindAddress string
	// Secure serves HTTPS with authentication and authorization; false serves plain
	// HTTP to anyone who can reach the port (for a private metrics network only).
	Secure bool
	// CertDir holds a serving certificate and key (CertName, KeyName), reloaded when they
	// change; empty serves a self-signed certificate made at start.
	CertDir, CertName, KeyName string
}

// AddFlags registers the endpoint's flags on fs, with defaultAddr as the bind address.
func AddFlags(fs *flag.FlagSet, o *Options, defaultAddr string) {
	fs.StringVar(&o.BindAddress, "metrics-bind-address", defaultAddr, "address of the Prometheus /metrics endpoint; 0 turns it off")
	fs.BoolVar(&o.Secure, "metrics-secure", true, "serve /metrics over HTTPS to clients whose bearer token may get the non-resource URL /metrics (TokenReview, SubjectAccessReview); false serves plain HTTP to anyone, for a private metrics network only")
	fs.StringVar(&o.CertDir, "metrics-cert-dir", "", "directory with the metrics serving certificate and key (reloaded when they change); empty serves a self-signed certificate")
	fs.StringVar(&o.CertName, "metrics-cert-name", "tls.crt", "file name of the certificate in --metrics-cert-dir")
	fs.StringVar(&o.KeyName, "metrics-key-name", "tls.key", "file name of the key in --metrics-cert-dir")
}

// Validate checks the options without touching the file system or the network.
func (o Options) Validate() error {
	var errs []error
	if o.CertDir != "" && !o.Secure {
		errs = append(errs, errors.New("--metrics-cert-dir needs --metrics-secure: plain HTTP uses no certificate"))
	}
	if o.CertDir != "" && (o.CertName == "" || o.KeyName == "") {
		errs = append(errs, errors.New("--metrics-cert-name and --metrics-key-name must not be empty with --metrics-cert-dir"))
	}
	return errors.Join(errs...)
}

// Server returns controller-runtime's metrics server options. With CertDir set, both
// files must exist: controller-runtime would otherwise fall back to a self-signed
// certificate without a word, and Prometheus, told to check a CA, would fail to scrape.
func (o Options) Server() (metricsserver.Options, error) {
	if !o.Secure {
		return metricsserver.Options{BindAddress: o.BindAddress}, nil
	}
	if o.CertDir != "" {
		for _, f := range []string{o.CertName, o.KeyName} {
			if _, err := os.Stat(filepath.Join(o.CertDir, f)); err != nil {
				return metricsserver.Options{}, fmt.Errorf("--metrics-cert-dir: %w", err)
			}
		}
	}
	return metricsserver.Options{
		BindAddress:    o.BindAddress,
		SecureServing:  true,
		FilterProvider: filters.WithAuthenticationAndAuthorization,
		CertDir:        o.CertDir,
		CertName:       o.CertName,
		KeyName:        o.KeyName,
		// HTTP/1.1 only, as kubebuilder scaffolds: HTTP/2's stream reset and rapid reset
		// attacks (CVE-2023-44487, CVE-2023-39325) cost a server far more than a scrape needs.
		TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
	}, nil
}
