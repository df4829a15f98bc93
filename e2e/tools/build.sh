#!/usr/bin/env bash
# Builds the lab's real Kubernetes components (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet, kube-proxy, kubectl) from their Go modules into the repository's
# bin/ folder. The binaries are rebuilt only when this module's pins (go.mod/go.sum) change,
# because a cold build takes minutes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../../bin}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
stamp="$out/.lab-tools.sum"
k8s_commands=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
all_built() {
	[[ -x "$out/etcd" ]] || return 1
	for c in "${k8s_commands[@]}"; do [[ -x "$out/$c" ]] || return 1; done
}
want="$(cat "$here/go.mod" "$here/go.sum" "$here/build.sh" | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
	&& all_built; then
	exit 0
fi
k8s_version="$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$here/go.mod")"
minor="$(echo "$k8s_version" | cut -d. -f2)"
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
cd "$here"
echo "building lab tools ($k8s_version, etcd) into $out ..." >&2
export CGO_ENABLED=0
go build -trimpath -o "$out/etcd" ./etcd
# One command at a time: each links most of k8s.io/kubernetes, and the shared build cache
# makes every one after the first mostly a link step.
for c in "${k8s_commands[@]}"; do
	go build -trimpath -ldflags "$ldflags" -o "$out/$c" "k8s.io/kubernetes/cmd/$c"
done
echo "$want" > "$stamp"
