#!/usr/bin/env bash
# Builds harden-sensor, the static entrypoint `harden instrument` puts into images (Sensor/sensor.c), with musl:
# no libc or loader needed in the image. Installs it beside every harden binary built in .build (harden finds it
# there, or through HARDEN_SENSOR). Usage: scripts/build-sensor.sh [OUTPUT]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v musl-gcc >/dev/null || { echo "build-sensor: musl-gcc missing (scripts/setup.sh installs musl-tools)" >&2; exit 1; }
out=${1:-.build/harden-sensor}
mkdir -p "$(dirname "$out")"
musl-gcc -static -O2 -s -Wall -Wextra -Werror -o "$out.tmp" Sensor/sensor.c
mv "$out.tmp" "$out"
for dir in .build/debug .build/release; do
    if [ -d "$dir" ]; then cp "$out" "$dir/harden-sensor.tmp" && mv "$dir/harden-sensor.tmp" "$dir/harden-sensor"; fi
done
