#!/usr/bin/env bash
# Mounts binfmt_misc when it is not, and enables the qemu-user-static handlers harden runs foreign platforms with
# (aarch64, arm, ppc64le, s390x, riscv64, i386 via the host). Idempotent; a handler already enabled is left alone.
# Exit 0 when the aarch64 handler is enabled with the fix-binary flag afterwards, 1 otherwise (with the reason).
set -euo pipefail
BINFMT=/proc/sys/fs/binfmt_misc
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if [ ! -e "$BINFMT/register" ]; then
    $SUDO mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null || true
fi
if [ ! -e "$BINFMT/register" ]; then
    echo "enable-binfmt: $BINFMT is not mounted and cannot be (no binfmt_misc in this kernel?)" >&2
    exit 1
fi
for h in qemu-aarch64 qemu-arm qemu-ppc64le qemu-s390x qemu-riscv64; do
    [ -f "/usr/share/binfmts/$h" ] || continue
    grep -q '^enabled' "$BINFMT/$h" 2>/dev/null || $SUDO update-binfmts --enable "$h" >/dev/null 2>&1 || \
        $SUDO update-binfmts --import "$h" >/dev/null 2>&1 || true
done
if grep -q '^enabled' "$BINFMT/qemu-aarch64" 2>/dev/null && grep -q '^flags:.*F' "$BINFMT/qemu-aarch64"; then
    exit 0
fi
echo "enable-binfmt: the qemu-aarch64 handler is not enabled with the fix-binary flag (install qemu-user-static)" >&2
exit 1
