package lab

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ironlb/ironlb/e2e/lab/host"
)

// checkLabURL refuses URLs whose host is not a literal lab address: lab clients never
// resolve names and never talk to anything outside the lab.
func checkLabURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	a, err := netip.ParseAddr(u.Hostname())
	if err != nil {
		return fmt.Errorf("URL %s: the host must be a literal lab address", raw)
	}
	return checkLabAddr(a)
}

// Curl runs curl inside a client namespace (for example l.L2Client.Netns) and returns the
// trimmed body of a successful answer. It fails on connection errors, HTTP errors and after
// 3 seconds, or sooner if ctx has an earlier deadline (give a check for "no answer" a short
// one: dropped packets are only noticed by the timeout).
func (l *Lab) Curl(ctx context.Context, netns, url string) (string, error) {
	if err := checkLabURL(url); err != nil {
		return "", err
	}
	limit := 3 * time.Second
	if deadline, ok := ctx.Deadline(); ok {
		limit = min(limit, max(time.Until(deadline), 100*time.Millisecond))
	}
	// -g: do not treat the brackets of an IPv6 literal as a glob.
	return host.RunIn(ctx, netns, "curl", "-sS", "-g", "--fail", "--noproxy", "*", "--max-time", fmt.Sprintf("%.3f", limit.Seconds()), url)
}

// ProbeResult summarises a probe run.
type ProbeResult struct {
	// Successes and Failures count the probes.
	Successes, Failures int
	// Gaps lists every outage: the time from the last success before failures to the first
	// success after them (or to the end of the run if it ended failing; from the start if it
	// began failing). A probe run without failures has no gaps.
	Gaps []time.Duration
	// Longest is the longest gap.
	Longest time.Duration
	// Responders counts successful answers per body (pod name), to see where traffic went.
	Responders map[string]int
	// LastError is the error of the last failed probe.
	LastError string
	// Duration is how long the prober ran.
	Duration time.Duration
}

// Prober sends an HTTP GET every interval from inside a namespace until stopped.
type Prober struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	result ProbeResult
}

// Probe starts probing url from netns every `every` (10 ms if zero), each request on a new
// connection (so every probe takes the current path) with a timeout of 20 intervals, at least
// 100 ms and at most 1 s. Stop returns the result.
func (l *Lab) Probe(ctx context.Context, netns, url string, every time.Duration) (*Prober, error) {
	if err := checkLabURL(url); err != nil {
		return nil, err
	}
	if every <= 0 {
		every = 10 * time.Millisecond
	}
	timeout := min(max(20*every, 100*time.Millisecond), time.Second)
	d, err := host.NewNSDialer(netns)
	if err != nil {
		return nil, err
	}
	// http.Transport does not cancel a dial when its request is canceled (it dials with a
	// context detached from the request's; see getConn in net/http), so a SYN lost to a
	// dead node would keep the dialer's one thread busy until the kernel's SYN
	// retransmission (1 s, 3 s, ...), and every probe queued behind it would fail: gaps
	// would be whole seconds. Bound each dial by the probe timeout instead.
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return d.DialContext(ctx, network, addr)
	}
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
	ctx, cancel := context.WithCancel(ctx)
	p := &Prober{cancel: cancel, done: make(chan struct{}), result: ProbeResult{Responders: map[string]int{}}}
	go func() {
		defer close(p.done)
		defer d.Close()
		p.loop(ctx, client, url, every)
	}()
	return p, nil
}

func (p *Prober) loop(ctx context.Context, client *http.Client, url string, every time.Duration) {
	start := time.Now()
	lastOK := start
	failing := false
	next := start
	for {
		body, err := httpGet(ctx, client, url)
		now := time.Now()
		if ctx.Err() != nil {
			break // a probe cut short by Stop is neither a success nor a failure
		}
		p.mu.Lock()
		if err == nil {
			p.result.Successes++
			p.result.Responders[body]++
			if failing {
				p.addGap(now.Sub(lastOK))
				failing = false
			}
			lastOK = now
		} else {
			p.result.Failures++
			p.result.LastError = err.Error()
			failing = true
		}
		p.mu.Unlock()
		next = next.Add(every)
		if wait := time.Until(next); wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		} else {
			next = time.Now() // fell behind (a probe timed out): do not burst to catch up
		}
		if ctx.Err() != nil {
			break
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if failing {
		p.addGap(time.Since(lastOK))
	}
	p.result.Duration = time.Since(start)
}

func (p *Prober) addGap(g time.Duration) {
	p.result.Gaps = append(p.result.Gaps, g)
	if g > p.result.Longest {
		p.result.Longest = g
	}
}

// Stop ends the probe and returns its result.
func (p *Prober) Stop() ProbeResult {
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.result
	r.Gaps = append([]time.Duration(nil), r.Gaps...)
	r.Responders = map[string]int{}
	for k, v := range p.result.Responders {
		r.Responders[k] = v
	}
	return r
}

// String renders a result for test logs.
func (r ProbeResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d ok, %d failed in %s, longest gap %s, %d gaps", r.Successes, r.Failures, r.Duration.Round(time.Millisecond), r.Longest, len(r.Gaps))
	if len(r.Responders) > 0 {
		fmt.Fprintf(&b, ", answered by %v", r.Responders)
	}
	if r.LastError != "" {
		fmt.Fprintf(&b, ", last error: %s", r.LastError)
	}
	return b.String()
}

// RequestsResult counts the answers of a run of Requests.
type RequestsResult struct {
	// Responders counts successful answers per body (pod name).
	Responders map[string]int
	// Failures counts requests that got no good answer; LastError is the last one's error.
	Failures  int
	LastError string
	Duration  time.Duration
}

// Requests sends n HTTP GETs to url from inside netns, each on a new connection (a new
// source port, so a router hashing ECMP on L4 picks a next hop afresh for every one),
// `workers` at a time (one dialer each, as dials are served one at a time), each failing
// after a second, and counts who answered: how traffic splits over the paths.
func (l *Lab) Requests(ctx context.Context, netns, url string, n, workers int) (RequestsResult, error) {
	if err := checkLabURL(url); err != nil {
		return RequestsResult{}, err
	}
	workers = max(1, min(workers, n))
	res := RequestsResult{Responders: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	jobs := make(chan struct{}, n)
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	start := time.Now()
	for range workers {
		d, err := host.NewNSDialer(netns)
		if err != nil {
			return res, err
		}
		client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer d.Close()
			for range jobs {
				body, err := httpGet(ctx, client, url)
				mu.Lock()
				if err != nil {
					res.Failures++
					res.LastError = err.Error()
				} else {
					res.Responders[body]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Duration = time.Since(start)
	return res, ctx.Err()
}
