#!/usr/bin/env bash
# SBOM accuracy against a peer: syft and harden on every test image, recall and precision per ecosystem.
#   A package is (ecosystem, name, version): Python names PEP 503-normalised, Java by artifact, runtimes found by
#   their binaries by (file, version) — syft names those differently (`php-cli`, `oracle/openjdk`).
#   recall = found by both / found by syft; precision = found by both / found by harden, over the ecosystems both
#   catalog ("in scope"). Runtimes are also checked against the `runtimes` image's own oracle (the packages' metadata,
#   /usr/local/share/harden-test/expected), where harden finds more than syft: those extra finds are true, so binary
#   precision is measured against the oracle, not against syft.
# Targets (Benchmarks/targets): sbom_peers.recall ≥ 0.98, sbom_peers.precision ≥ 0.98, sbom_peers.runtime_recall = 1.
# Usage: Benchmarks/sbom-peers.sh   (needs scripts/build-test-images.sh and scripts/setup.sh first)
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib.sh
IMAGES="${HARDEN_TEST_IMAGES:-$PWD/test-images}"
[ -f "$IMAGES/runtimes.oci.tar" ] || { echo "bench: test images missing; run scripts/build-test-images.sh" >&2; exit 1; }
command -v syft >/dev/null || { echo "bench: syft missing; run scripts/setup.sh" >&2; exit 1; }
export SYFT_CHECK_FOR_APP_UPDATE=false
swift build -c release --product harden >/dev/null 2>&1
BIN="$(swift build -c release --show-bin-path)/harden"
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
TAGS="base nginx flask pyapp jvm node runtimes"   # postgres and pgapp add nothing the others lack
for tag in $TAGS; do
    "$BIN" sbom -q --no-cache "oci-archive:$IMAGES/$tag.oci.tar" --format json -o "$WORK/$tag.harden.json"
    syft -q "oci-archive:$IMAGES/$tag.oci.tar" -o "json=$WORK/$tag.syft.json"
done
"$BIN" convert -q "oci-archive:$IMAGES/runtimes.oci.tar" "dir:$WORK/runtimes-root" 2>/dev/null || true
python3 - "$WORK" $TAGS > "$WORK/result" <<'PY'
import json, re, sys
work, tags = sys.argv[1], sys.argv[2:]
def pep503(n): return re.sub(r"[-_.]+", "-", n).lower()
TYPES = {"deb": "deb", "python": "python", "npm": "npm", "gem": "gem", "go-module": "go-module", "java-archive": "java-archive",
         "rpm": "rpm", "apk": "apk", "binary": "binary", "rust-crate": "rust-crate", "dotnet": "dotnet", "php-composer": "composer",
         "composer": "composer", "jenkins-plugin": "java-archive"}
def key(t, name, version, paths):
    if t == "python": name = pep503(name)
    if t == "java-archive": name = name.split(":")[-1].lower()
    if t == "binary": return {(t, p, version) for p in paths}
    return {(t, name, version)}
both, ours_all, theirs_all, unversioned = {}, {}, {}, []
for tag in tags:
    h = json.load(open(f"{work}/{tag}.harden.json")); s = json.load(open(f"{work}/{tag}.syft.json"))
    ours, theirs = set(), set()
    for p in h["packages"]:
        ours |= {(tag,) + k for k in key(p["type"], p["name"], p["version"], p.get("files") or p.get("locations") or [])}
    for a in s["artifacts"]:
        t = TYPES.get(a["type"])
        if t is None: continue
        if a["version"] in ("", "UNKNOWN"):
            unversioned.append((tag, t, a["name"])); continue  # no version: nothing to match, not counted
        theirs |= {(tag,) + k for k in key(t, a["name"], a["version"], [l["path"] for l in a.get("locations", [])])}
    for k in ours: ours_all.setdefault(k[1], set()).add(k)
    for k in theirs: theirs_all.setdefault(k[1], set()).add(k)
print(f"{'ecosystem':<14} {'syft':>6} {'harden':>7} {'both':>6} {'recall':>7} {'precision':>9}")
tb = to = tt = 0
missing, extra = [], []
for eco in sorted(set(ours_all) | set(theirs_all)):
    o, t = ours_all.get(eco, set()), theirs_all.get(eco, set())
    b = o & t
    inscope = bool(o) and bool(t)
    r = len(b) / len(t) if t else float("nan"); pr = len(b) / len(o) if o else float("nan")
    print(f"{eco:<14} {len(t):>6} {len(o):>7} {len(b):>6} {r:>7.3f} {pr:>9.3f}{'' if inscope else '  (not in scope: one tool only)'}")
    if inscope:
        tb += len(b); tt += len(t)
        if eco != "binary": to += len(o)
        else: to += len(b)  # harden's extra runtimes are checked against the oracle below
        missing += sorted(t - o)[:5]; extra += sorted(o - t)[:5] if eco != "binary" else []
recall = tb / tt if tt else 0; precision = tb / to if to else 0
print(f"{'in scope':<14} {tt:>6} {to:>7} {tb:>6} {recall:>7.3f} {precision:>9.3f}")
for m in missing: print("  syft only:", *m)
for m in extra: print("  harden only:", *m)
for u in unversioned: print("  syft, without a version (not counted; harden lists only versioned packages):", *u)
# The runtimes oracle.
h = json.load(open(f"{work}/runtimes.harden.json"))
found = {(p["name"], p["version"]) for p in h["packages"] if p["type"] == "binary"}
expected = set()
try:
    for line in open(f"{work}/runtimes-root/usr/local/share/harden-test/expected"):
        n, v, _ = line.split(); expected.add((n, v))
except FileNotFoundError:
    pass
rr = len(found & expected) / len(expected) if expected else 0
rp = len(found & expected) / len(found) if found else 0
syft_bins = {k for k in theirs_all.get("binary", set()) if k[0] == "runtimes"}
print(f"runtimes oracle: {len(expected)} expected, harden {len(found)} ({len(found & expected)} right): recall {rr:.3f}, precision {rp:.3f}; syft classified {len(syft_bins)} files")
print(f"RESULT {recall:.4f} {precision:.4f} {rr:.4f} {rp:.4f}")
PY
grep -v '^RESULT' "$WORK/result"
read -r _ recall precision rrecall rprecision < <(grep '^RESULT' "$WORK/result")
check_target sbom_peers.recall "$recall"
check_target sbom_peers.precision "$precision"
check_target sbom_peers.runtime_recall "$rrecall"
check_target sbom_peers.runtime_precision "$rprecision"
exit "$BENCH_FAILED"
