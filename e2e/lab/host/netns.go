package host

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// InNetns runs fn on an OS thread that has joined the named network namespace. Sockets fn
// creates belong to that namespace for their whole life, and /proc/sys/net files it opens
// are the namespace's.
func InNetns(netns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		leave, err := EnterNetns(netns)
		if err != nil {
			errc <- err
			return
		}
		defer leave()
		errc <- fn()
	}()
	return <-errc
}

// EnterNetns locks the calling goroutine to its thread and moves the thread into netns. The
// returned func moves it back and unlocks it. The thread must never stay in a lab namespace:
// it would keep the namespace (and its interfaces) alive after `ip netns del`, and if it is
// the process's main thread, `ip netns pids` would list this process as running in the lab.
// If moving back fails, the goroutine stays locked, so the runtime ends the thread when the
// goroutine exits (or parks it for good if it is the main thread).
func EnterNetns(netns string) (leave func(), err error) {
	runtime.LockOSThread()
	home, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("open this thread's network namespace: %w", err)
	}
	target, err := os.Open(filepath.Join("/run/netns", netns))
	if err != nil {
		_ = home.Close()
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("open network namespace %s: %w", netns, err)
	}
	err = unix.Setns(int(target.Fd()), unix.CLONE_NEWNET)
	_ = target.Close()
	if err != nil {
		_ = home.Close()
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("join network namespace %s: %w", netns, err)
	}
	return func() {
		defer func() { _ = home.Close() }()
		if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}, nil
}

// SetSysctls writes net sysctls (keys like "net/ipv4/ip_forward") inside a namespace.
func SetSysctls(netns string, kv map[string]string) error {
	return InNetns(netns, func() error {
		for k, v := range kv {
			if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(v), 0o644); err != nil {
				return fmt.Errorf("sysctl %s=%s in %s: %w", strings.ReplaceAll(k, "/", "."), v, netns, err)
			}
		}
		return nil
	})
}

// NSDialer dials TCP from inside a network namespace. One goroutine, locked to a thread in
// the namespace, creates every socket (the socket's namespace is fixed at creation); the
// connection is then used from any goroutine. Dials are served one at a time, which suits a
// prober or a health check; create one dialer per concurrent user.
type NSDialer struct {
	netns string
	reqs  chan dialReq
	quit  chan struct{}
}

type dialReq struct {
	ctx     context.Context
	network string
	addr    string
	reply   chan dialResult
}

type dialResult struct {
	conn net.Conn
	err  error
}

// NewNSDialer starts a dialer for netns; Close it when done.
func NewNSDialer(netns string) (*NSDialer, error) {
	d := &NSDialer{netns: netns, reqs: make(chan dialReq), quit: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		leave, err := EnterNetns(netns)
		if err != nil {
			ready <- err
			return
		}
		defer leave()
		ready <- nil
		var dialer net.Dialer
		for {
			select {
			case <-d.quit:
				return
			case r := <-d.reqs:
				c, err := dialer.DialContext(r.ctx, r.network, r.addr)
				r.reply <- dialResult{c, err}
			}
		}
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return d, nil
}

// DialContext has the signature http.Transport wants.
func (d *NSDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	r := dialReq{ctx: ctx, network: network, addr: addr, reply: make(chan dialResult, 1)}
	select {
	case d.reqs <- r:
	case <-d.quit:
		return nil, fmt.Errorf("dialer for %s is closed", d.netns)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	res := <-r.reply
	return res.conn, res.err
}

// Close ends the dialer's thread.
func (d *NSDialer) Close() {
	select {
	case <-d.quit:
	default:
		close(d.quit)
	}
}
