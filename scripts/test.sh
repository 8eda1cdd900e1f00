#!/usr/bin/env bash
# The test command: builds the real test images (cached), runs every test, then fuzzes the parsers briefly.
# Usage: scripts/test.sh            (as root: test images are built with debootstrap/umoci; extraction tests chown)
#        HARDEN_FUZZ_SECONDS=0 scripts/test.sh   to skip fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."
# Style first (seconds): swift format lint --strict with .swift-format (120 columns, no semicolons, no force-try).
swift format lint --strict --recursive Sources Tests Package.swift
scripts/build-test-images.sh
# Tests build in release mode: they reuse the release build of scripts/setup.sh (several minutes saved) and
# exercise the binary users run.
swift build -c release --build-tests
scripts/build-sensor.sh
# The full log is kept in .build/test-output.txt; the terminal gets failures and the summary. swift test's exit
# status is the verdict; a run that executed no test at all fails too.
set +e
HARDEN_REQUIRE_ALL=1 swift test -c release --skip-build 2>&1 | tee .build/test-output.txt | grep -vE '^(◇|↳|✔ Test [a-zA-Z0-9_]+\(|✔ Suite)'
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
    echo "test: FAILED (swift test exited $status)" >&2
    exit 1
fi
if ! grep -qE '^✔ Test run with [0-9]+ tests?' .build/test-output.txt; then
    echo "test: FAILED (no test ran)" >&2
    exit 1
fi
# HARDEN_REQUIRE_ALL=1 runs every test whatever it needs; a skipped test here means a trait bypassed that rule.
if grep -qE '^[^ ]+ (Test|Suite) .* skipped' .build/test-output.txt; then
    echo "test: FAILED (tests were skipped: $(grep -cE '^[^ ]+ (Test|Suite) .* skipped' .build/test-output.txt))" >&2
    exit 1
fi
if [ "${HARDEN_FUZZ_SECONDS:-60}" != "0" ]; then
    scripts/fuzz.sh "${HARDEN_FUZZ_SECONDS:-60}"
fi
