// Package election picks the one node that answers ARP/NDP for an address. Every speaker
// computes the owner itself from the same inputs (the address and the eligible, live nodes)
// with rendezvous hashing, so failover needs no API write and no coordination: when the
// owner dies, each survivor recomputes and the same node wins everywhere. Rendezvous
// hashing spreads addresses evenly over nodes and, when a node joins, moves only the
// addresses that the new node now wins.
package election

// Owner returns the node among candidates with the highest score for key, or "" when there
// is no candidate. Services that share an address use the address as key, so they always
// have the same owner.
func Owner(key string, candidates []string) string {
	best, bestScore := "", uint64(0)
	for _, node := range candidates {
		s := score(key, node)
		if best == "" || s > bestScore || (s == bestScore && node < best) {
			best, bestScore = node, s
		}
	}
	return best
}

// score hashes the pair with FNV-1a and a final avalanche step, so nodes with similar names
// do not get similar scores.
//
// It is FNV-1a written out, not hash/fnv, so that scoring every address against every
// node on each plan allocates nothing (the same values as hash/fnv's New64a).
func score(key, node string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint64(key[i])) * fnvPrime
	}
	h *= fnvPrime // the 0 byte between key and node
	for i := 0; i < len(node); i++ {
		h = (h ^ uint64(node[i])) * fnvPrime
	}
	return mix(h)
}

// FNV-1a's 64-bit offset basis and prime.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// mix is the 64-bit finalizer of MurmurHash3: every input bit affects every output bit.
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
