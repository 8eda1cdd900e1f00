#!/usr/bin/env bash
# The test command: builds the real test images (cached), runs every test, then fuzzes the parsers briefly.
# Usage: scripts/test.sh            (as root: test images are built with debootstrap/umoci; extraction tests chown)
#        HARDEN_FUZZ_SECONDS=0 scripts/test.sh   to skip fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-test-images.sh
# Tests build in release mode: they reuse the release build of scripts/setup.sh (several minutes saved) and
# exercise the binary users run.
swift build -c release --build-tests
swift test -c release --skip-build 2>&1 | tee .build/test-output.txt | grep -vE '^(◇|↳|✔ Test [a-zA-Z0-9_]+\(|✔ Suite)' || true
# swift test's status is lost in the pipe; read its verdict.
if grep -qE '^✘|error: ' .build/test-output.txt || ! grep -qE '^✔ Test run with [0-9]+ tests? .*passed' .build/test-output.txt; then
    echo "test: FAILED" >&2
    exit 1
fi
if [ "${HARDEN_FUZZ_SECONDS:-60}" != "0" ]; then
    scripts/fuzz.sh "${HARDEN_FUZZ_SECONDS:-60}"
fi
