#!/usr/bin/env bash
# Benchmark: `harden patch --all` of an Alpine-like image against a hermetic apk repository (Benchmarks/
# make-apk-repo.py: 150 installed packages, 75 with a new version; signed index and packages) vs the naive path on
# the same image and repository — umoci unpack, download each new .apk and extract it over the rootfs with tar (no
# signature or database work at all: less than apk itself does), umoci repack — both from a cold cache.
# Prints the time ratio (target <= 0.5) and the layer size ratio (ours also carries apk's rewritten database).
# With APK=/path/to/apk (apk-tools 3, built from source), also times `apk --root ROOTFS upgrade` + repack (printed
# only: CI has no apk-tools). Usage: Benchmarks/apk-patch.sh [PACKAGES UPGRADED FILES KIB]   (root; umoci, skopeo)
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib.sh
NPKG=${1:-150} NUP=${2:-75} NFILES=${3:-4} KIB=${4:-64}
[ "$(id -u)" = 0 ] || { echo "bench: needs root (umoci unpack keeps owners)" >&2; exit 1; }
swift build -c release --product harden >/dev/null
BIN="$(swift build -c release --show-bin-path)/harden"
WORK=$(mktemp -d); trap 'kill "$HTTP" 2>/dev/null || true; rm -rf "$WORK"' EXIT
python3 Benchmarks/make-apk-repo.py "$WORK/fx" "$NPKG" "$NUP" "$NFILES" "$KIB"
python3 -u -m http.server --bind 127.0.0.1 --directory "$WORK/fx/www" 0 > "$WORK/http.log" 2>&1 & HTTP=$!
for _ in $(seq 50); do grep -q "port" "$WORK/http.log" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$WORK/http.log" | head -1)
URL="http://127.0.0.1:$PORT/main"

# harden, cold: index and packages downloaded and verified, one layer written.
export HARDEN_CACHE_DIR="$WORK/cache"
s=$(date +%s.%N)
"$BIN" patch -q --all "oci:$WORK/fx/image:t" -o "oci:$WORK/ours:t" --repo "http://127.0.0.1:$PORT" \
    --report "$WORK/report.json" >/dev/null
e=$(date +%s.%N)
ours=$(echo "$e - $s" | bc -l)
read -r pkgs ours_layer < <(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(len(r['packages']), r['layer']['size'])" "$WORK/report.json")
[ "$pkgs" = "$NUP" ] || { echo "bench: harden upgraded $pkgs packages, expected $NUP" >&2; exit 1; }


# The naive path, cold: unpack, fetch and extract the new packages, repack.
skopeo copy -q "oci:$WORK/fx/image:t" "oci:$WORK/naive:t"
s=$(date +%s.%N)
umoci unpack --image "$WORK/naive:t" "$WORK/bundle" >/dev/null
mkdir -p "$WORK/dl"
for n in $(seq 0 $((NUP - 1))); do
    f=$(printf 'pkg%04d-1.0-r1.apk' "$n")
    curl -sf -o "$WORK/dl/$f" "$URL/x86_64/$f"
    tar -xzf "$WORK/dl/$f" -C "$WORK/bundle/rootfs" --exclude='.SIGN.*' --exclude=.PKGINFO 2>/dev/null
done
umoci repack --image "$WORK/naive:t-patched" "$WORK/bundle" >/dev/null
e=$(date +%s.%N)
naive=$(echo "$e - $s" | bc -l)
naive_layer=$(last_layer "$WORK/naive" t-patched)

printf '%-10s %9s %10s %10s %13s %13s\n' image packages harden_s naive_s harden_layer naive_layer
printf '%-10s %9d %10.2f %10.2f %12.1fK %12.1fK\n' "alpine-like" "$pkgs" "$ours" "$naive" \
    "$(echo "$ours_layer / 1024" | bc -l)" "$(echo "$naive_layer / 1024" | bc -l)"
if [ -n "${APK:-}" ] && [ -x "$APK" ]; then
    rm -rf "$WORK/bundle" && skopeo copy -q "oci:$WORK/fx/image:t" "oci:$WORK/apk:t"
    printf '%s\n' "$URL" > "$WORK/repos"
    s=$(date +%s.%N)
    umoci unpack --image "$WORK/apk:t" "$WORK/bundle" >/dev/null
    "$APK" --root "$WORK/bundle/rootfs" --repositories-file "$WORK/repos" --no-cache --no-scripts upgrade >/dev/null
    umoci repack --image "$WORK/apk:t-patched" "$WORK/bundle" >/dev/null
    e=$(date +%s.%N)
    printf 'apk-tools (%s) + umoci: %.2f s, layer %.1fK (not a target: CI has no apk-tools)\n' \
        "$("$APK" --version | cut -d, -f1)" "$(echo "$e - $s" | bc -l)" "$(echo "$(last_layer "$WORK/apk" t-patched) / 1024" | bc -l)"
fi
time_ratio=$(echo "$ours / $naive" | bc -l)
size_ratio=$(echo "$ours_layer / $naive_layer" | bc -l)
printf 'ratios: time %.3f, layer size %.3f\n' "$time_ratio" "$size_ratio"
check_target apk_patch.time_ratio_naive "$time_ratio"
check_target apk_patch.layer_ratio_naive "$size_ratio"
exit "$BENCH_FAILED"
