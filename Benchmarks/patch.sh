#!/usr/bin/env bash
# Benchmark: `harden patch --all` against the naive path on the same image and mirror — unpack with umoci, chroot
# `apt-get update && apt-get install --only-upgrade` of the same packages, repack with umoci — both from a cold cache.
# Prints the time ratio (target <= 0.5) and the new layer's size ratio (target <= 0.7: no apt lists, logs or caches).
# Usage: Benchmarks/patch.sh [TAG]   (root; needs scripts/build-test-images.sh and scripts/setup.sh first; network)
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib.sh
runtime_bench_setup
TAG=${1:-nginx}
WORK=$(mktemp -d); trap 'umount "$WORK/bundle/rootfs/proc" 2>/dev/null || true; rm -rf "$WORK"' EXIT
MIRROR=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
HOST=$(echo "${MIRROR:-http://deb.debian.org/debian}" | sed -E 's#^(https?://[^/]+).*#\1#')

# harden, cold (indexes and packages downloaded, verified, one layer written).
export HARDEN_CACHE_DIR="$WORK/cache"
s=$(date +%s.%N)
"$BIN" patch -q --all "oci:$IMAGES/oci:$TAG" -o "oci:$WORK/ours:$TAG" --report "$WORK/report.json" >/dev/null
e=$(date +%s.%N)
ours=$(echo "$e - $s" | bc -l)
pkgs=$(python3 -c "import json,sys; print(' '.join(p['name'] for p in json.load(open(sys.argv[1]))['packages']))" "$WORK/report.json")
ours_layer=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['layer']['size'])" "$WORK/report.json")
[ -n "$pkgs" ] || { echo "bench: nothing to upgrade in $TAG" >&2; exit 1; }

# The naive path, cold: umoci unpack, apt-get in a chroot, umoci repack.
skopeo copy -q "oci:$IMAGES/oci:$TAG" "oci:$WORK/naive:$TAG"
s=$(date +%s.%N)
umoci unpack --image "$WORK/naive:$TAG" "$WORK/bundle" >/dev/null
R="$WORK/bundle/rootfs"
printf 'deb %s/debian-security bookworm-security main\ndeb %s/debian bookworm-updates main\n' "$HOST" "$HOST" > "$R/etc/apt/sources.list.d/security.list"
cp /etc/resolv.conf "$R/etc/resolv.conf"
mount -t proc proc "$R/proc"
chroot "$R" apt-get -qq -o APT::Sandbox::User=root update >/dev/null
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive chroot "$R" apt-get -qq -y -o Dpkg::Options::=--force-confold install --only-upgrade $pkgs >/dev/null
umount "$R/proc"
umoci repack --image "$WORK/naive:$TAG-patched" "$WORK/bundle" >/dev/null
e=$(date +%s.%N)
naive=$(echo "$e - $s" | bc -l)
naive_layer=$(python3 - "$WORK/naive" "$TAG-patched" <<'PY'
import json, sys
root, tag = sys.argv[1], sys.argv[2]
index = json.load(open(root + "/index.json"))
m = next(d for d in index["manifests"] if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
manifest = json.load(open(root + "/blobs/sha256/" + m["digest"].split(":")[1]))
print(manifest["layers"][-1]["size"])
PY
)
n=$(echo "$pkgs" | wc -w)
printf '%-8s %9s %12s %12s %14s %14s\n' image packages harden_s naive_s harden_layer naive_layer
printf '%-8s %9d %12.2f %12.2f %13.1fK %13.1fK\n' "$TAG" "$n" "$ours" "$naive" "$(echo "$ours_layer / 1024" | bc -l)" "$(echo "$naive_layer / 1024" | bc -l)"
time_ratio=$(echo "$ours / $naive" | bc -l)
size_ratio=$(echo "$ours_layer / $naive_layer" | bc -l)
printf 'ratios: time %.3f, layer size %.3f\n' "$time_ratio" "$size_ratio"
check_target patch.time_ratio_naive "$time_ratio"
check_target patch.layer_ratio_naive "$size_ratio"
exit "$BENCH_FAILED"
