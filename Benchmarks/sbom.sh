#!/usr/bin/env bash
# Benchmark: `harden sbom` vs syft on each test image, in the same run.
#   cold harden (no cache) vs syft wall time — target ≤ 0.33×; peak RSS — target ≤ 0.5×
#   warm rescan of an image sharing all but its top layer with an already-scanned one — target ≤ 0.15× its cold time
#   on one thread
#   120,000 small files in one layer — target ≤ 0.5× gzip -dc of that layer
# Usage: Benchmarks/sbom.sh [runs]   (needs scripts/build-test-images.sh and scripts/setup.sh first)
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib.sh
RUNS="${1:-3}"
IMAGES="${HARDEN_TEST_IMAGES:-$PWD/test-images}"
[ -f "$IMAGES/oci/index.json" ] || { echo "bench: test images missing; run scripts/build-test-images.sh" >&2; exit 1; }
command -v syft >/dev/null || { echo "bench: syft missing; run scripts/setup.sh" >&2; exit 1; }
export SYFT_CHECK_FOR_APP_UPDATE=false
swift build -c release --product harden >/dev/null
BIN="$(swift build -c release --show-bin-path)/harden"
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
export HARDEN_CACHE_DIR="$WORK/cache"

best() { best_of "$RUNS" "$@"; }
rss() { peak_rss "$@"; }

printf '%-8s %10s %10s %7s %12s %12s %7s\n' image harden_s syft_s ratio harden_KiB syft_KiB ratio
worst_t=0; worst_m=0
for tag in base nginx flask runtimes; do
    cat "$IMAGES/$tag.oci.tar" > /dev/null
    h=$(best "$BIN" sbom --no-cache -q "oci-archive:$IMAGES/$tag.oci.tar")
    s=$(best syft -q "oci-archive:$IMAGES/$tag.oci.tar" -o json)
    hm=$(rss "$BIN" sbom --no-cache -q "oci-archive:$IMAGES/$tag.oci.tar")
    sm=$(rss syft -q "oci-archive:$IMAGES/$tag.oci.tar" -o json)
    printf '%-8s %10.3f %10.3f %6.2fx %12s %12s %6.2fx\n' "$tag" "$h" "$s" "$(echo "$h / $s" | bc -l)" "$hm" "$sm" "$(echo "$hm / $sm" | bc -l)"
    worst_t=$(echo "r = $h / $s; if (r > $worst_t) r else $worst_t" | bc -l)
    worst_m=$(echo "r = $hm / $sm; if (r > $worst_m) r else $worst_m" | bc -l)
done
check_target sbom.ratio_syft_time "$worst_t"
check_target sbom.ratio_syft_rss "$worst_m"

# Warm rescan: an app image = flask + one small layer, after flask was scanned.
cp -a "$IMAGES/oci" "$WORK/layout"
umoci unpack --image "$WORK/layout:flask" "$WORK/bundle" >/dev/null
mkdir -p "$WORK/bundle/rootfs/app/static" && echo 'print("v2")' > "$WORK/bundle/rootfs/app/app.py" && echo body > "$WORK/bundle/rootfs/app/static/site.css"
umoci repack --image "$WORK/layout:app" "$WORK/bundle" >/dev/null
# The cold scan on one thread: the work the cache saves (a cold scan with every core is ~2x shorter, and the warm
# rescan's remaining catalog step does not shrink with it).
cold=$(best "$BIN" sbom --no-cache -q --jobs 1 "oci:$WORK/layout:app")
cold_all=$(best "$BIN" sbom --no-cache -q "oci:$WORK/layout:app")
warm_runs=()
for _ in $(seq "$RUNS"); do
    rm -rf "$HARDEN_CACHE_DIR"
    "$BIN" sbom -q "oci:$WORK/layout:flask" >/dev/null
    s=$(date +%s.%N); "$BIN" sbom -q "oci:$WORK/layout:app" >/dev/null; e=$(date +%s.%N)
    warm_runs+=("$(echo "$e - $s" | bc -l)")
done
warm=$(printf '%s\n' "${warm_runs[@]}" | sort -n | head -1)
printf 'warm rescan of flask+1 layer: cold %.3f s on one thread (%.3f s with every core), warm %.3f s, ratio %.2fx to the one-thread cold\n' "$cold" "$cold_all" "$warm" "$(echo "$warm / $cold" | bc -l)"
check_target sbom.warm_rescan_ratio "$(echo "$warm / $cold" | bc -l)"

# Many small files: a synthetic 120,000-file application tree in one gzip layer (Benchmarks/make-many-files.py),
# where the cost per entry (tar header, capture rules, squash) outweighs inflate.
blob=$(python3 Benchmarks/make-many-files.py "$WORK/many" 120000)
cat "$blob" > /dev/null
gz() { gzip -dc < "$blob" > /dev/null; }
t_gz=$(best gz)
t_many=$(best "$BIN" sbom --no-cache -q "oci:$WORK/many:many")
t_many_one=$(best "$BIN" sbom --no-cache -q --jobs 1 "oci:$WORK/many:many")
printf '120k files (%s KiB gzip): gzip -dc %.3f s, harden sbom %.3f s (--jobs 1: %.3f s), ratio %.2fx (issue 37: <= 0.50x)\n' \
    "$(( $(stat -c %s "$blob") / 1024 ))" "$t_gz" "$t_many" "$t_many_one" "$(echo "$t_many / $t_gz" | bc -l)"
check_target sbom.many_files_ratio_gzip "$(echo "$t_many / $t_gz" | bc -l)"
exit "$BENCH_FAILED"
