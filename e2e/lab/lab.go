package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/e2e/lab/host"
	"github.com/ironlb/ironlb/internal/repo"
)

// Options configure a lab. The zero value is a 3-node lab found from the working directory.
type Options struct {
	// Nodes is the number of nodes (default 3, at most MaxNodes; with Cluster at most
	// PodNodes). Nodes past PodNodes have no pod network: they host no pods (plan.go).
	Nodes int
	// NodeLabels are added to every Node; PerNodeLabels (by node name, "node-1") to one.
	NodeLabels    map[string]string
	PerNodeLabels map[string]map[string]string
	// RouterASN is the router's AS (default 64512); NodeASN the AS it expects the nodes'
	// speakers to use (default 64513, eBGP). Equal values make the sessions iBGP.
	RouterASN, NodeASN uint32
	// RepoRoot is the repository (default: found above the working directory).
	RepoRoot string
	// BinDir holds etcd, kube-apiserver, kube-proxy, kubectl and ironlb's binaries
	// (default RepoRoot/bin).
	BinDir string
	// StateDir holds the state file and the lab's folder (default DefaultStateDir). Use one
	// StateDir per machine: labs in another are removed too, but their files are not.
	StateDir string
	// LockWait is how long Start waits for a lab of another live process to finish
	// (default 10 minutes).
	LockWait time.Duration
	// APIServerArgs are extra kube-apiserver flags.
	APIServerArgs []string
	// Cluster makes the lab a real cluster: every node runs its own containerd and a
	// kubelet (besides kube-proxy), the control plane adds kube-scheduler and
	// kube-controller-manager, and pods are containers. ironlb is then installed with Helm
	// (InstallIronlb) instead of being started as processes; the lab applies neither CRDs
	// nor RBAC itself. Without it, pods are processes and the lab writes Node status and
	// EndpointSlices (the process mode that the older tests use).
	Cluster bool
	// Logf receives progress messages (default: none).
	Logf func(format string, args ...any)
}

func (o *Options) setDefaults() error {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Nodes < 1 || o.Nodes > MaxNodes {
		return fmt.Errorf("lab: %d nodes requested, 1 to %d supported", o.Nodes, MaxNodes)
	}
	if o.Cluster && o.Nodes > PodNodes {
		return fmt.Errorf("lab: %d nodes requested for a cluster lab, at most %d: nodes past node-%d have no pod network for a kubelet", o.Nodes, PodNodes, PodNodes)
	}
	if o.RouterASN == 0 {
		o.RouterASN = 64512
	}
	if o.NodeASN == 0 {
		o.NodeASN = 64513
	}
	if o.RepoRoot == "" {
		root, err := RepoRoot()
		if err != nil {
			return err
		}
		o.RepoRoot = root
	}
	if o.BinDir == "" {
		o.BinDir = filepath.Join(o.RepoRoot, "bin")
	}
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir
	}
	if o.LockWait == 0 {
		o.LockWait = 10 * time.Minute
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return nil
}

// RepoRoot finds the repository root above the working directory.
func RepoRoot() (string, error) { return repo.Root() }

// Lab is a running lab. Its methods are safe for concurrent use.
type Lab struct {
	// Prefix is this run's prefix; every namespace, link and process name starts with it.
	Prefix string
	// Dir is the lab's working folder (certificates, kubeconfigs, logs, etcd data).
	Dir string
	// Nodes are the nodes, in order.
	Nodes []*Node
	// L2Client is on the bridge with the nodes (the ARP/NDP path).
	L2Client *Client
	// BGPClient is behind the router (the BGP path).
	BGPClient *Client
	// Router runs FRR.
	Router *Router
	// MultiHop is the second BGP router, behind Router, once StartMultiHopRouter has run.
	MultiHop *Router
	// APIServerURL is where kube-apiserver serves (the host's address on the bridge).
	APIServerURL string
	// Config, Kube and Client are admin clients (group system:masters); Scheme has the core
	// and ironlb types.
	Config *rest.Config
	Kube   kubernetes.Interface
	Client client.Client
	Scheme *runtime.Scheme

	opts    Options
	root    string
	bin     string
	lock    *os.File
	etcdURL string
	pki     *pki

	mu         sync.Mutex
	procs      map[string]*proc
	components map[string]*component
	pods       map[string]*Pod
	podSeq     int
	nodePodSeq map[string]int
	stopped    bool
	// metricsToken is the scraper's bearer token (MetricsToken), made on first use.
	metricsToken string
}

// Start builds a lab. It first waits for the machine's lab lock and removes whatever an
// earlier lab left behind, then creates the network, the control plane, the nodes with
// kube-proxy, and the router, and returns once all of them are ready. On any failure it
// removes what it created and says which step failed.
func Start(ctx context.Context, opts Options) (_ *Lab, err error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("lab: must run as root (it creates network namespaces)")
	}
	if err := checkPrerequisites(opts); err != nil {
		return nil, err
	}
	lockCtx, cancel := context.WithTimeout(ctx, opts.LockWait)
	lock, err := lockState(lockCtx, opts.StateDir, opts.Logf)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	if err := sweep(ctx, opts.StateDir, opts.Logf); err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("lab: removing a stale lab: %w", err)
	}

	l := &Lab{
		Prefix: newPrefix(), opts: opts, root: opts.RepoRoot, bin: opts.BinDir, lock: lock,
		procs: map[string]*proc{}, components: map[string]*component{},
		pods: map[string]*Pod{}, nodePodSeq: map[string]int{},
	}
	l.Dir = filepath.Join(opts.StateDir, l.Prefix)
	l.APIServerURL = "https://" + net.JoinHostPort(hostV4.String(), strconv.Itoa(apiServerPort))
	l.Nodes = l.newNodes()
	l.L2Client = &Client{Netns: l.name("l2c"), Link: l.uplink(), IPv4: l2ClientV4, IPv6: l2ClientV6, MAC: macFor(l2ClientV4)}
	l.BGPClient = &Client{Netns: l.name("bgpc"), Link: l.uplink(), IPv4: bgpClientV4, IPv6: bgpClientV6, MAC: macFor(bgpClientV4)}
	l.Router = &Router{
		Netns: l.name("rtr"), IPv4: routerV4, IPv6: routerV6, BackIPv4: routerBackV4, BackIPv6: routerBackV6,
		ASN: opts.RouterASN, FRRName: l.Prefix,
	}
	defer func() {
		if err != nil {
			l.logf("lab: start failed, removing %s", l.Prefix)
			if stopErr := l.Stop(); stopErr != nil {
				err = errors.Join(err, fmt.Errorf("cleaning up: %w", stopErr))
			}
		}
	}()
	for _, d := range []string{"logs", "bin", "kubeconfigs"} {
		if err := os.MkdirAll(filepath.Join(l.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	// Written before anything exists, so a crash from here on leaves a findable lab.
	if err := l.saveState(false); err != nil {
		return nil, err
	}

	started := time.Now()
	for _, s := range l.startSteps(ctx) {
		t := time.Now()
		if err := s.fn(ctx); err != nil {
			return nil, fmt.Errorf("lab start: %s: %w", s.name, err)
		}
		l.logf("lab: %s ready in %s", s.name, time.Since(t).Round(time.Millisecond))
	}
	if err := l.saveState(true); err != nil {
		return nil, err
	}
	l.logf("lab: %s ready in %s (%d nodes)", l.Prefix, time.Since(started).Round(time.Millisecond), len(l.Nodes))
	return l, nil
}

// step is one step of Start, named in its error and progress messages.
type step struct {
	name string
	fn   func(context.Context) error
}

// startSteps are the steps of Start in order. Builds (the pod server, the lab's images)
// run in the background from the first step and are waited for where they are needed.
func (l *Lab) startSteps(ctx context.Context) []step {
	built := make(chan error, 1)
	go func() { built <- l.buildPodserver(ctx) }()
	head := []step{
		{"network topology", l.buildTopology},
		{"certificates", func(context.Context) (err error) { l.pki, err = newPKI(filepath.Join(l.Dir, "pki")); return err }},
		{"etcd", l.startEtcd},
		{"kube-apiserver", func(context.Context) error { return l.startAPIServer() }},
		{"admin kubeconfig", func(context.Context) error { return l.setupAdminClients() }},
		{"FRR", l.startFRR}, // while the API server boots
		{"kube-apiserver readiness", l.waitAPIServer},
	}
	if !l.opts.Cluster {
		return append(head,
			step{"namespaces, CRDs and RBAC", l.bootstrap},
			step{"Node objects", l.registerNodes},
			step{"kube-proxy", l.startKubeProxies},
			step{"pod server build", func(context.Context) error { return <-built }},
		)
	}
	images := make(chan error, 1)
	go func() { images <- l.buildLabImages(ctx) }()
	return append(head,
		step{"namespaces", l.bootstrapCluster},
		step{"kube-scheduler and kube-controller-manager", l.startControlPlane},
		step{"Node objects", l.createNodeObjects},
		step{"pause and podserver images", func(context.Context) error { return <-images }},
		step{"containerd and kubelet on every node", l.startNodes},
		// After the kubelets: kube-proxy reports healthy only once its Node is Ready.
		step{"kube-proxy", l.startKubeProxies},
		step{"pod server build", func(context.Context) error { return <-built }},
	)
}

// Stop removes the lab: processes, namespaces, links, FRR files and the lab folder (its
// logs are kept in StateDir/last-logs), then releases the lock. It is safe to call twice.
func (l *Lab) Stop() error {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return nil
	}
	l.stopped = true
	var first []*proc
	for _, c := range l.components {
		first = append(first, c.proc)
	}
	for _, p := range l.pods {
		if p.proc != nil {
			first = append(first, p.proc)
		}
	}
	l.mu.Unlock()
	// ironlb's components and the pods get a short graceful stop, so their logs end cleanly;
	// the sweep kills the lab's own processes and the FRR daemons, and removes the rest.
	var wg sync.WaitGroup
	for _, p := range first {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop(2 * time.Second) }()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := sweep(ctx, l.opts.StateDir, l.opts.Logf)
	if l.lock != nil {
		_ = l.lock.Close()
	}
	return err
}

// Detach leaves the lab running after this process exits (`lab up`): it releases the lock,
// so `lab down` or the next Start may remove the lab. The Lab must not be used afterwards.
func (l *Lab) Detach() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
	if l.lock != nil {
		_ = l.lock.Close()
	}
}

// saveState records the lab in StateDir/state.json.
func (l *Lab) saveState(ready bool) error {
	st := &State{
		Prefix: l.Prefix, Dir: l.Dir, OwnerPID: os.Getpid(), Started: time.Now(),
		APIServer: l.APIServerURL, Kubeconfig: l.Kubeconfig(),
		L2Client: l.L2Client.Netns, BGPClient: l.BGPClient.Netns, Router: l.Router.Netns, Ready: ready,
	}
	for _, n := range l.Nodes {
		st.Nodes = append(st.Nodes, NodeState{Name: n.Name, Netns: n.Netns, IPv4: n.IPv4.String(), IPv6: n.IPv6.String()})
	}
	return writeState(l.opts.StateDir, st)
}

// NodeASN is the AS the router expects the nodes' speakers to use (Options.NodeASN).
func (l *Lab) NodeASN() uint32 { return l.opts.NodeASN }

func (l *Lab) logf(format string, args ...any) { l.opts.Logf(format, args...) }

// logPath is the log file of a process role.
func (l *Lab) logPath(role string) string { return filepath.Join(l.Dir, "logs", role+".log") }

func (l *Lab) setProc(role string, p *proc) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.procs[role] = p
}

func (l *Lab) getProc(role string) *proc {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.procs[role]
}

// DumpLogs writes the last lines of every log of the lab to w, for a failed test.
func (l *Lab) DumpLogs(w io.Writer, lines int) {
	files, _ := filepath.Glob(filepath.Join(l.Dir, "logs", "*.log"))
	for _, f := range files {
		_, _ = fmt.Fprintf(w, "----- %s (last %d lines)\n%s\n", f, lines, host.LogTail(f, lines))
	}
}
