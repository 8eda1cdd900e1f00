#!/usr/bin/env bash
# Benchmark: `harden check` against the floor of one streaming pass (gzip -dc of the same layer blobs), and
# `harden run` (the whole pipeline) against the same stages run as separate commands (sbom, scan, profile,
# minify with verification, check) in the same run; prints ratios and the pipeline's own stage times.
# Usage: Benchmarks/pipeline.sh [runs]   (root; needs scripts/build-test-images.sh and scripts/setup.sh first)
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib.sh
RUNS=${1:-3}
runtime_bench_setup
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
export HARDEN_CACHE_DIR="$WORK/cache" HARDEN_RUN_DIR="$WORK/run" HARDEN_DB="$WORK/vulns.sqlite"
"$BIN" db import -q ../shared/feeds/osv-PyPI-all.zip >/dev/null

# The layer blobs of an image in the layout, for the gzip floor.
blobs() {
    python3 - "$IMAGES/oci" "$1" <<'PY'
import json, sys
root, tag = sys.argv[1], sys.argv[2]
index = json.load(open(f"{root}/index.json"))
m = next(d for d in index["manifests"] if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
manifest = json.load(open(f"{root}/blobs/sha256/{m['digest'].split(':')[1]}"))
print(" ".join(f"{root}/blobs/sha256/{l['digest'].split(':')[1]}" for l in manifest["layers"]))
PY
}

echo "== harden check (every check, one streaming pass) vs gzip -dc of the layers, best of $RUNS"
printf '%-6s %9s %9s %7s %9s\n' image check_s gzip_s ratio rss_MiB
worst_check=0
for tag in nginx flask; do
    files=$(blobs "$tag")
    c=$(best_of "$RUNS" "$BIN" check -q "oci:$IMAGES/oci:$tag" --db "$WORK/none.sqlite")
    g=$(best_of "$RUNS" sh -c "cat $files | gzip -dc >/dev/null")
    rss=$(peak_rss "$BIN" check -q "oci:$IMAGES/oci:$tag" --db "$WORK/none.sqlite")
    printf '%-6s %9.2f %9.2f %6.2fx %9.1f\n' "$tag" "$c" "$g" "$(echo "$c / $g" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
    worst_check=$(echo "r = $c / $g; if (r > $worst_check) r else $worst_check" | bc -l)
done
check_target pipeline.check_ratio_gzip "$worst_check"

echo "== harden run (one command) vs the same stages as separate commands"
printf '%-6s %9s %11s %7s   %s\n' image run_s separate_s ratio "stages of run (s)"
worst_run=0
for spec in "nginx --http-probe 80:GET:/" "flask --http-probe 5000:GET:/"; do
    set -- $spec; tag=$1; shift
    ref="oci:$IMAGES/oci:$tag"
    "$BIN" run -q "$ref" "$@" -o "oci:$WORK/warm:$tag" --report-dir "$WORK/warm-$tag" >/dev/null  # unpack cache and SBOM cache warm for both
    s=$(date +%s.%N)
    "$BIN" run -q "$ref" "$@" -o "oci:$WORK/piped:$tag" --report-dir "$WORK/report-$tag" >/dev/null
    e=$(date +%s.%N); r=$(echo "$e - $s" | bc -l)
    s=$(date +%s.%N)
    "$BIN" sbom -q "$ref" --format cyclonedx-json -o "$WORK/$tag.cdx.json"
    "$BIN" scan -q "$ref" --format sarif -o "$WORK/$tag.sarif"
    "$BIN" profile -q "$ref" "$@" -o "$WORK/$tag.profile.json" >/dev/null
    "$BIN" minify -q "$ref" --profile "$WORK/$tag.profile.json" -o "oci:$WORK/sep:$tag" --report "$WORK/$tag.min.json" >/dev/null
    "$BIN" scan -q "oci:$WORK/sep:$tag" --format sarif -o "$WORK/$tag.after.sarif"
    "$BIN" check -q "oci:$WORK/sep:$tag" --profile "$WORK/$tag.profile.json" -o "$WORK/$tag.check.txt" || true
    e=$(date +%s.%N); p=$(echo "$e - $s" | bc -l)
    stages=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(' '.join('%s=%.2f' % (s['name'], s['seconds']) for s in r['stages']))" "$WORK/report-$tag/report.json")
    printf '%-6s %9.2f %11.2f %6.2fx   %s\n' "$tag" "$r" "$p" "$(echo "$r / $p" | bc -l)" "$stages"
    worst_run=$(echo "x = $r / $p; if (x > $worst_run) x else $worst_run" | bc -l)
done
check_target pipeline.run_ratio "$worst_run"
exit "$BENCH_FAILED"
