// Command ironlb-speaker makes the network deliver traffic for LoadBalancer addresses to
// this node: in layer-2 mode it answers ARP and NDP for the addresses it is elected for; in
// BGP mode it advertises them to its routers.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ironlb/ironlb/internal/metricsendpoint"
	"github.com/ironlb/ironlb/speaker/app"
	"github.com/ironlb/ironlb/speaker/membership"
)

func main() {
	o := app.Options{Membership: membership.DefaultConfig()}
	m := &o.Membership
	var validateOnly bool
	// --kubeconfig is registered by controller-runtime; empty uses the in-cluster ServiceAccount.
	flag.StringVar(&o.NodeName, "node-name", os.Getenv("NODE_NAME"), "this node's name (default $NODE_NAME)")
	flag.BoolVar(&o.Layer2, "layer2", true, "answer ARP/NDP for the addresses this node is elected for (needs memberlist)")
	flag.BoolVar(&o.BGP, "bgp", true, "run the embedded BGP server for the BGPPeers that select this node")
	flag.StringVar(&o.Namespace, "namespace", os.Getenv("POD_NAMESPACE"), "the namespace the speaker runs in, the only one it reads Secrets (BGP passwords) in (default $POD_NAMESPACE)")
	flag.StringVar(&o.SpeakerPodSelector, "speaker-pod-selector", "", "label selector of the speaker Pods in --namespace (the chart sets it): a speaker that cannot join gossip while other speakers are Ready announces nothing instead of every address")
	flag.StringVar(&o.PodName, "pod-name", os.Getenv("POD_NAME"), "this speaker's Pod in --namespace, where it reports its memberlist view as the ironlb.io/Gossip condition; empty reports nothing (default $POD_NAME)")
	flag.StringVar(&o.LoadBalancerClass, "load-balancer-class", "", "announce Services with this spec.loadBalancerClass; empty announces Services without a class")
	metricsendpoint.AddFlags(flag.CommandLine, &o.Metrics, ":7474")
	flag.StringVar(&o.HealthAddr, "health-probe-bind-address", ":7475", "address of the /healthz and /readyz endpoints")
	flag.StringVar(&o.PprofAddr, "pprof-bind-address", "", "address of Go's /debug/pprof/ endpoints, to profile the speaker; empty turns them off")
	flag.StringVar(&o.LogLevel, "log-level", "info", "debug, info, warn or error")
	flag.Float64Var(&o.QPS, "kube-api-qps", 50, "sustained API requests per second")
	flag.IntVar(&o.Burst, "kube-api-burst", 100, "API request burst")
	flag.StringVar(&o.BindAddr, "memberlist-bind-address", os.Getenv("NODE_IP"), "the node's IP, where memberlist listens (default $NODE_IP)")
	flag.IntVar(&m.Port, "memberlist-port", membership.DefaultPort, "memberlist TCP and UDP port, the same on every node")
	flag.StringVar(&o.SecretFile, "memberlist-secret-file", "", "file with the Secret the gossip encryption key is derived from (at least 16 random bytes)")
	flag.DurationVar(&m.ProbeInterval, "memberlist-probe-interval", m.ProbeInterval, "how often each speaker probes another; sets the failure-detection time")
	flag.DurationVar(&m.ProbeTimeout, "memberlist-probe-timeout", m.ProbeTimeout, "how long a direct probe waits before indirect probes")
	flag.IntVar(&m.SuspicionMult, "memberlist-suspicion-mult", m.SuspicionMult, "suspicion timeout in probe intervals (scaled by log10 of the cluster size)")
	flag.DurationVar(&m.GossipInterval, "memberlist-gossip-interval", m.GossipInterval, "how often queued gossip is sent")
	flag.DurationVar(&m.RejoinInterval, "memberlist-rejoin-interval", m.RejoinInterval, "how often speakers that are not members are joined again (partition healing)")
	flag.IntVar(&o.GratuitousCount, "gratuitous-count", 3, "gratuitous ARPs / unsolicited NAs sent on takeover; 0 sends none")
	flag.Float64Var(&o.GratuitousRate, "gratuitous-rate", 5000, "most gratuitous ARPs / unsolicited NAs sent per second, all addresses together; 0 means no bound")
	flag.DurationVar(&o.GratuitousInterval, "gratuitous-interval", 500*time.Millisecond, "gap between takeover packets")
	flag.DurationVar(&o.RefreshInterval, "refresh-interval", 60*time.Second, "re-announce every owned address this often; 0 turns it off")
	flag.DurationVar(&o.HandoverDelay, "handover-delay", 300*time.Millisecond, "on shutdown, keep answering this long after leaving so the new owner announces first")
	flag.BoolVar(&validateOnly, "validate-flags", false, "check the flags and exit without starting")
	flag.Parse()

	if validateOnly {
		if err := o.Validate(); err != nil {
			fmt.Fprintln(os.Stderr, "ironlb-speaker:", err)
			os.Exit(2)
		}
		return
	}
	if err := app.Run(ctrl.SetupSignalHandler(), o); err != nil {
		fmt.Fprintln(os.Stderr, "ironlb-speaker:", err)
		os.Exit(1)
	}
}
