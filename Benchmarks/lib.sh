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
