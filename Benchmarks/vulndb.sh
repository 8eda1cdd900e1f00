#!/usr/bin/env bash
# Benchmark: vulnerability database import and scan.
#   import of ../shared/feeds/osv-PyPI-all.zip — target ≤ 2 s
#   import of a generated 500,000-advisory OSV zip — target ≤ 60 s, database ≤ 300 MB
#   `harden scan` of each test image vs syft's SBOM-only time on the same image — target ≤ 0.5×, peak RSS ≤ 0.5×
# Usage: Benchmarks/vulndb.sh [advisories]   (default 500000)
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib.sh
N="${1:-500000}"
FEEDS="$(cd .. && pwd)/shared/feeds"
IMAGES="${HARDEN_TEST_IMAGES:-$PWD/test-images}"
export SYFT_CHECK_FOR_APP_UPDATE=false
swift build -c release --product harden >/dev/null
BIN="$(swift build -c release --show-bin-path)/harden"
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
export HARDEN_CACHE_DIR="$WORK/cache"

t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc -l; }

small=$(t "$BIN" db import --db "$WORK/pypi.sqlite" "$FEEDS/osv-PyPI-all.zip")
printf 'import osv-PyPI-all.zip (2,661 advisories): %.2f s (target <= 2 s)\n' "$small"
check_target vulndb.import_small_s "$small"

python3 - "$WORK/big.zip" "$N" <<'PY'
import json, sys, zipfile, random
path, n = sys.argv[1], int(sys.argv[2])
random.seed(1)
ecos = ["PyPI", "npm", "Go", "Maven", "RubyGems", "crates.io", "Debian:12", "Alpine:v3.19"]
with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as z:
    for i in range(n):
        eco = ecos[i % len(ecos)]
        rec = {"schema_version": "1.6.0", "id": f"GEN-{i}", "modified": "2024-01-01T00:00:00Z", "aliases": [f"CVE-2090-{i}"],
               "summary": "generated advisory for benchmarking",
               "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
               "affected": [{"package": {"ecosystem": eco, "name": f"pkg{random.randrange(50000)}"},
                             "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": f"{random.randrange(9)}.{random.randrange(20)}"}]}]}],
               "references": [{"type": "WEB", "url": f"https://example.invalid/{i}"}]}
        z.writestr(f"GEN-{i}.json", json.dumps(rec))
PY
big=$(t "$BIN" db import --db "$WORK/big.sqlite" "$WORK/big.zip")
size=$(stat -c %s "$WORK/big.sqlite")
printf 'import %s generated advisories: %.1f s (target <= 60 s), database %d MB (target <= 300 MB)\n' "$N" "$big" "$((size / 1048576))"
check_target vulndb.import_big_s "$big"
check_target vulndb.db_mb "$((size / 1048576))"

"$BIN" db import --db "$WORK/scan.sqlite" "$FEEDS/osv-PyPI-all.zip" "$FEEDS/alpine-secdb-v3.11-main.json" >/dev/null 2>&1
printf '%-6s %10s %10s %7s %12s %12s %7s\n' image scan_s syft_s ratio scan_KiB syft_KiB ratio
worst_t=0; worst_m=0
for tag in base nginx flask pyapp; do
    [ -f "$IMAGES/$tag.oci.tar" ] || continue
    rm -rf "$HARDEN_CACHE_DIR"
    h=$(t "$BIN" scan --db "$WORK/scan.sqlite" "oci-archive:$IMAGES/$tag.oci.tar")
    s=$(t syft -q "oci-archive:$IMAGES/$tag.oci.tar" -o json)
    rm -rf "$HARDEN_CACHE_DIR"
    hm=$(/usr/bin/time -f %M "$BIN" scan --db "$WORK/scan.sqlite" "oci-archive:$IMAGES/$tag.oci.tar" 2>&1 >/dev/null | tail -1)
    sm=$(/usr/bin/time -f %M syft -q "oci-archive:$IMAGES/$tag.oci.tar" -o json 2>&1 >/dev/null | tail -1)
    printf '%-6s %10.3f %10.3f %6.2fx %12s %12s %6.2fx\n' "$tag" "$h" "$s" "$(echo "$h / $s" | bc -l)" "$hm" "$sm" "$(echo "$hm / $sm" | bc -l)"
    worst_t=$(echo "r = $h / $s; if (r > $worst_t) r else $worst_t" | bc -l)
    worst_m=$(echo "r = $hm / $sm; if (r > $worst_m) r else $worst_m" | bc -l)
done
check_target vulndb.scan_ratio_syft "$worst_t"
check_target vulndb.scan_rss_ratio_syft "$worst_m"
exit "$BENCH_FAILED"
