#!/usr/bin/env bash
# Benchmark: pulling the nginx test image from a loopback Distribution registry into an OCI layout,
# harden vs `skopeo copy docker://… oci:…` in the same run — target ≤ 1.2×.
# Usage: Benchmarks/registry.sh [runs]   (needs scripts/setup.sh and scripts/build-test-images.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib.sh
RUNS="${1:-5}"
IMAGES="${HARDEN_TEST_IMAGES:-$PWD/test-images}"
swift build -c release --product harden >/dev/null
BIN="$(swift build -c release --show-bin-path)/harden"
WORK=$(mktemp -d)
trap 'kill $REG 2>/dev/null; rm -rf "$WORK"' EXIT
start_registry "$WORK"
skopeo copy -q --dest-tls-verify=false "oci:$IMAGES/oci:nginx" "docker://127.0.0.1:$PORT/bench/nginx:1"

best() { local best=""; for _ in $(seq "$RUNS"); do rm -rf "$WORK/out"; local s e t; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
    t=$(echo "$e - $s" | bc -l); if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi; done; echo "$best"; }

h=$(best "$BIN" convert -q --tls-verify=false "docker://127.0.0.1:$PORT/bench/nginx:1" "oci:$WORK/out:n")
s=$(best skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$PORT/bench/nginx:1" "oci:$WORK/out:n")
printf 'pull nginx from a loopback registry, best of %s: harden %.3f s, skopeo %.3f s, ratio %.2fx (target <= 1.20x)\n' "$RUNS" "$h" "$s" "$(echo "$h / $s" | bc -l)"
check_target registry.pull_ratio_skopeo "$(echo "$h / $s" | bc -l)"
exit "$BENCH_FAILED"
