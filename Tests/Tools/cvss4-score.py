#!/usr/bin/env python3
"""harden test tool: scores CVSS v4.0 vectors (one per line on stdin) with python `cvss` (Red Hat's implementation
of the FIRST specification). Prints one score per line, or "invalid"."""
import sys
from cvss import CVSS4
from cvss.exceptions import CVSS4MalformedError

out = []
for line in sys.stdin:
    try:
        out.append("%.1f" % CVSS4(line.strip()).base_score)
    except CVSS4MalformedError:
        out.append("invalid")
sys.stdout.write("\n".join(out) + "\n")
