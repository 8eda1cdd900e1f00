#!/usr/bin/env bash
# Benchmark: what minify removes and how long profile + minify + verify take, on nginx, flask and pyapp.
#   uncompressed root file system before/after (targets: nginx >= 95 % fewer bytes, flask >= 85 %),
#   vulnerabilities before/after counted with the real PyPA feed (target: <= 10 % left), minify + verify <= 60 s.
# Usage: Benchmarks/minify.sh   (root; needs scripts/build-test-images.sh and scripts/setup.sh first)
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib.sh
runtime_bench_setup
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
export HARDEN_CACHE_DIR="$WORK/cache" HARDEN_RUN_DIR="$WORK/run" HARDEN_DB="$WORK/vulns.sqlite"
"$BIN" db import -q ../shared/feeds/osv-PyPI-all.zip >/dev/null

printf '%-14s %10s %10s %8s %12s %12s %9s %9s\n' image before after reduced vulns_before vulns_after profile_s minify_s
# row LABEL REPORT PROFILE_S MINIFY_S: one line of the table from a minify report.
row() {
    python3 - "$2" "$1" "$3" "$4" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
v = r.get("vulnerabilities") or {}
vb, va = sum((v.get("before") or {}).values()), sum((v.get("after") or {}).values())
assert r["verification"]["passed"], r["verification"]
open(sys.argv[1] + ".pct", "w").write("%.2f" % r["reductionPercent"])
print("%-14s %9.1fM %9.1fM %7.1f%% %12d %12d %9.2f %9.2f" % (sys.argv[2], r["before"]["contentBytes"] / 2**20, r["after"]["contentBytes"] / 2**20,
      r["reductionPercent"], vb, va, float(sys.argv[3]), float(sys.argv[4])))
PY
}
for spec in "nginx --http-probe 80:GET:/" "flask --http-probe 5000:GET:/" "pyapp"; do
    set -- $spec; tag=$1; shift
    s=$(date +%s.%N); "$BIN" profile -q "oci:$IMAGES/oci:$tag" "$@" -o "$WORK/$tag.profile.json" >/dev/null; e=$(date +%s.%N)
    p=$(echo "$e - $s" | bc -l)
    s=$(date +%s.%N); "$BIN" minify -q "oci:$IMAGES/oci:$tag" --profile "$WORK/$tag.profile.json" -o "oci:$WORK/out:$tag" --report "$WORK/$tag.report.json"; e=$(date +%s.%N)
    m=$(echo "$e - $s" | bc -l)
    row "$tag" "$WORK/$tag.report.json" "$p" "$m"
    worst_minify=$(echo "x = $m; if (x > ${worst_minify:-0}) x else ${worst_minify:-0}" | bc -l)
done
# Python modules kept as bytecode only (opt-in): the same flask profile.
s=$(date +%s.%N); "$BIN" minify -q "oci:$IMAGES/oci:flask" --profile "$WORK/flask.profile.json" -o "oci:$WORK/out:flask-pyc" --python-bytecode --report "$WORK/flask-pyc.report.json"; e=$(date +%s.%N)
row "flask+bytecode" "$WORK/flask-pyc.report.json" 0 "$(echo "$e - $s" | bc -l)"
echo "aims (issue 6): nginx >= 95% and flask >= 85% fewer bytes; vulnerabilities left <= 10%; minify + verify <= 60 s"
check_target minify.nginx_reduced_pct "$(cat "$WORK/nginx.report.json.pct")"
check_target minify.flask_reduced_pct "$(cat "$WORK/flask.report.json.pct")"
check_target minify.verify_s "$worst_minify"
exit "$BENCH_FAILED"
