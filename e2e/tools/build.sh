#!/usr/bin/env bash
# Builds the lab's real Kubernetes components (etcd, kube-apiserver, kube-proxy, kubectl)
# from their Go modules into the repository's bin/ folder. The binaries are rebuilt only
# when this module's pins (go.mod/go.sum) change, because a cold build takes minutes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../../bin}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
stamp="$out/.lab-tools.sum"
want="$(cat "$here/go.mod" "$here/go.sum" "$here/build.sh" | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
	&& [[ -x "$out/etcd" && -x "$out/kube-apiserver" && -x "$out/kube-proxy" && -x "$out/kubectl" ]]; then
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
go build -trimpath -ldflags "$ldflags" -o "$out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
go build -trimpath -ldflags "$ldflags" -o "$out/kubectl" k8s.io/kubernetes/cmd/kubectl
go build -trimpath -ldflags "$ldflags" -o "$out/kube-proxy" k8s.io/kubernetes/cmd/kube-proxy
echo "$want" > "$stamp"
