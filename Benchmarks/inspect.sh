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
# ISA-L's own decompressor (Debian's isal: igzip), the limit of a single pass with ISA-L's inflate.
igunzip_all() { for b in $manifest; do igzip -dc < "$b" > /dev/null; done; }
t_igzip=""
if command -v igzip >/dev/null; then t_igzip=$(best igunzip_all); fi
# A cold SBOM (no layer cache): inflate + tar + every cataloguer. Default: layers side by side, each decompressed on
# its own thread ahead of its parsing, the squash beside them (--jobs = cores); --jobs 1: everything on one thread.
sbom_cold() { HARDEN_CACHE_DIR=$(mktemp -d) "$BIN" sbom -q "oci:$LAYOUT:nginx" -o /dev/null "$@"; }
t_sbom=$(best sbom_cold)
t_sbom_one=$(best sbom_cold --jobs 1)
t_sbom_zlib=$(export HARDEN_INFLATE=zlib; best sbom_cold)
mem_kb=$(/usr/bin/time -f %M "$BIN" inspect --quiet "oci:$LAYOUT:nginx" 2>&1 >/dev/null | tail -1)
mem_base_kb=$(/usr/bin/time -f %M "$BIN" inspect --quiet "oci:$LAYOUT:base" 2>&1 >/dev/null | tail -1)
mem_sbom_kb=$(HARDEN_CACHE_DIR=$(mktemp -d) /usr/bin/time -f %M "$BIN" sbom -q "oci:$LAYOUT:nginx" -o /dev/null 2>&1 | tail -1)
mem_sbom_one_kb=$(HARDEN_CACHE_DIR=$(mktemp -d) /usr/bin/time -f %M "$BIN" sbom -q --jobs 1 "oci:$LAYOUT:nginx" -o /dev/null 2>&1 | tail -1)
bytes=$(cat $manifest | wc -c)

printf 'inspect nginx (%s MiB of gzip layers), best of %s runs, %s cores\n' "$((bytes / 1048576))" "$RUNS" "$(nproc)"
printf '  gzip -dc of the layers : %.3f s  (single-threaded zlib: the old limit)\n' "$t_gzip"
if [ -n "$t_igzip" ]; then printf '  igzip -dc of the layers: %.3f s  (ISA-L: the new limit)\n' "$t_igzip"; else echo "  igzip: not installed"; fi
printf '  harden inspect         : %.3f s\n' "$t_ours"
printf '  ratio harden/gzip      : %.2fx  (target <= 1.50x)\n' "$ratio"
printf '  peak RSS nginx / base  : %s KiB / %s KiB (flat: memory does not grow with layer size)\n' "$mem_kb" "$mem_base_kb"
printf '  inflate                : %s\n' "$("$BIN" --version | sed -n 's/^inflate: //p')"
printf '  harden sbom, cold      : %.3f s (--jobs 1: %.3f s; zlib: %.3f s)\n' "$t_sbom" "$t_sbom_one" "$t_sbom_zlib"
printf '  sbom peak RSS          : %s KiB (--jobs 1: %s KiB)\n' "$mem_sbom_kb" "$mem_sbom_one_kb"
sbom_gzip=$(echo "$t_sbom / $t_gzip" | bc -l)
printf '  ratio sbom/gzip        : %.2fx  (issue 37: <= 0.40x)\n' "$sbom_gzip"
check_target inspect.ratio_gzip "$ratio"
check_target sbom.cold_ratio_gzip "$sbom_gzip"
check_target sbom.cold_rss_ratio_one_job "$(echo "$mem_sbom_kb / $mem_sbom_one_kb" | bc -l)"
if [ -n "$t_igzip" ]; then
    sbom_igzip=$(echo "$t_sbom / $t_igzip" | bc -l)
    printf '  ratio sbom/igzip       : %.2fx  (issue 37: <= 1.20x)\n' "$sbom_igzip"
    check_target sbom.cold_ratio_igzip "$sbom_igzip"
fi
exit "$BENCH_FAILED"
