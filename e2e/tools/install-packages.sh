#!/usr/bin/env bash
# Installs the Debian packages the lab and the tests need, if any is missing, without
# asking (apt-get -y, DEBIAN_FRONTEND=noninteractive). `make demo`, `make test` and .ci/run
# all run it, so a fresh Debian 12 machine needs nothing by hand. With everything present
# it only reads dpkg's database and changes nothing. Installing needs root; without root
# it names what is missing and fails.
set -euo pipefail

# What each package is for:
#   make, curl, procps                 the build and the tests' own tools
#   iproute2, iptables, nftables       namespaces, links, routes; kube-proxy's rules; fault injection
#   util-linux                         nsenter (kubelet and containerd enter node namespaces with it)
#   frr                                the lab's BGP router (zebra, bgpd, bfdd)
#   arping, tcpdump, conntrack         the clients' ARP probes and packet checks
#   containerd, runc                   every lab node's container runtime
#   containernetworking-plugins        the pods' network (bridge, host-local, portmap, loopback)
packages=(make curl procps iproute2 iptables nftables util-linux frr arping tcpdump conntrack
	containerd runc containernetworking-plugins)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]})) || exit 0
if [[ $(id -u) -ne 0 ]]; then
	echo "install-packages: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
	exit 1
fi
echo "install-packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts containerd as a service on install where an init system runs; the lab runs
# its own per node and needs none, so it is left as the package set it up.
