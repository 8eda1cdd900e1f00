#!/usr/bin/env bash
# Writes the git commit of the work tree into a built harden binary (what `harden --version` prints as commit).
# Usage: scripts/stamp-version.sh BINARY [COMMIT]   (default COMMIT: git rev-parse HEAD, "-dirty" when changed)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1
commit=${2:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
if [ $# -lt 2 ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$commit-dirty"; fi
python3 - "$bin" "$commit" <<'PY'
import os, sys
path, commit = sys.argv[1], sys.argv[2].encode()
data = bytearray(open(path, "rb").read())
marker = b"@@HARDEN-BUILD-COMMIT@@"
at = data.find(marker)
if at < 0 or data.find(marker, at + 1) >= 0:
    sys.exit(f"stamp-version: {path}: the version marker is missing or not unique")
room = 72 - len(marker) - 1
if len(commit) > room:
    sys.exit(f"stamp-version: commit text longer than {room} bytes")
start = at + len(marker)
data[start:start + room + 1] = commit + b"\0" * (room + 1 - len(commit))
tmp = path + ".stamp.tmp"
with open(tmp, "wb") as f:
    f.write(data)
os.chmod(tmp, os.stat(path).st_mode & 0o7777)
os.replace(tmp, path)
PY
