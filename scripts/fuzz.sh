#!/usr/bin/env bash
# Fuzzes the tar reader and image JSON parsers with libFuzzer for a bounded time.
# Usage: scripts/fuzz.sh [seconds]   (default 60). Crashes are written to Fuzz/out/ and make the script fail;
# keep each one as a regression test (Tests/*/FuzzRegressionTests.swift) once fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN="${1:-60}"
swift build --scratch-path .build-fuzz --product HardenFuzzer -Xswiftc -sanitize=fuzzer,address -Xswiftc -DHARDEN_FUZZ >/dev/null
BIN="$(swift build --scratch-path .build-fuzz --show-bin-path)/HardenFuzzer"
CORPUS=Fuzz/corpus-work
mkdir -p "$CORPUS" Fuzz/out
cp -n Fuzz/seeds/* "$CORPUS"/ 2>/dev/null || true
# Swift's crash backtracer hangs under AddressSanitizer (it never exits and holds the pipe open, stalling CI):
# libFuzzer and ASan print the stack themselves.
SWIFT_BACKTRACE=enable=no "$BIN" -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix=Fuzz/out/ -print_final_stats=1 "$CORPUS" 2>&1 | tail -n 20
echo "fuzz: no crash in ${SECONDS_TO_RUN}s"
