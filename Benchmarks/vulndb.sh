#!/usr/bin/env bash
# Benchmark: vulnerability database import and scan.
#   import of ../shared/feeds/osv-PyPI-all.zip — target ≤ 2 s
#   import of a generated 500,000-advisory OSV zip — target ≤ 60 s, database ≤ 300 MB
#   import of 250,000 generated CVEs in NVD CVE API 2.0 feed files (10 yearly .json.gz), a KEV catalog and an EPSS
#   file of 250,000 scores — target ≤ 60 s, the database growing ≤ 150 MB
#   `harden scan` of each test image vs syft's SBOM-only time on the same image — target ≤ 0.5×, peak RSS ≤ 0.5×
# Usage: Benchmarks/vulndb.sh [advisories] [cves]   (default 500000 250000)
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib.sh
N="${1:-500000}"
CVES="${2:-250000}"
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

# NVD, KEV and EPSS in their real formats (generated: the feeds are not reachable from CI), into a database that
# already holds the PyPI advisories; the growth is what enrichment costs.
mkdir -p "$WORK/nvd"
python3 - "$WORK/nvd" "$CVES" 10 <<'PY'
import gzip, json, random, sys
out, n, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(7)
v31 = [("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8), ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 6.5),
       ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8)]
desc = json.dumps("A generated vulnerability description of realistic length for benchmarking the import of NVD feeds. " * 3)
def metric(source, kind, vector, score, version):
    return ('{"source": "%s", "type": "%s", "cvssData": {"version": "%s", "vectorString": "%s", "baseScore": %s, '
            '"baseSeverity": "HIGH"}, "exploitabilityScore": 3.9, "impactScore": 5.9}' % (source, kind, version, vector, score))
per = (n + files - 1) // files
ids = []
i = 0
for f in range(files):
    parts = []
    for _ in range(min(per, n - i)):
        cid = "CVE-%d-%05d" % (1999 + f, i)
        ids.append(cid)
        vec, sc = v31[i % 3]
        m31 = [metric("nvd@nist.gov", "Primary", vec, sc, "3.1")]
        if i % 2 == 0:
            v2, s2 = v31[(i + 1) % 3]
            m31.append(metric("security@vendor%d.example" % (i % 97), "Secondary", v2, s2, "3.1"))
        metrics = '"cvssMetricV31": [%s]' % ", ".join(m31)
        if i % 5 == 0:
            metrics += ', "cvssMetricV40": [%s]' % metric("security@vendor.example", "Secondary", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3, "4.0")
        if i % 3 == 0:
            metrics += ', "cvssMetricV2": [%s]' % metric("nvd@nist.gov", "Primary", "AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5, "2.0")
        parts.append(
            '{"cve": {"id": "%s", "sourceIdentifier": "cve@mitre.org", "published": "2020-01-01T00:00:00.000", '
            '"lastModified": "2024-01-01T00:00:00.000", "vulnStatus": "Analyzed", "descriptions": [{"lang": "en", "value": %s}], '
            '"metrics": {%s}, "weaknesses": [{"source": "nvd@nist.gov", "type": "Primary", "description": [{"lang": "en", "value": "CWE-%d"}]}], '
            '"configurations": [{"nodes": [{"operator": "OR", "negate": false, "cpeMatch": [{"vulnerable": true, '
            '"criteria": "cpe:2.3:a:vendor%d:product%d:*:*:*:*:*:*:*:*", "versionEndExcluding": "1.%d", "matchCriteriaId": "00000000-0000-0000-0000-%012d"}]}]}], '
            '"references": [{"url": "https://example.invalid/advisory/%d", "source": "cve@mitre.org", "tags": ["Vendor Advisory"]}]}}'
            % (cid, desc, metrics, 20 + i % 900, i % 500, i % 3000, i % 40, i, i))
        i += 1
    with gzip.open("%s/nvdcve-2.0-%d.json.gz" % (out, 1999 + f), "wt", compresslevel=1) as fh:
        fh.write('{"resultsPerPage": %d, "startIndex": 0, "totalResults": %d, "format": "NVD_CVE", "version": "2.0", '
                 '"timestamp": "2026-11-29T03:00:00.000", "vulnerabilities": [' % (len(parts), len(parts)))
        fh.write(", ".join(parts))
        fh.write("]}")
with gzip.open("%s/epss_scores.csv.gz" % out, "wt", compresslevel=1) as fh:
    fh.write("#model_version:v2025.03.14,score_date:2026-11-29T00:00:00+0000\ncve,epss,percentile\n")
    fh.write("".join("%s,%.5f,%.5f\n" % (c, random.random() * 0.2, random.random()) for c in ids))
kev = [{"cveID": c, "vendorProject": "v", "product": "p", "vulnerabilityName": "n", "dateAdded": "2022-01-01", "shortDescription": "s",
        "requiredAction": "a", "dueDate": "2022-01-22", "knownRansomwareCampaignUse": "Unknown", "notes": ""} for c in ids[::180]]
json.dump({"catalogVersion": "2026.11.28", "dateReleased": "2026-11-28T00:00:00.000Z", "count": len(kev), "vulnerabilities": kev},
          open("%s/known_exploited_vulnerabilities.json" % out, "w"))
PY
cp "$WORK/pypi.sqlite" "$WORK/enriched.sqlite"
base_size=$(stat -c %s "$WORK/enriched.sqlite")
nvd_s=$(t "$BIN" db import --db "$WORK/enriched.sqlite" "$WORK"/nvd/nvdcve-2.0-*.json.gz "$WORK/nvd/known_exploited_vulnerabilities.json" "$WORK/nvd/epss_scores.csv.gz")
growth=$(( ($(stat -c %s "$WORK/enriched.sqlite") - base_size) / 1048576 ))
printf 'import %s generated NVD CVEs + KEV + EPSS: %.1f s (target <= 60 s), database grew %d MB (target <= 150 MB)\n' "$CVES" "$nvd_s" "$growth"
check_target vulndb.nvd_import_s "$nvd_s"
check_target vulndb.nvd_growth_mb "$growth"
rm -rf "$WORK/nvd" "$WORK/enriched.sqlite"

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
