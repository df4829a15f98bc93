// Package lab runs a real Kubernetes cluster on one machine, without containers, for
// ironlb's end-to-end tests, benchmarks and `make demo`.
//
// The pieces are the real ones wherever they can run: etcd and kube-apiserver (built from
// Go modules into bin/ by `make lab-tools`) run as host processes with RBAC and
// ServiceAccount tokens; every node is a Linux network namespace on a shared bridge and
// runs a real kube-proxy in iptables mode; pods are small HTTP servers in their own
// namespaces behind a node; a router namespace runs FRR (zebra, bgpd, bfdd) with a BGP
// client behind it, and an L2 client sits on the bridge. A second FRR, for multi-hop eBGP,
// runs in the BGP client's namespace when a test asks for it (StartMultiHopRouter).
// Because there is no kube-controller-manager and no kubelet, the lab does their few jobs
// itself: it creates Node objects with addresses and a Ready condition, and writes
// EndpointSlices.
//
// Everything a lab creates (namespaces, links, processes, FRR pathspaces) carries a
// per-run prefix such as "ilbk3x", and the lab's state is written under StateDir so that
// another process (`lab down`) or the next Start can find and remove a lab whose owner
// died. Only one lab runs on a machine at a time: its addresses are fixed (see plan.go)
// and a file lock in StateDir serialises labs of concurrent test packages.
//
// Every address is taken from 198.18.0.0/15 (reserved for benchmarking, RFC 2544) and
// 2001:db8::/32 (documentation, RFC 3849), and no namespace has a route to anything else.
//
// The host plumbing that knows nothing of a lab (running commands, entering network
// namespaces, polling, finding and killing processes) is in the sub-package host, and the
// reading of FRR's JSON output (routes, BGP paths, neighbors, BFD peers) in frr.
package lab
