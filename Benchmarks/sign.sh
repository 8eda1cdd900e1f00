#!/usr/bin/env bash
# Benchmark: what signing costs. `harden run` on flask pushed to a loopback Distribution registry, with and without
# --sign-key (a cosign.key: scrypt-protected, as users keep it) — the signature and all five attestations (CycloneDX,
# OpenVEX, vuln, SLSA provenance, hardening report), written both as cosign 2 tags and cosign 3 referrer bundles.
# Best of N each, in the same run; target: signing adds at most 5% (ratio <= 1.05).
# Usage: Benchmarks/sign.sh [runs]   (root; needs scripts/setup.sh and scripts/build-test-images.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib.sh
RUNS="${1:-3}"
runtime_bench_setup
COSIGN="${HARDEN_PEERS:-/opt/harden-peers}/cosign2/usr/bin/cosign"
[ -x "$COSIGN" ] || { echo "bench: cosign missing; run scripts/install-peers.sh" >&2; exit 1; }
WORK=$(mktemp -d)
export HARDEN_CACHE_DIR="$WORK/cache" HARDEN_RUN_DIR="$WORK/run" HARDEN_DB="$WORK/vulns.sqlite"
trap 'kill $REG 2>/dev/null; rm -rf "$WORK"' EXIT
start_registry "$WORK"
"$BIN" db import -q ../shared/feeds/osv-PyPI-all.zip >/dev/null
(cd "$WORK" && COSIGN_PASSWORD=bench "$COSIGN" generate-key-pair >/dev/null 2>&1)
export COSIGN_PASSWORD=bench

run() {
    rm -rf "$WORK/report"
    "$BIN" run -q "oci:$IMAGES/oci:flask" --http-probe 5000:GET:/ --tls-verify=false --report-dir "$WORK/report" \
        -o "docker://127.0.0.1:$PORT/bench/flask:$1" "${@:2}" >/dev/null
}
run warm                                                   # caches warm for both
plain=$(best_of "$RUNS" run plain)
signed=$(best_of "$RUNS" run signed --sign-key "$WORK/cosign.key")
n=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['signature']['attestations']))" "$WORK/report/report.json")
"$BIN" verify -q "docker://127.0.0.1:$PORT/bench/flask:signed" --key "$WORK/cosign.pub" --tls-verify=false \
    --type cyclonedx --type vuln --type slsaprovenance1 --type harden >/dev/null
ratio=$(echo "$signed / $plain" | bc -l)
printf 'harden run flask -> registry, best of %s: %.2f s unsigned, %.2f s signed (%s attestations, tags + referrers), ratio %.3fx (target <= 1.05x)\n' \
    "$RUNS" "$plain" "$signed" "$n" "$ratio"
check_target sign.run_ratio "$ratio"
exit "$BENCH_FAILED"
