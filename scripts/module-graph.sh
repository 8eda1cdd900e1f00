#!/usr/bin/env bash
# Prints each library target's direct dependencies on harden's own modules and C shims, from Package.swift
# (docs/architecture.md's table is this output). Usage: scripts/module-graph.sh
set -euo pipefail
cd "$(dirname "$0")/.."
swift package dump-package | python3 -c '
import json, sys
p = json.load(sys.stdin)
for t in p["targets"]:
    if t["type"] not in ("regular", "executable") or t["name"] in ("HardenTestSupport", "HardenFuzzer"):
        continue
    deps = []
    for d in t["dependencies"]:
        for k in ("byName", "product", "target"):
            if k in d:
                deps.append(d[k][0]); break
    own = [x for x in deps if x.startswith("Harden") or x.startswith("C")]
    print(t["name"].ljust(16), ", ".join(own) if own else "-")
'
