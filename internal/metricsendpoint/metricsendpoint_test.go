package metricsendpoint

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The defaults are the secure endpoint: a program started without metrics flags must not
// serve plain HTTP.
func TestDefaultsAreSecure(t *testing.T) {
	var o Options
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	AddFlags(fs, &o, ":7474")
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	s, err := o.Server()
	if err != nil {
		t.Fatal(err)
	}
	if !s.SecureServing || s.FilterProvider == nil || s.BindAddress != ":7474" {
		t.Errorf("defaults give %+v, want HTTPS with the authentication filter on :7474", s)
	}
	if len(s.TLSOpts) != 1 {
		t.Fatalf("want one TLS option (HTTP/1.1 only), got %d", len(s.TLSOpts))
	}
}

func TestPlain(t *testing.T) {
	s, err := Options{BindAddress: ":1", Secure: false}.Server()
	if err != nil {
		t.Fatal(err)
	}
	if s.SecureServing || s.FilterProvider != nil {
		t.Errorf("--metrics-secure=false gives %+v, want plain HTTP without a filter", s)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string // "" is valid
	}{
		{Options{Secure: true}, ""},
		{Options{Secure: false}, ""},
		{Options{Secure: true, CertDir: "/x", CertName: "tls.crt", KeyName: "tls.key"}, ""},
		{Options{Secure: false, CertDir: "/x", CertName: "tls.crt", KeyName: "tls.key"}, "--metrics-cert-dir needs --metrics-secure"},
		{Options{Secure: true, CertDir: "/x", KeyName: "tls.key"}, "--metrics-cert-name"},
	} {
		err := c.o.Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: got %v, want %q", c.o, err, c.want)
		}
	}
}

// A certificate directory without the files is refused rather than silently replaced by
// a self-signed certificate.
func TestCertDirFiles(t *testing.T) {
	dir := t.TempDir()
	o := Options{Secure: true, CertDir: dir, CertName: "tls.crt", KeyName: "tls.key"}
	if _, err := o.Server(); err == nil || !strings.Contains(err.Error(), "--metrics-cert-dir") || !strings.Contains(err.Error(), "tls.crt") {
		t.Errorf("missing files: got %v, want an error naming --metrics-cert-dir and tls.crt", err)
	}
	for _, f := range []string{"tls.crt", "tls.key"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := o.Server()
	if err != nil || s.CertDir != dir {
		t.Errorf("with both files: %+v, %v", s, err)
	}
}
