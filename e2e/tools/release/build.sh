#!/usr/bin/env bash
# Builds Helm (from its Go module, at the version pinned in go.mod) and ironlb-image (the
# daemonless image builder) into the repository's bin/ folder. Rebuilt only when this
# module's pins or sources change: a cold Helm build takes minutes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../../../bin}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
stamp="$out/.release-tools.sum"
want="$(cat "$here/go.mod" "$here/go.sum" "$here/build.sh" "$here"/ironlb-image/*.go | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$out/helm" && -x "$out/ironlb-image" ]]; then
	exit 0
fi
helm_version="$(awk '$1=="helm.sh/helm/v4"{print $2; exit}' "$here/go.mod")"
cd "$here"
echo "building helm $helm_version and ironlb-image into $out ..." >&2
export CGO_ENABLED=0
go build -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$helm_version" -o "$out/helm" helm.sh/helm/v4/cmd/helm
go build -trimpath -ldflags "-s -w" -o "$out/ironlb-image" ./ironlb-image
echo "$want" > "$stamp"
