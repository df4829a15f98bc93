// Package membership tells every ironlb speaker which speakers are alive, fast and
// without the Kubernetes API server.
//
// In layer-2 mode one node answers ARP/NDP for a Service IP. When that node dies another
// must take over in well under a second, and it must not wait for a kubelet heartbeat, a
// Lease or any API write: those take tens of seconds and fail exactly when the control
// plane is the thing in trouble. So speakers run a SWIM gossip cluster
// (github.com/hashicorp/memberlist) among themselves. Each speaker probes a random peer
// every ProbeInterval, asks others to probe it indirectly when it does not answer, and
// the cluster declares it dead after a short suspicion period. Every speaker then sees
// the same set of live nodes (Alive) and is told when it changes (Changes), which is what
// the per-Service leader election needs.
//
// Gossip is always encrypted and authenticated (AES-GCM) with a key derived from a
// Kubernetes Secret (DeriveKey): a speaker without the key can neither read nor inject
// membership, and there is deliberately no way to run an unencrypted cluster.
//
// Peers are found by the caller (the speaker lists its fellow speaker pods) and handed to
// SetPeers. A background loop keeps joining any peer that is not a live member, so two
// halves of a partition, or a restarted speaker, merge back into one cluster by themselves.
package membership
