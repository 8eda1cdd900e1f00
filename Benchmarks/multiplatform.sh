#!/usr/bin/env bash
# Benchmark: whole multi-platform images. `harden patch --all` of the two-platform index (linux/amd64 + linux/arm64
# nginx, scripts/build-test-images.sh) against the same patch of the amd64 image alone, warm caches, best of N:
# the platforms are patched side by side, so two must cost at most 1.8x one (target multiplatform.patch_ratio_one).
# Also prints `harden run` of the index (arm64 profiled and verified under qemu-user) against `harden run` of the
# amd64 image alone (the price of emulation), and `harden run --profile-platform linux/amd64` of the index (amd64
# profiled once, its profile mapped onto arm64, which is only verified) against profiling every platform (target:
# never slower, multiplatform.profile_platform_ratio).
# Usage: Benchmarks/multiplatform.sh [RUNS]   (root; network for the first, cold patch)
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib.sh
runtime_bench_setup
RUNS=${1:-3}
[ -f "$IMAGES/multi/index.json" ] || { echo "bench: $IMAGES/multi missing; run scripts/build-test-images.sh" >&2; exit 1; }
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
export HARDEN_CACHE_DIR="$WORK/cache" HARDEN_RUN_DIR="$WORK/run"
ONE="oci:$IMAGES/oci:nginx"
TWO="oci:$IMAGES/multi:nginx"

patch_to() { rm -rf "$WORK/$2"; "$BIN" patch -q --all "$1" -o "oci:$WORK/$2:t"; }
patch_to "$TWO" warm >/dev/null   # fills the caches: repository indexes of both architectures, packages, layers
one=$(best_of "$RUNS" patch_to "$ONE" one)
two=$(best_of "$RUNS" patch_to "$TWO" two)
[ "$(python3 -c "import json;print(len(json.load(open('$WORK/two/blobs/sha256/'+json.load(open('$WORK/two/index.json'))['manifests'][0]['digest'][7:]))['manifests']))")" = 2 ] ||
    { echo "bench: the patched index does not hold two platforms" >&2; exit 1; }

run_to() {
    rm -rf "$WORK/$2" "$WORK/report-$2"
    "$BIN" run -q "$1" --http-probe 80:GET:/ -o "oci:$WORK/$2:t" --report-dir "$WORK/report-$2" --db "$WORK/none.db"
}
run_one=$(best_of 2 run_to "$ONE" run-one)
run_two=$(best_of 2 run_to "$TWO" run-two)
run_map() {
    rm -rf "$WORK/run-map" "$WORK/report-run-map"
    "$BIN" run -q --profile-platform linux/amd64 "$TWO" --http-probe 80:GET:/ -o "oci:$WORK/run-map:t" \
        --report-dir "$WORK/report-run-map" --db "$WORK/none.db"
}
run_mapped=$(best_of 2 run_map)
[ "$(python3 -c "import json,sys;print([p.get('profileMappedFrom') for p in json.load(open(sys.argv[1]))['platforms']])" "$WORK/report-run-map/report.json")" = "[None, 'linux/amd64']" ] ||
    { echo "bench: --profile-platform did not map the profile onto arm64" >&2; exit 1; }

printf '%-28s %10s %10s %8s\n' command one_s two_s ratio
printf '%-28s %10.2f %10.2f %8.2f\n' "patch --all (warm)" "$one" "$two" "$(echo "$two / $one" | bc -l)"
printf '%-28s %10.2f %10.2f %8.2f\n' "run (arm64 under qemu)" "$run_one" "$run_two" "$(echo "$run_two / $run_one" | bc -l)"
printf '%-28s %10s %10.2f %8.2f  (vs profiling every platform)\n' "run --profile-platform amd64" "" "$run_mapped" "$(echo "$run_mapped / $run_two" | bc -l)"
check_target multiplatform.patch_ratio_one "$(echo "$two / $one" | bc -l)"
check_target multiplatform.profile_platform_ratio "$(echo "$run_mapped / $run_two" | bc -l)"
exit "$BENCH_FAILED"
