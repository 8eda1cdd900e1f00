#!/usr/bin/env bash
# Installs the signature peers harden's tests use as oracles: cosign 2 (Debian trixie), cosign 3 (sid) and oras
# (trixie), unpacked with `dpkg -x` into a scratch prefix (they depend on libc6 only and run on bookworm).
# Everything is verified: InRelease by gpgv with Debian's archive keyring, Packages.xz by the SHA-256 InRelease
# lists, each .deb by the SHA-256 Packages lists.
# Usage: scripts/install-peers.sh [PREFIX]   (default /opt/harden-peers; tests read HARDEN_PEERS or that default)
# Result: PREFIX/cosign2/usr/bin/cosign, PREFIX/cosign3/usr/bin/cosign, PREFIX/oras/usr/bin/oras
set -euo pipefail
PREFIX="${1:-${HARDEN_PEERS:-/opt/harden-peers}}"
MIRROR="$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# fetch SUITE: the suite's verified, decompressed amd64 main Packages file in $WORK/SUITE.Packages
fetch_index() {
    local suite=$1
    curl -fsSL --retry 3 "$MIRROR/dists/$suite/InRelease" -o "$WORK/$suite.InRelease"
    gpgv --keyring "$KEYRING" --output "$WORK/$suite.Release" "$WORK/$suite.InRelease" 2>/dev/null \
        || { echo "install-peers: $suite InRelease: bad signature" >&2; exit 1; }
    local want
    want="$(awk '/^SHA256:/{s=1;next} /^[^ ]/{s=0} s && $3=="main/binary-amd64/Packages.xz"{print $1}' "$WORK/$suite.Release")"
    curl -fsSL --retry 3 "$MIRROR/dists/$suite/main/binary-amd64/Packages.xz" -o "$WORK/$suite.Packages.xz"
    echo "$want  $WORK/$suite.Packages.xz" | sha256sum -c --quiet - \
        || { echo "install-peers: $suite Packages.xz does not match InRelease" >&2; exit 1; }
    xz -dc "$WORK/$suite.Packages.xz" > "$WORK/$suite.Packages"
}

# install SUITE PACKAGE DEST: the package's verified .deb unpacked into PREFIX/DEST (skipped when already there)
install_deb() {
    local suite=$1 package=$2 dest=$3
    local stanza filename sha version
    stanza="$(awk -v p="$package" '$0=="Package: "p{s=1} s{print} s&&/^$/{exit}' "$WORK/$suite.Packages")"
    filename="$(sed -n 's/^Filename: //p' <<<"$stanza")"
    sha="$(sed -n 's/^SHA256: //p' <<<"$stanza")"
    version="$(sed -n 's/^Version: //p' <<<"$stanza")"
    [ -n "$filename" ] || { echo "install-peers: $package not in $suite" >&2; exit 1; }
    if [ -f "$PREFIX/$dest/.version" ] && [ "$(cat "$PREFIX/$dest/.version")" = "$version" ]; then return; fi
    curl -fsSL --retry 3 "$MIRROR/$filename" -o "$WORK/$package.deb"
    echo "$sha  $WORK/$package.deb" | sha256sum -c --quiet - \
        || { echo "install-peers: $filename does not match its Packages entry" >&2; exit 1; }
    rm -rf "${PREFIX:?}/$dest.new"
    mkdir -p "$PREFIX/$dest.new"
    dpkg -x "$WORK/$package.deb" "$PREFIX/$dest.new"
    echo "$version" > "$PREFIX/$dest.new/.version"
    rm -rf "${PREFIX:?}/$dest"
    mv "$PREFIX/$dest.new" "$PREFIX/$dest"
    echo "install-peers: $package $version ($suite) in $PREFIX/$dest" >&2
}

mkdir -p "$PREFIX"
have() { [ -x "$PREFIX/$1" ] && [ -f "$PREFIX/${1%%/*}/.version" ]; }
if have cosign2/usr/bin/cosign && have cosign3/usr/bin/cosign && have oras/usr/bin/oras \
    && [ "${HARDEN_PEERS_REFRESH:-0}" != 1 ]; then
    exit 0
fi
fetch_index trixie
fetch_index sid
install_deb trixie cosign cosign2
install_deb trixie oras oras
install_deb sid cosign cosign3
"$PREFIX/cosign2/usr/bin/cosign" version >/dev/null
"$PREFIX/cosign3/usr/bin/cosign" version >/dev/null
"$PREFIX/oras/usr/bin/oras" version >/dev/null
