#!/usr/bin/env bash
# Benchmark: `harden inspect` on the nginx test image vs `gzip -dc` of the same layer blobs to /dev/null.
# inspect must stream and decompress every layer, hash blob and DiffID, and parse every tar header;
# the target is ≤ 1.5× the time of gzip alone. Also reports peak memory (it must stay flat as layers grow).
# Usage: Benchmarks/inspect.sh [runs]     (builds the release binary; needs scripts/build-test-images.sh first)
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib.sh
RUNS="${1:-5}"
IMAGES="${HARDEN_TEST_IMAGES:-$PWD/test-images}"
LAYOUT="$IMAGES/oci"
[ -f "$LAYOUT/index.json" ] || { echo "bench: test images missing; run scripts/build-test-images.sh" >&2; exit 1; }
swift build -c release --product harden >/dev/null
BIN="$(swift build -c release --show-bin-path)/harden"

# The nginx image's layer blobs, from its manifest.
manifest=$(python3 - "$LAYOUT" <<'PY'
import json, sys
root = sys.argv[1]
idx = json.load(open(root + "/index.json"))
d = [m for m in idx["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "nginx"][0]["digest"]
m = json.load(open(root + "/blobs/sha256/" + d.split(":")[1]))
print(" ".join(root + "/blobs/sha256/" + l["digest"].split(":")[1] for l in m["layers"]))
PY
)

best() { best_of "$RUNS" "$@"; }

gunzip_all() { for b in $manifest; do gzip -dc "$b" > /dev/null; done; }
# Warm the page cache once so both sides read from memory.
cat $manifest > /dev/null

t_gzip=$(best gunzip_all)
t_ours=$(best "$BIN" inspect --quiet "oci:$LAYOUT:nginx")
ratio=$(echo "$t_ours / $t_gzip" | bc -l)
mem_kb=$(/usr/bin/time -f %M "$BIN" inspect --quiet "oci:$LAYOUT:nginx" 2>&1 >/dev/null | tail -1)
mem_base_kb=$(/usr/bin/time -f %M "$BIN" inspect --quiet "oci:$LAYOUT:base" 2>&1 >/dev/null | tail -1)
bytes=$(cat $manifest | wc -c)

printf 'inspect nginx (%s MiB of gzip layers), best of %s runs\n' "$((bytes / 1048576))" "$RUNS"
printf '  gzip -dc of the layers : %.3f s\n' "$t_gzip"
printf '  harden inspect         : %.3f s\n' "$t_ours"
printf '  ratio harden/gzip      : %.2fx  (target <= 1.50x)\n' "$ratio"
printf '  peak RSS nginx / base  : %s KiB / %s KiB (flat: memory does not grow with layer size)\n' "$mem_kb" "$mem_base_kb"
check_target inspect.ratio_gzip "$ratio"
exit "$BENCH_FAILED"
