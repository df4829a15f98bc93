// Package allocator decides which external IPs LoadBalancer Services get from
// IPAddressPools. It is pure logic with no Kubernetes client, so that every
// allocation rule can be tested exhaustively and quickly; the Service and pool
// reconcilers feed it what they read from the API server and write back what
// it decides.
//
// Two properties drive the design. First, an IP never moves on its own
// (invariant 2 of the design): pool edits, pool deletion and controller
// restarts leave every holding alone, so holdings are recorded independently
// of the pools and survive them. Second, one allocation costs the same however
// full a pool is: each pool keeps an ordered tree of free intervals per
// family, so "lowest free address" is a tree minimum rather than a scan.
//
// Rules, in the order Assign applies them:
//
//  1. Sticky: IPs the Service holds are kept while they fit the request.
//  2. A requested IP must be in a non-conflict pool (and in the requested
//     pool, if any); reserved addresses and autoAssign: false pools are
//     fine; it is never taken from a holder that cannot share it.
//  3. A requested pool is the only pool tried.
//  4. Otherwise pools with a matching serviceAllocation are tried by
//     priority, then by name, then auto-assign pools without one by name;
//     inside a pool the lowest free address that is not reserved (nor .0 or
//     .255 with avoidBuggyIPs) wins.
//  5. Services with the same sharing key, disjoint ports and the same
//     traffic policy (and pod selector, with Local) may share an IP; a
//     sharing request reuses such an IP before taking a fresh one.
//  6. SingleStack wants its first family, PreferDualStack every family it
//     can get, RequireDualStack all families or nothing new.
package allocator
