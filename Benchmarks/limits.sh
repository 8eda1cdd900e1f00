#!/usr/bin/env bash
# harden benchmark: time and peak memory of each hostile input harden must refuse or contain (issue 19), against
# the limits in Benchmarks/targets (each case ≤ 10 s and ≤ 256 MiB). Fails when a case exceeds its limit.
# Usage: Benchmarks/limits.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib.sh
swift build -c release --product harden >/dev/null 2>&1
BIN="$(swift build -c release --show-bin-path)/harden"
WORK=$(mktemp -d /tmp/harden-limits.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
python3 Benchmarks/make-bombs.py "$WORK/in" >/dev/null

max_seconds=$(awk '$1 == "limits.seconds" { print $2 }' Benchmarks/targets)
max_kib=$(awk '$1 == "limits.rss_kib" { print $2 }' Benchmarks/targets)
failed=0
# case NAME EXPECTED-EXIT CMD...: runs CMD once under /usr/bin/time, checks exit code, time and peak RSS.
case_() {
    local name=$1 want=$2; shift 2
    local s e t rss code
    s=$(date +%s.%N)
    set +e
    /usr/bin/time -o "$WORK/time" -f %M "$@" >/dev/null 2>"$WORK/stderr"
    code=$?
    set -e
    rss=$(tail -1 "$WORK/time")
    e=$(date +%s.%N)
    t=$(echo "$e - $s" | bc -l)
    local verdict=ok
    if [ "$(echo "$t > $max_seconds" | bc -l)" = 1 ] || [ "$rss" -gt "$max_kib" ]; then verdict=OVER; failed=1; fi
    printf "limits: %-28s %6.2f s  %7d KiB  exit %s (want %s)  %s\n" "$name" "$t" "$rss" "$code" "$want" "$verdict"
    if [ "$code" != "$want" ]; then echo "limits: $name exited $code, expected $want: $(head -c 300 "$WORK/stderr")" >&2; failed=1; fi
}
case_ "sparse 1 TiB → dir:" 0 "$BIN" convert --quiet "oci:$WORK/in/sparse:t" "dir:$WORK/out-sparse"
blocks=$(stat -c %b "$WORK/out-sparse/big"); echo "limits: sparse file written in $((blocks / 2)) KiB of disk (apparent 1 TiB)"
case_ "sparse 1 TiB, --max-write 4K" 1 "$BIN" convert --quiet "oci:$WORK/in/sparse:t" "dir:$WORK/out-sparse2" --max-write 4K
case_ "tar trailer 65 MiB → oci:" 1 "$BIN" convert --quiet "oci:$WORK/in/trailer:t" "oci:$WORK/out-trailer:t"
case_ "zip overlap ×1000 → sbom" 0 "$BIN" sbom --quiet "oci:$WORK/in/zipoverlap:t" --no-cache
case_ "zip 1.4 GiB nested → sbom" 0 "$BIN" sbom --quiet "oci:$WORK/in/zipbudget:t" --no-cache
case_ "YAML 10^9 laughs → check" 1 "$BIN" check --quiet "oci:$WORK/in/trailer:t" --policy "$WORK/in/laughs.yaml"
exit $failed
