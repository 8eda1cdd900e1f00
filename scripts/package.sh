#!/usr/bin/env bash
# Builds the release artifacts into dist/ (CI runs it on every submission, so they never rot):
#   harden-VERSION-linux-amd64.tar.gz  bin/harden (Swift runtime linked in), lib/harden/harden-sensor, shell
#                                      completions (bash, zsh, fish), man/man1/harden.1, LICENSE, README.md
#   harden_VERSION_amd64.deb           the same installed under /usr; Depends: exactly the shared libraries the binary
#                                      links (dpkg-shlibdeps), Recommends: runc (profile, run), umoci
# then checks them: no library of the Swift toolchain in `ldd`, the completions load in bash, lintian (remaining tags
# are listed in scripts/lintian-overrides with their reason).
# Usage: scripts/package.sh            (after scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
# The release build of set-up and tests, relinked with the Swift runtime static (SwiftPM's --static-swift-stdlib would
# recompile everything into another build directory: 6 minutes; this link takes seconds). The link command is
# SwiftPM's own, read from a verbose relink.
swift build -c release --product harden >/dev/null
OUT="$(swift build -c release --show-bin-path)/harden"
rm -f "$OUT"
LINK=$(swift build -c release --product harden -v 2>&1 | grep -E "swiftc .* -o $OUT( |$)" | head -1)
[ -n "$LINK" ] || { echo "package: FAILED: no link command for $OUT in swift build -v" >&2; exit 1; }
BUILD=.build/package
mkdir -p "$BUILD"
BIN="$PWD/$BUILD/harden"
STATIC="-static-stdlib -Xlinker --start-group -lFoundation -lCoreFoundation -lFoundationEssentials \
    -lFoundationInternationalization -l_FoundationICU -l_FoundationCShims -l_FoundationCollections -Xlinker --end-group"
eval "${LINK/ -o $OUT / $STATIC -o $BIN }" 2>&1 | grep -v "warning: the use of .mktemp." >&2 || true
[ -x "$BIN" ] || { echo "package: FAILED: the static link did not produce $BIN" >&2; exit 1; }
strip --strip-unneeded "$BIN"
scripts/stamp-version.sh "$BIN"
scripts/build-sensor.sh "$BUILD/harden-sensor"
VERSION=$("$BIN" --version | awk 'NR == 1 {print $2}')
COMMIT=$("$BIN" --version | awk '/^commit:/ {print $2}')
echo "package: harden $VERSION ($COMMIT)" >&2

# The binary: glibc and the C libraries harden links stay dynamic; nothing from the Swift toolchain.
if ldd "$BIN" | grep -E 'swift|/opt/|libFoundation|libdispatch|libicu' >&2; then
    echo "package: FAILED: $BIN links libraries of the Swift toolchain" >&2
    exit 1
fi
echo "package: $BIN links: $(ldd "$BIN" | awk '{print $1}' | tr '\n' ' ')" >&2

rm -rf dist && mkdir -p dist
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
generate_docs() {  # generate_docs DIR: completions and the man page, as ArgumentParser generates them
    mkdir -p "$1/completions" "$1/man/man1"
    "$BIN" --generate-completion-script bash > "$1/completions/harden.bash"
    "$BIN" --generate-completion-script zsh > "$1/completions/_harden"
    "$BIN" --generate-completion-script fish > "$1/completions/harden.fish"
    python3 scripts/manpage.py "$BIN" "$VERSION" > "$1/man/man1/harden.1"
}

# Tarball.
T="$STAGE/harden-$VERSION-linux-amd64"
mkdir -p "$T/bin" "$T/lib/harden"
install -m 0755 "$BIN" "$T/bin/harden"
install -m 0755 "$BUILD/harden-sensor" "$T/lib/harden/harden-sensor"
generate_docs "$T"
cp LICENSE README.md "$T/"
tar -C "$STAGE" --owner=0 --group=0 --sort=name -czf "dist/harden-$VERSION-linux-amd64.tar.gz" "harden-$VERSION-linux-amd64"
# The completions load in bash.
bash -c ". '$T/completions/harden.bash' && complete -p harden" >/dev/null || { echo "package: FAILED: the bash completion does not load" >&2; exit 1; }

# Debian package.
D="$STAGE/deb"
mkdir -p "$D/DEBIAN" "$D/usr/bin" "$D/usr/lib/harden" "$D/usr/share/man/man1" "$D/usr/share/doc/harden" \
    "$D/usr/share/bash-completion/completions" "$D/usr/share/zsh/vendor-completions" "$D/usr/share/fish/vendor_completions.d"
install -m 0755 "$BIN" "$D/usr/bin/harden"
install -m 0755 "$BUILD/harden-sensor" "$D/usr/lib/harden/harden-sensor"
generate_docs "$STAGE/docs"
sed '1{/^#!/d}' "$STAGE/docs/completions/harden.bash" > "$D/usr/share/bash-completion/completions/harden"  # sourced, not run
chmod 0644 "$D/usr/share/bash-completion/completions/harden"
install -m 0644 "$STAGE/docs/completions/_harden" "$D/usr/share/zsh/vendor-completions/_harden"
install -m 0644 "$STAGE/docs/completions/harden.fish" "$D/usr/share/fish/vendor_completions.d/harden.fish"
gzip -9n -c "$STAGE/docs/man/man1/harden.1" > "$D/usr/share/man/man1/harden.1.gz"
chmod 0644 "$D/usr/share/man/man1/harden.1.gz"
{
    echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
    echo "Upstream-Name: harden"
    echo
    echo "Files: *"
    echo "Copyright: the harden authors"
    echo "License: MIT"
    sed 's/^$/./; s/^/ /' LICENSE
} > "$D/usr/share/doc/harden/copyright"
printf 'harden (%s) unstable; urgency=medium\n\n  * Release built from commit %s.\n\n -- harden maintainers <maintainers@harden.invalid>  %s\n' \
    "$VERSION" "$COMMIT" "$(date -R -d @"$(git log -1 --format=%ct 2>/dev/null || date +%s)")" | gzip -9n > "$D/usr/share/doc/harden/changelog.gz"
chmod 0644 "$D/usr/share/doc/harden/changelog.gz"
# Depends: the packages of the shared libraries the binary links, with the versions their symbols need.
mkdir -p "$STAGE/shlibs/debian"
printf 'Source: harden\n\nPackage: harden\nArchitecture: amd64\n' > "$STAGE/shlibs/debian/control"
DEPENDS=$(cd "$STAGE/shlibs" && dpkg-shlibdeps -O "$D/usr/bin/harden" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$DEPENDS" ] || { echo "package: FAILED: dpkg-shlibdeps found no dependency" >&2; exit 1; }
cat > "$D/DEBIAN/control" <<EOF
Package: harden
Version: $VERSION
Architecture: amd64
Maintainer: harden maintainers <maintainers@harden.invalid>
Installed-Size: $(du -sk --exclude=DEBIAN "$D" | cut -f1)
Depends: $DEPENDS
Recommends: runc, umoci
Section: admin
Priority: optional
Homepage: https://harden.invalid
Description: scan and harden container images without a Docker engine
 harden reads images from OCI layouts, archives and registries, catalogues their
 packages (SBOM), matches them against vulnerability feeds, patches vulnerable
 Debian packages natively, profiles the image under runc (or where it runs, with
 an instrumented image), and rebuilds a minimal, hardened image that it verifies
 by replaying the probes.
EOF
mkdir -p "$D/usr/share/lintian/overrides"
sed 's/^/harden: /' scripts/lintian-overrides | grep -v '^harden: #' > "$D/usr/share/lintian/overrides/harden"
chmod -R u+rwX,go+rX,go-w "$D"
dpkg-deb --build --root-owner-group -Zxz "$D" "dist/harden_${VERSION}_amd64.deb" >/dev/null
echo "package: Depends: $DEPENDS" >&2
command -v lintian >/dev/null || { echo "package: FAILED: lintian missing (scripts/setup.sh installs it)" >&2; exit 1; }
lintian --fail-on error,warning "dist/harden_${VERSION}_amd64.deb" >&2 || { echo "package: FAILED: lintian" >&2; exit 1; }
ls -l dist >&2
