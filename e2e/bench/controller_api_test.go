package bench

import (
	"context"
	"net/http"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

func fastClient(t *testing.T) corev1client.CoreV1Interface {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 5000, 10000
	cfg.UserAgent = "ironlb-bench"
	cs, err := corev1client.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// watcher records, per Service name, when a watch first saw an IP in its status.
type watcher struct {
	cancel   context.CancelFunc
	mu       sync.Mutex
	assigned map[string]time.Time
	changed  chan struct{}
}

func startWatcher(t *testing.T, cs corev1client.CoreV1Interface, ns string) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{cancel: cancel, assigned: map[string]time.Time{}, changed: make(chan struct{})}
	lw := cache.NewListWatchFromClient(cs.RESTClient(), "services", ns, fields.Everything())
	inf := cache.NewSharedIndexInformer(lw, &corev1.Service{}, 0, cache.Indexers{})
	// Keep only what the benchmark reads, so its cache adds little to the measured RSS.
	if err := inf.SetTransform(func(obj any) (any, error) {
		svc, ok := obj.(*corev1.Service)
		if !ok {
			return obj, nil
		}
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: svc.Namespace, Name: svc.Name, ResourceVersion: svc.ResourceVersion},
			Status:     corev1.ServiceStatus{LoadBalancer: svc.Status.LoadBalancer},
		}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    w.saw,
		UpdateFunc: func(_, obj any) { w.saw(obj) },
	}); err != nil {
		t.Fatal(err)
	}
	go inf.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("the benchmark's Service watch did not sync")
	}
	return w
}

func (w *watcher) saw(obj any) {
	now := time.Now()
	svc, ok := obj.(*corev1.Service)
	if !ok || len(svc.Status.LoadBalancer.Ingress) == 0 || svc.Status.LoadBalancer.Ingress[0].IP == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, seen := w.assigned[svc.Name]; seen {
		return
	}
	w.assigned[svc.Name] = now
	close(w.changed)
	w.changed = make(chan struct{})
}

func (w *watcher) stop() { w.cancel() }

// wait blocks until done (called with the lock held) is true or the timeout passes.
func (w *watcher) wait(timeout time.Duration, done func() bool) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		w.mu.Lock()
		ok, ch := done(), w.changed
		w.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-timer.C:
			return false
		}
	}
}

func (w *watcher) waitCount(n int, timeout time.Duration) bool {
	return w.wait(timeout, func() bool { return len(w.assigned) >= n })
}

// waitFor returns when the watch saw the Service's IP.
func (w *watcher) waitFor(name string, timeout time.Duration) (time.Time, bool) {
	var at time.Time
	ok := w.wait(timeout, func() bool {
		var seen bool
		at, seen = w.assigned[name]
		return seen
	})
	return at, ok
}

func (w *watcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.assigned)
}

func (w *watcher) first() time.Time {
	return w.extreme(func(a, b time.Time) bool { return a.Before(b) })
}

func (w *watcher) last() time.Time {
	return w.extreme(func(a, b time.Time) bool { return a.After(b) })
}

func (w *watcher) extreme(better func(a, b time.Time) bool) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out time.Time
	for _, at := range w.assigned {
		if out.IsZero() || better(at, out) {
			out = at
		}
	}
	return out
}

// apiCounter counts the controller's requests by verb and resource, from a wrapped
// transport, and the conflicts and throttling answers among them.
type apiCounter struct {
	mu        sync.Mutex
	byKey     map[string]int
	busy      map[string]time.Duration // summed round-trip time per key (watches excluded)
	conflicts int
	throttled int
	last      time.Time
	// status holds, per Service name, the first status PATCH that succeeded.
	status map[string]span
}

type span struct{ start, end time.Time }

func newAPICounter() *apiCounter {
	return &apiCounter{byKey: map[string]int{}, busy: map[string]time.Duration{}, status: map[string]span{}}
}

// lastStatusWrite is when the last first-time status PATCH was answered.
func (c *apiCounter) lastStatusWrite() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var last time.Time
	for _, s := range c.status {
		if s.end.After(last) {
			last = s.end
		}
	}
	return last
}

func (c *apiCounter) statusWrite(name string) (span, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.status[name]
	return s, ok
}

func (c *apiCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := rt.RoundTrip(req)
		key := requestKey(req)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.byKey[key]++
		if !strings.HasPrefix(key, "WATCH ") {
			c.busy[key] += time.Since(start)
		}
		if key == "PATCH services/status" && resp != nil && resp.StatusCode == http.StatusOK {
			name := path.Base(path.Dir(req.URL.Path))
			if _, seen := c.status[name]; !seen {
				c.status[name] = span{start, time.Now()}
			}
		}
		if !strings.HasPrefix(key, "WATCH ") {
			c.last = time.Now()
		}
		if resp != nil {
			switch resp.StatusCode {
			case http.StatusConflict:
				c.conflicts++
				c.byKey[key+" (409)"]++
			case http.StatusTooManyRequests:
				c.throttled++
			}
		}
		return resp, err
	})
}

func (c *apiCounter) snapshot() (map[string]int, int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.byKey))
	for k, v := range c.byKey {
		out[k] = v
	}
	return out, c.conflicts, c.throttled
}

// meanMs is the mean round trip per key so far, in milliseconds.
func (c *apiCounter) meanMs() map[string]float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]float64{}
	for k, d := range c.busy {
		if n := c.byKey[k]; n > 0 {
			out[k] = ms(d / time.Duration(n))
		}
	}
	return out
}

func (c *apiCounter) lastRequest() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// requestKey names a request "VERB resource[/subresource]", with GETs of collections as
// LIST and watches as WATCH.
func requestKey(req *http.Request) string {
	seg := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	switch {
	case len(seg) >= 2 && seg[0] == "api":
		seg = seg[2:]
	case len(seg) >= 3 && seg[0] == "apis":
		seg = seg[3:]
	default:
		return req.Method + " " + req.URL.Path
	}
	if len(seg) >= 3 && seg[0] == "namespaces" {
		seg = seg[2:]
	}
	if len(seg) == 0 {
		return req.Method + " discovery"
	}
	res := seg[0]
	if len(seg) >= 3 {
		res += "/" + seg[2]
	}
	verb := req.Method
	if verb == http.MethodGet {
		switch {
		case req.URL.Query().Get("watch") == "true" || req.URL.Query().Get("watch") == "1":
			verb = "WATCH"
		case len(seg) == 1:
			verb = "LIST"
		}
	}
	return verb + " " + res
}
