#!/usr/bin/env bash
# Benchmark: `harden patch --all` of an RPM image against a hermetic signed repository (rpmbuild + rpmsign +
# createrepo_c: PACKAGES installed by rpm, UPGRADED of them with a new version, FILES files of KIB KiB each) vs the
# package manager's own path on the same image and repository: umoci unpack, `dnf --installroot ROOTFS upgrade`
# (signatures checked against the key imported in the image's rpm database), umoci repack — both from a cold cache.
# Prints the time ratio (target in Benchmarks/targets) and the layer size ratio (dnf's layer also carries its own
# caches and history). Usage: Benchmarks/rpm-patch.sh [PACKAGES UPGRADED FILES KIB]   (root; rpm, dnf, umoci, skopeo)
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib.sh
NPKG=${1:-60} NUP=${2:-30} NFILES=${3:-4} KIB=${4:-64}
[ "$(id -u)" = 0 ] || { echo "bench: needs root (umoci unpack keeps owners)" >&2; exit 1; }
swift build -c release --product harden >/dev/null
BIN="$(swift build -c release --show-bin-path)/harden"
WORK=$(mktemp -d); trap 'kill "$HTTP" 2>/dev/null || true; rm -rf "$WORK"' EXIT

# spec NAME FIRST COUNT: one source package building COUNT subpackages pkgFIRST.. with FILES random files each.
spec() {
    local name=$1 first=$2 count=$3
    printf 'Name: %s\nVersion: %%{ver}\nRelease: 1\nSummary: b\nLicense: MIT\n' "$name"
    printf '%%global debug_package %%{nil}\n%%global __os_install_post %%{nil}\n%%description\nb\n'
    for i in $(seq "$first" $((first + count - 1))); do
        printf '%%package -n pkg%04d\nSummary: b\n%%description -n pkg%04d\nb\n' "$i" "$i"
    done
    printf '%%install\n'
    for i in $(seq "$first" $((first + count - 1))); do
        printf 'mkdir -p %%{buildroot}/usr/share/pkg%04d\n' "$i"
        for f in $(seq "$NFILES"); do
            printf 'head -c %d /dev/urandom > %%{buildroot}/usr/share/pkg%04d/f%d\n' $((KIB * 1024)) "$i" "$f"
        done
    done
    for i in $(seq "$first" $((first + count - 1))); do printf '%%files -n pkg%04d\n/usr/share/pkg%04d\n' "$i" "$i"; done
}
build() {
    rpmbuild -bb --target x86_64 --define "_topdir $WORK/top" --define "_build_id_links none" --define "ver $2" \
        "$1" >/dev/null 2>&1
}
spec up 0 "$NUP" > "$WORK/up.spec"
spec still "$NUP" $((NPKG - NUP)) > "$WORK/still.spec"
build "$WORK/up.spec" 1.0; build "$WORK/still.spec" 1.0
mkdir -p "$WORK/old" && mv "$WORK"/top/RPMS/x86_64/*.rpm "$WORK/old/"
build "$WORK/up.spec" 1.1
mkdir -p -m 700 "$WORK/gpg"
gpg --homedir "$WORK/gpg" --batch --passphrase '' --quick-gen-key "harden bench <b@harden>" rsa2048 sign never 2>/dev/null
gpg --homedir "$WORK/gpg" --armor --export > "$WORK/key.asc"
rpmsign --addsign --define "_gpg_path $WORK/gpg" --define "_gpg_name harden bench" --define "__gpg /usr/bin/gpg" \
    "$WORK"/old/*.rpm "$WORK"/top/RPMS/x86_64/*.rpm >/dev/null 2>&1
REPO="$WORK/www/repo"
mkdir -p "$REPO/Packages"
cp "$WORK"/top/RPMS/x86_64/*.rpm "$REPO/Packages/"
cp "$WORK"/old/pkg*.rpm "$REPO/Packages/"
for i in $(seq 0 $((NUP - 1))); do rm -f "$REPO/Packages/$(printf 'pkg%04d-1.0-1' "$i")".x86_64.rpm; done
createrepo_c -q "$REPO"

python3 -u -m http.server --bind 127.0.0.1 --directory "$WORK/www" 0 > "$WORK/http.log" 2>&1 & HTTP=$!
for _ in $(seq 50); do grep -q "port" "$WORK/http.log" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$WORK/http.log" | head -1)

# The image: every old package installed by rpm, the key imported, the repository configured.
ROOT="$WORK/root"
rpm --root "$ROOT" --dbpath /var/lib/rpm --initdb
rpm --root "$ROOT" --dbpath /var/lib/rpm --import "$WORK/key.asc"
rpm --root "$ROOT" --dbpath /var/lib/rpm -i --nodeps --noscripts "$WORK"/old/*.rpm 2>/dev/null
mkdir -p "$ROOT/etc/yum.repos.d" "$ROOT/root"
printf 'ID="rocky"\nVERSION_ID="9.3"\n' > "$ROOT/etc/os-release"
printf '[bench]\nname=bench\nbaseurl=http://127.0.0.1:%s/repo\ngpgcheck=1\n' "$PORT" > "$ROOT/etc/yum.repos.d/bench.repo"
umoci init --layout "$WORK/fx" && umoci new --image "$WORK/fx:t"
umoci unpack --image "$WORK/fx:t" "$WORK/b0" >/dev/null
cp -a "$ROOT/." "$WORK/b0/rootfs/"
umoci repack --image "$WORK/fx:t" "$WORK/b0" >/dev/null

# harden, cold: repository metadata and packages downloaded and verified, one layer written.
export HARDEN_CACHE_DIR="$WORK/cache"
s=$(date +%s.%N)
"$BIN" patch -q --all "oci:$WORK/fx:t" -o "oci:$WORK/ours:t" --report "$WORK/report.json" >/dev/null
e=$(date +%s.%N)
ours=$(echo "$e - $s" | bc -l)
read -r pkgs ours_layer < <(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(len(r['packages']), r['layer']['size'])" "$WORK/report.json")
[ "$pkgs" = "$NUP" ] || { echo "bench: harden upgraded $pkgs packages, expected $NUP" >&2; exit 1; }
# The same outcome as dnf's: rpm reads harden's database and verifies every file of the new versions.
"$BIN" convert "oci:$WORK/ours:t" "dir:$WORK/ours-root" >/dev/null
rpm --root "$WORK/ours-root" --dbpath /var/lib/rpm -Va >/dev/null || { echo "bench: rpm -Va fails on harden's result" >&2; exit 1; }


# dnf's path, cold: unpack, dnf upgrade in the root (Debian's librpm looks for the database at /root/.rpmdb), repack.
skopeo copy -q "oci:$WORK/fx:t" "oci:$WORK/dnf:t"
s=$(date +%s.%N)
umoci unpack --image "$WORK/dnf:t" "$WORK/bundle" >/dev/null
R="$WORK/bundle/rootfs"
ln -s ../var/lib/rpm "$R/root/.rpmdb"
dnf -q -y --installroot "$R" --releasever 9 --setopt=reposdir="$R/etc/yum.repos.d" \
    --setopt=cachedir="$WORK/dnf-cache" upgrade >/dev/null 2>&1
rm "$R/root/.rpmdb"
umoci repack --image "$WORK/dnf:t-patched" "$WORK/bundle" >/dev/null
e=$(date +%s.%N)
dnf_s=$(echo "$e - $s" | bc -l)
upgraded=$(rpm --root "$R" --dbpath /var/lib/rpm -qa | grep -c -- '-1.1-1' || true)
[ "$upgraded" = "$NUP" ] || { echo "bench: dnf upgraded $upgraded packages, expected $NUP" >&2; exit 1; }
dnf_layer=$(last_layer "$WORK/dnf" t-patched)

printf '%-10s %9s %10s %10s %13s %13s\n' image packages harden_s dnf_s harden_layer dnf_layer
printf '%-10s %9d %10.2f %10.2f %12.1fK %12.1fK\n' "rocky-like" "$pkgs" "$ours" "$dnf_s" \
    "$(echo "$ours_layer / 1024" | bc -l)" "$(echo "$dnf_layer / 1024" | bc -l)"
time_ratio=$(echo "$ours / $dnf_s" | bc -l)
size_ratio=$(echo "$ours_layer / $dnf_layer" | bc -l)
printf 'ratios: time %.3f, layer size %.3f\n' "$time_ratio" "$size_ratio"
check_target rpm_patch.time_ratio_dnf "$time_ratio"
check_target rpm_patch.layer_ratio_dnf "$size_ratio"
exit "$BENCH_FAILED"
