// Package layer2 makes this node answer ARP (IPv4) and NDP (IPv6) for the
// Service IPs it has been elected for, so that clients on the segment send
// those IPs' traffic here and kube-proxy takes it from there.
//
// The IPs are never added to an interface: the kernel would then also answer
// for them on every link, use them as source addresses and keep answering
// after a crash, which would break the one-node-per-IP rule. Instead the
// Announcer answers from user space, on packet sockets, only while the IP is
// in the state given to SetOwned, and tells the segment about a takeover with
// gratuitous ARPs and unsolicited Neighbor Advertisements.
//
// Linux only: it uses AF_PACKET sockets and network namespaces.
package layer2
