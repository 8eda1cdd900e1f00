#!/usr/bin/env bash
# Benchmark: verified library upgrades on the pyapp test image against the real PyPI (issue 35). Prints the time of
# `harden patch --libraries python` (warm wheel cache; index pages fetched), and what verification adds per
# bisection step against the time of one replay of the probes:
#   - one replay: the profile stage of `harden run` on the input with the same probes (runc, the probes; it also
#     runs the sensors, which a replay does not);
#   - with `--patch-libraries python` and a probe that idna's next major release breaks, the patch stage takes the
#     patch, the baseline replay and N bisection replays (N from the report): per step = (patch stage - patch) / (N+1).
# Target: per step <= 2x one replay (library.step_ratio_replay). Usage: Benchmarks/library-patch.sh   (root)
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib.sh
[ "$(id -u)" = 0 ] || { echo "bench: needs root (runc)" >&2; exit 1; }
IMAGES="${HARDEN_TEST_IMAGES:-$PWD/test-images}"
[ -f "$IMAGES/pyapp.oci.tar" ] || { echo "bench: $IMAGES/pyapp.oci.tar missing (scripts/build-test-images.sh)" >&2; exit 1; }
swift build -c release --product harden >/dev/null
BIN="$(swift build -c release --show-bin-path)/harden"
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
export HARDEN_DB="$WORK/db.sqlite" HARDEN_CACHE_DIR="$WORK/cache"
"$BIN" db import -q ../shared/feeds/osv-PyPI-all.zip
IMAGE="oci-archive:$IMAGES/pyapp.oci.tar"
OK_PROBE="python3 -c 'import requests, urllib3; print(requests.__version__)'"
MAJOR_PROBE="python3 -c 'import sys, idna.package_data as d; print(d.__version__); sys.exit(0 if d.__version__.startswith(\"2.\") else 3)'"

patch_once() {
    rm -rf "$WORK/out"
    "$BIN" patch -q "$IMAGE" --libraries python --only-libraries -o "oci:$WORK/out:p" --report "$WORK/patch.json"
}
patch_once  # warms the wheel cache
best_patch=999
for _ in 1 2 3; do
    s=$(date +%s.%N); patch_once; e=$(date +%s.%N)
    best_patch=$(echo "t = $e - $s; if (t < $best_patch) t else $best_patch" | bc -l)
done
upgrades=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['libraries']['packages']))" "$WORK/patch.json")

stage_seconds() {  # REPORT_DIR STAGE
    python3 -c "import json,sys; r=json.load(open(sys.argv[1]+'/report.json')); print([s['seconds'] for s in r['stages'] if s['name']==sys.argv[2]][0])" "$1" "$2"
}
best_replay=999 best_stage=999 replays=0
for i in 1 2; do
    rm -rf "$WORK/r0" "$WORK/o0" "$WORK/r1" "$WORK/o1"
    "$BIN" run -q "$IMAGE" --exec-probe "$OK_PROBE" --exec-probe "$MAJOR_PROBE" -o "oci:$WORK/o0:r" \
        --report-dir "$WORK/r0" -- sleep 30 >/dev/null
    r=$(stage_seconds "$WORK/r0" profile)
    best_replay=$(echo "if ($r < $best_replay) $r else $best_replay" | bc -l)
    "$BIN" run -q "$IMAGE" --patch-libraries python --exec-probe "$OK_PROBE" --exec-probe "$MAJOR_PROBE" \
        -o "oci:$WORK/o1:r" --report-dir "$WORK/r1" -- sleep 30 >/dev/null
    p=$(stage_seconds "$WORK/r1" patch)
    best_stage=$(echo "if ($p < $best_stage) $p else $best_stage" | bc -l)
    replays=$(python3 -c "
import json,re,sys
notes = json.load(open(sys.argv[1]))['libraries']['notes']
print([int(re.search(r'(\d+) replays', n).group(1)) for n in notes if 'replays' in n][0])" "$WORK/r1/patch-report.json")
done
reverted=$(python3 -c "
import json,sys
print(' '.join(p['name'] for p in json.load(open(sys.argv[1]))['libraries']['packages'] if (p.get('verification') or {}).get('outcome') == 'reverted'))" "$WORK/r1/patch-report.json")
[ "$reverted" = idna ] || { echo "bench: expected idna reverted, got '$reverted'" >&2; exit 1; }
step=$(echo "($best_stage - $best_patch) / ($replays + 1)" | bc -l)
ratio=$(echo "$step / $best_replay" | bc -l)
printf 'patch --libraries python (warm wheels)  %6.2f s   %s upgrades\n' "$best_patch" "$upgrades"
printf 'one replay (profile stage, input)       %6.2f s\n' "$best_replay"
printf 'run patch stage with verification       %6.2f s   %s replays + baseline, reverted: %s\n' "$best_stage" "$replays" "$reverted"
printf 'per bisection step                      %6.2f s   = %.2fx one replay\n' "$step" "$ratio"
check_target library.step_ratio_replay "$ratio"
exit "$BENCH_FAILED"
