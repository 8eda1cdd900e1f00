#!/usr/bin/env bash
# Installs dist/harden_*.deb into a fresh Debian bookworm root file system (the debootstrap-built base test image,
# unpacked) with `apt-get install ./harden_*.deb` in a chroot — its dependencies come from the mirror — and runs
# `harden --version`, `harden inspect` and `harden sbom` there. Then the tarball: extracted, its completions loaded.
# Usage: scripts/test-package.sh   (root; after scripts/package.sh and scripts/build-test-images.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(ls dist/harden_*_amd64.deb)
tarball=$(ls dist/harden-*-linux-amd64.tar.gz)
root=$(mktemp -d)
cleanup() {
    for m in proc dev; do umount -l "$root/$m" 2>/dev/null || true; done
    rm -rf "$root"
}
trap cleanup EXIT
BIN="$(swift build -c release --show-bin-path)/harden"
"$BIN" convert -q "oci:test-images/oci:base" "dir:$root/fs"
fs="$root/fs"
mount -t proc proc "$fs/proc"
mount --rbind /dev "$fs/dev"
cp /etc/resolv.conf "$fs/etc/resolv.conf"
cp "$deb" "$fs/tmp/"
cp test-images/base.oci.tar "$fs/tmp/image.tar"
chroot "$fs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends /tmp/'"$(basename "$deb")"' >/dev/null'
chroot "$fs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root sh -ec '
    harden --version
    harden inspect oci-archive:/tmp/image.tar | head -5
    harden sbom oci-archive:/tmp/image.tar --format table | tail -3
    test -x /usr/lib/harden/harden-sensor
    man -w harden >/dev/null 2>&1 || test -f /usr/share/man/man1/harden.1.gz
'
echo "test-package: the .deb installs on Debian bookworm and harden works there"
mkdir "$root/tar"
tar -C "$root/tar" -xzf "$tarball"
dir=$(ls -d "$root"/tar/harden-*)
"$dir/bin/harden" --version | head -1
bash -c ". '$dir/completions/harden.bash' && complete -p harden" >/dev/null
echo "test-package: the tarball runs and its bash completion loads"
