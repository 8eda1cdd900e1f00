#!/usr/bin/env bash
# Installs dist/harden_*.deb into a fresh Debian bookworm root file system (the debootstrap-built base test image,
# unpacked) with `apt-get install ./harden_*.deb` in a chroot — its dependencies come from the mirror — and runs
# `harden --version`, `harden inspect` and `harden sbom` there. That root file system, with a non-root user and no
# apt lists, becomes harden's own image, built by harden without a daemon (dist/harden-image-VERSION.oci.tar,
# entrypoint harden); `harden check` and `harden scan` of it must pass the default policy. Then the tarball:
# extracted, run, its completions loaded.
# Usage: scripts/test-package.sh   (root; after scripts/package.sh and scripts/build-test-images.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(ls dist/harden_*_amd64.deb)
tarball=$(ls dist/harden-*-linux-amd64.tar.gz)
root=$(mktemp -d)
cleanup() {
    umount -l "$root/fs/proc" 2>/dev/null || true
    rm -rf --one-file-system "$root"
}
trap cleanup EXIT
BIN="$(swift build -c release --show-bin-path)/harden"
"$BIN" convert -q "oci:test-images/oci:base" "dir:$root/fs"
fs="$root/fs"
mount -t proc proc "$fs/proc"
# Device nodes apt and dpkg need (copied, not the host's /dev mounted; removed before the image is made).
cp -a /dev/null /dev/zero /dev/random /dev/urandom "$fs/dev/"
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

# harden as an image: the same root file system, cleaned, a non-root user, harden as entrypoint.
chroot "$fs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin sh -ec '
    useradd --system --uid 10001 --home-dir /work --create-home --shell /usr/sbin/nologin harden
    apt-get clean; rm -rf /var/lib/apt/lists/* /tmp/* /var/log/apt /var/cache/debconf/*-old /root/.cache
    find / -xdev -type f -perm /6000 -exec chmod a-s {} +   # no setuid/setgid programs in a tool image
'
umount -l "$fs/proc"
rm -f "$fs/etc/resolv.conf" "$fs/dev/null" "$fs/dev/zero" "$fs/dev/random" "$fs/dev/urandom"
version=$(basename "$deb" | cut -d_ -f2)
image="dist/harden-image-$version.oci.tar"
"$BIN" convert -q "dir:$fs" "oci:$root/layout:harden"
umoci config --image "$root/layout:harden" --config.entrypoint harden --config.cmd --help --config.user 10001:10001 \
    --config.workingdir /work --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.label "org.opencontainers.image.title=harden" --config.label "org.opencontainers.image.version=$version" >/dev/null
"$BIN" convert -q "oci:$root/layout:harden" "oci-archive:$image.tmp:harden" && mv "$image.tmp" "$image"
"$BIN" check "oci-archive:$image"
"$BIN" db import -q ../shared/feeds/osv-PyPI-all.zip --db "$root/db.sqlite" 2>/dev/null || "$BIN" db import ../shared/feeds/osv-PyPI-all.zip --db "$root/db.sqlite" >/dev/null
"$BIN" scan "oci-archive:$image" --db "$root/db.sqlite" --fail-on critical | tail -3
echo "test-package: harden's image $image passes harden check and harden scan"
mkdir "$root/tar"
tar -C "$root/tar" -xzf "$tarball"
dir=$(ls -d "$root"/tar/harden-*)
"$dir/bin/harden" --version | head -1
bash -c ". '$dir/completions/harden.bash' && complete -p harden" >/dev/null
echo "test-package: the tarball runs and its bash completion loads"
