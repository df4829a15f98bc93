package lab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ironlb/ironlb/e2e/lab/host"
)

// freePort asks the kernel for a free TCP port on 127.0.0.1. etcd listens on loopback
// because only the API server talks to it; a kernel-chosen port cannot collide with the
// API servers that integration tests start in parallel.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startEtcd starts etcd with its data on disk in the lab folder. Fsync is off: the data
// lives only as long as the lab, and fsync would dominate write latency in benchmarks.
// The ports are picked free just before; if another process takes one in between, etcd
// exits at once and is started again on new ports.
func (l *Lab) startEtcd(ctx context.Context) error {
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		if err = l.tryStartEtcd(ctx); err == nil || !strings.Contains(err.Error(), "address already in use") {
			return err
		}
		l.logf("lab: etcd lost its port to another process, retrying (%v)", err)
	}
	return err
}

func (l *Lab) tryStartEtcd(ctx context.Context) error {
	clientPort, err := freePort()
	if err != nil {
		return err
	}
	peerPort, err := freePort()
	if err != nil {
		return err
	}
	l.etcdURL = fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	if err := os.RemoveAll(filepath.Join(l.Dir, "etcd")); err != nil {
		return err
	}
	p, err := l.startProc(procSpec{
		role:   "etcd",
		binary: filepath.Join(l.bin, "etcd"),
		args: []string{
			"--name=lab",
			"--data-dir=" + filepath.Join(l.Dir, "etcd"),
			"--listen-client-urls=" + l.etcdURL,
			"--advertise-client-urls=" + l.etcdURL,
			"--listen-peer-urls=" + peerURL,
			"--initial-advertise-peer-urls=" + peerURL,
			"--initial-cluster=lab=" + peerURL,
			"--unsafe-no-fsync",
			"--log-level=warn",
		},
		log: l.logPath("etcd"),
	})
	if err != nil {
		return err
	}
	l.setProc("etcd", p)
	client := &http.Client{Timeout: time.Second}
	return host.Poll(ctx, 30*time.Second, 50*time.Millisecond, "etcd /health", func(ctx context.Context) (bool, error) {
		if err := p.checkAlive(); err != nil {
			return false, err
		}
		return httpOK(ctx, client, l.etcdURL+"/health")
	})
}

// apiServerArgs are the API server's flags: RBAC, ServiceAccount tokens signed with the
// lab's key, a dual-stack Service range from the lab's ranges, serving on the host's
// address on the bridge so node namespaces reach it.
func (l *Lab) apiServerArgs() []string {
	args := []string{
		"--etcd-servers=" + l.etcdURL,
		"--bind-address=" + hostV4.String(),
		"--advertise-address=" + hostV4.String(),
		"--secure-port=" + strconv.Itoa(apiServerPort),
		"--tls-cert-file=" + l.pki.path("apiserver.crt"),
		"--tls-private-key-file=" + l.pki.path("apiserver.key"),
		"--client-ca-file=" + l.pki.path("ca.crt"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + l.pki.path("sa.pub"),
		"--service-account-signing-key-file=" + l.pki.path("sa.key"),
		"--service-cluster-ip-range=" + ServiceCIDRv4 + "," + ServiceCIDRv6,
		"--cert-dir=" + filepath.Join(l.Dir, "apiserver-certs"),
		"--profiling=false",
		"--v=1",
	}
	if l.opts.Cluster {
		// Kubelets authenticate as system:node:NAME and are authorized by the Node
		// authorizer; the API server reaches them on their InternalIP (kubectl logs, exec)
		// with the admin certificate, which their x509 authentication trusts.
		for i, a := range args {
			if a == "--authorization-mode=RBAC" {
				args[i] = "--authorization-mode=Node,RBAC"
			}
		}
		args = append(args,
			"--kubelet-preferred-address-types=InternalIP",
			"--kubelet-client-certificate="+l.pki.path("admin.crt"),
			"--kubelet-client-key="+l.pki.path("admin.key"),
		)
	}
	return append(args, l.opts.APIServerArgs...)
}

// startAPIServer starts kube-apiserver without waiting for it; waitAPIServer does that, so
// the lab can start FRR while the API server boots.
func (l *Lab) startAPIServer() error {
	p, err := l.startProc(procSpec{
		role:   "kube-apiserver",
		binary: filepath.Join(l.bin, "kube-apiserver"),
		args:   l.apiServerArgs(),
		log:    l.logPath("kube-apiserver"),
	})
	if err != nil {
		return err
	}
	l.setProc("kube-apiserver", p)
	return nil
}

// waitAPIServer waits until /readyz answers 200, which includes the RBAC bootstrap roles
// and the system namespaces.
func (l *Lab) waitAPIServer(ctx context.Context) error {
	p := l.getProc("kube-apiserver")
	if p == nil {
		return fmt.Errorf("kube-apiserver is not running")
	}
	client, err := l.adminHTTPClient()
	if err != nil {
		return err
	}
	return host.Poll(ctx, 90*time.Second, 100*time.Millisecond, "kube-apiserver /readyz", func(ctx context.Context) (bool, error) {
		if err := p.checkAlive(); err != nil {
			return false, err
		}
		return httpOK(ctx, client, l.APIServerURL+"/readyz")
	})
}

// StopAPIServer stops kube-apiserver (etcd keeps running), for tests of what components do
// while the API is unreachable. It stops listening at once on SIGTERM, but its graceful
// shutdown can then hang for many seconds, so it is killed after 2 s.
func (l *Lab) StopAPIServer() error {
	p := l.getProc("kube-apiserver")
	if p == nil || !p.alive() {
		return fmt.Errorf("kube-apiserver is not running")
	}
	p.stop(2 * time.Second)
	return nil
}

// StartAPIServer starts kube-apiserver again after StopAPIServer and waits until it is ready.
func (l *Lab) StartAPIServer(ctx context.Context) error {
	if p := l.getProc("kube-apiserver"); p != nil && p.alive() {
		return fmt.Errorf("kube-apiserver is already running")
	}
	if err := l.startAPIServer(); err != nil {
		return err
	}
	return l.waitAPIServer(ctx)
}

// adminHTTPClient is an HTTPS client that trusts the lab CA and presents the admin cert.
func (l *Lab) adminHTTPClient() (*http.Client, error) {
	cert, err := tls.X509KeyPair(l.pki.adminCertPEM, l.pki.adminKeyPEM)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(l.pki.caPEM)
	return &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
			Proxy:           nil,
		},
	}, nil
}

// httpOK reports whether GET url answers 200; any other answer is returned as the reason.
func httpOK(ctx context.Context, client *http.Client, url string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, host.Permanent(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return true, nil
}
