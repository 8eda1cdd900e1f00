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

# check_target NAME VALUE: compares VALUE with NAME's line in Benchmarks/targets (`NAME max|min TARGET MARGIN`),
# prints the verdict and records a regression in BENCH_FAILED when VALUE misses TARGET by more than MARGIN
# (a fraction of TARGET: the noise seen between runs on the shared 2-core CI machine).
BENCH_FAILED=0
check_target() {
    local name=$1 value=$2 line kind target margin limit verdict
    line=$(awk -v n="$name" '$1 == n' "$(dirname "${BASH_SOURCE[0]}")/targets")
    if [ -z "$line" ]; then echo "bench: no target named $name in Benchmarks/targets" >&2; BENCH_FAILED=1; return; fi
    read -r _ kind target margin <<<"$line"
    if [ "$kind" = max ]; then
        limit=$(echo "$target * (1 + $margin)" | bc -l)
        if [ "$(echo "$value <= $target" | bc -l)" = 1 ]; then verdict="within target"
        elif [ "$(echo "$value <= $limit" | bc -l)" = 1 ]; then verdict="over target, within the noise margin"
        else verdict="REGRESSION"; BENCH_FAILED=1; fi
        printf 'target %-28s %10.3f  (<= %s, fails above %.3f)  %s\n' "$name" "$value" "$target" "$limit" "$verdict"
    else
        limit=$(echo "$target * (1 - $margin)" | bc -l)
        if [ "$(echo "$value >= $target" | bc -l)" = 1 ]; then verdict="within target"
        elif [ "$(echo "$value >= $limit" | bc -l)" = 1 ]; then verdict="under target, within the noise margin"
        else verdict="REGRESSION"; BENCH_FAILED=1; fi
        printf 'target %-28s %10.3f  (>= %s, fails below %.3f)  %s\n' "$name" "$value" "$target" "$limit" "$verdict"
    fi
}

# start_registry DIR: a Distribution registry on a random loopback port with its data in DIR/data; sets PORT and
# REG (its pid) and waits until it answers. The caller's EXIT trap stops it (kill $REG).
start_registry() {
    local dir=$1
    PORT=$((40000 + RANDOM % 10000))
    cat > "$dir/config.yml" <<YAML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $dir/data}}
http: {addr: 127.0.0.1:$PORT}
YAML
    docker-registry serve "$dir/config.yml" >/dev/null 2>&1 &
    REG=$!
    for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/v2/" && return; sleep 0.1; done
}

# last_layer LAYOUT TAG: the size of the last layer of TAG in an OCI layout.
last_layer() {
    python3 - "$1" "$2" <<'PY'
import json, sys
root, tag = sys.argv[1], sys.argv[2]
m = next(d for d in json.load(open(root + "/index.json"))["manifests"]
         if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
print(json.load(open(root + "/blobs/sha256/" + m["digest"].split(":")[1]))["layers"][-1]["size"])
PY
}
