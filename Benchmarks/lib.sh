# harden benchmarks — shared helpers (sourced).

# best N CMD...: the best wall time in seconds of N runs of CMD (output discarded).
best_of() {
    local runs=$1; shift
    local best=""
    for _ in $(seq "$runs"); do
        local s e t
        s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
        t=$(echo "$e - $s" | bc -l)
        if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
    done
    echo "$best"
}

# peak_rss CMD...: peak resident set size in KiB.
peak_rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

# runtime_bench_setup: the checks and build every runtime benchmark starts with; sets IMAGES and BIN.
runtime_bench_setup() {
    IMAGES="${HARDEN_TEST_IMAGES:-$PWD/test-images}"
    [ -f "$IMAGES/oci/index.json" ] || { echo "bench: test images missing; run scripts/build-test-images.sh" >&2; exit 1; }
    [ "$(id -u)" = 0 ] || { echo "bench: needs root (runc)" >&2; exit 1; }
    swift build -c release --product harden >/dev/null
    BIN="$(swift build -c release --show-bin-path)/harden"
}
