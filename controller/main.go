// Command ironlb-controller gives LoadBalancer Services external IPs from IPAddressPools.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ironlb/ironlb/controller/app"
	"github.com/ironlb/ironlb/controller/bgpcondition"
	"github.com/ironlb/ironlb/internal/metricsendpoint"
)

func main() {
	var o app.Options
	var validateOnly bool
	// --kubeconfig is registered by controller-runtime; empty uses the in-cluster ServiceAccount.
	flag.StringVar(&o.LoadBalancerClass, "load-balancer-class", "", "serve Services with this spec.loadBalancerClass; empty serves Services without a class")
	metricsendpoint.AddFlags(flag.CommandLine, &o.Metrics, ":7472")
	flag.StringVar(&o.HealthAddr, "health-probe-bind-address", ":7473", "address of the /healthz and /readyz endpoints")
	flag.BoolVar(&o.LeaderElect, "leader-elect", true, "elect one active replica with a Lease, so two replicas never allocate at once")
	flag.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the Lease; empty uses $POD_NAMESPACE, then the Pod's namespace")
	flag.DurationVar(&o.LeaseDuration, "lease-duration", 10*time.Second, "how long a standby waits after the leader's last renewal before taking over")
	flag.DurationVar(&o.RenewDeadline, "renew-deadline", 7*time.Second, "how long the leader keeps trying to renew before it steps down")
	flag.DurationVar(&o.RetryPeriod, "retry-period", 2*time.Second, "interval between leader election attempts")
	flag.Float64Var(&o.QPS, "kube-api-qps", 1000, "sustained API requests per second per resource (the API server's priority and fairness still applies)")
	flag.IntVar(&o.Burst, "kube-api-burst", 2000, "API request burst")
	flag.Float64Var(&o.EventsQPS, "events-qps", 20, "sustained event writes per second, on a client of their own")
	flag.IntVar(&o.EventsBurst, "events-burst", 100, "event write burst")
	flag.DurationVar(&o.BGPConditionInterval, "bgp-condition-interval", bgpcondition.DefaultMinInterval, "shortest time between two writes of one Service's ironlb.io/BGPAdvertised condition; a flapping session costs a Service at most one write per interval")
	flag.Float64Var(&o.BGPConditionQPS, "bgp-condition-qps", bgpcondition.DefaultQPS, "sustained ironlb.io/BGPAdvertised condition writes per second, on a client of their own")
	flag.IntVar(&o.BGPConditionBurst, "bgp-condition-burst", bgpcondition.DefaultBurst, "ironlb.io/BGPAdvertised condition write burst")
	flag.IntVar(&o.Workers, "workers", 32, "Services reconciled in parallel")
	flag.StringVar(&o.MemberlistSecretName, "memberlist-secret-name", "", "create this Secret with a random memberlist key once, if it is missing (never changed after); empty creates none")
	flag.StringVar(&o.MemberlistSecretNamespace, "memberlist-secret-namespace", "", "namespace of --memberlist-secret-name; empty is the --leader-election-namespace")
	flag.StringVar(&o.SpeakerPodSelector, "speaker-pod-selector", "", "label selector of the speaker Pods (the chart sets it): a node's BGP sessions count in ironlb.io/BGPAdvertised only while a Ready speaker Pod runs on it; empty checks only the Node's Ready condition")
	flag.StringVar(&o.SpeakerPodNamespace, "speaker-pod-namespace", "", "namespace of the speaker Pods; empty is the --leader-election-namespace")
	flag.StringVar(&o.LogLevel, "log-level", "info", "debug, info, warn or error")
	flag.BoolVar(&validateOnly, "validate-flags", false, "check the flags and exit without starting")
	flag.Parse()

	if validateOnly {
		if err := o.Validate(); err != nil {
			fmt.Fprintln(os.Stderr, "ironlb-controller:", err)
			os.Exit(2)
		}
		return
	}
	if err := app.Run(ctrl.SetupSignalHandler(), o); err != nil {
		fmt.Fprintln(os.Stderr, "ironlb-controller:", err)
		os.Exit(1)
	}
}
