#!/usr/bin/env python3
"""harden test tool: compares "A B" version pairs (one per line on stdin) with python `packaging`.
Prints -1, 0, 1 per line, or "invalid" when packaging rejects either version."""
import sys
from packaging.version import InvalidVersion, Version

out = []
for line in sys.stdin:
    a, _, b = line.rstrip("\n").partition(" ")
    try:
        x, y = Version(a), Version(b)
        out.append("-1" if x < y else ("1" if x > y else "0"))
    except InvalidVersion:
        out.append("invalid")
sys.stdout.write("\n".join(out) + "\n")
