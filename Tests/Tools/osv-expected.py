#!/usr/bin/env python3
"""harden test tool: an independent OSV matcher for PyPI. Reads an osv all.zip and "name version" lines on
stdin; prints "name version ADVISORY-ID" for every advisory affecting the package, using python `packaging`
for ordering and the OSV evaluation rules (versions list; ranges of introduced/fixed/last_affected/limit)."""
import json, re, sys, zipfile
from packaging.version import InvalidVersion, Version

def norm(n):
    return re.sub(r"[-_.]+", "-", n).lower()

def parse(v):
    try:
        return Version(v)
    except InvalidVersion:
        return None

def affected(version, aff):
    if version in aff.get("versions", []):
        return True
    v = parse(version)
    if v is None:
        return False
    for r in aff.get("ranges", []):
        if r.get("type") not in ("ECOSYSTEM", "SEMVER"):
            continue
        events = r.get("events", [])
        limits = [parse(e["limit"]) for e in events if "limit" in e and e["limit"] != "*"]
        if any(l is not None and v >= l for l in limits):
            continue
        def key(e):
            val = next(iter(e.values()))
            if val == "0":
                return (0, Version("0"), 0)
            pv = parse(val)
            return (1, pv or Version("0"), 0 if "introduced" in e else -1)
        state = False
        for e in sorted([e for e in events if "limit" not in e], key=key):
            if "introduced" in e:
                if e["introduced"] == "0" or (parse(e["introduced"]) and v >= parse(e["introduced"])):
                    state = True
            elif "fixed" in e:
                f = parse(e["fixed"])
                if f is not None and v >= f:
                    state = False
            elif "last_affected" in e:
                la = parse(e["last_affected"])
                if la is not None and v > la:
                    state = False
        if state:
            return True
    return False

packages = [line.split() for line in sys.stdin if line.strip()]
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in sorted(z.namelist()):
        if not name.endswith(".json"):
            continue
        adv = json.loads(z.read(name))
        if adv.get("withdrawn"):
            continue
        for aff in adv.get("affected", []):
            pkg = aff.get("package", {})
            if pkg.get("ecosystem") != "PyPI":
                continue
            for pname, pversion in packages:
                if norm(pkg.get("name", "")) == norm(pname) and affected(pversion, aff):
                    print(pname, pversion, adv["id"])
