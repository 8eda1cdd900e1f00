#!/usr/bin/env python3
"""A hermetic npm registry, an app with a node_modules tree and an OSV feed for the npm library-patch tests.

Usage: make-npm-fixture.py DIR REGISTRY_URL [hostile]
       make-npm-fixture.py --image LAYOUT TAG APP_DIR DEST [CMD_JSON]   (DEST: LAYOUT's TAG + APP_DIR as /app)
  DIR/registry/NAME/index.html      packuments (served at REGISTRY_URL/NAME), DIR/registry/NAME/-/NAME-V.tgz tarballs
  DIR/app/                          server.js, check.js, package.json, package-lock.json (v3), node_modules/
  DIR/osv-npm-all.zip               the advisories
hostile: `integrity` serves a tarball that differs from its integrity; `traversal` a tarball with ../ in it.

Packages (every version's index.js escapes < and > the same way):
  hx-escape 0.9.0 0.9.3 1.0.0 1.0.1 1.0.2 2.0.0   HXSA-1: <0.9.3 and >=1.0.0 <1.0.2
  hx-router 2.1.0 -> hx-escape ~1.0.0             hx-legacy 1.0.0 -> hx-escape 0.9.x (nested copy 0.9.0)
  hx-pinned 1.0.0 2.0.0                           HXSA-2: <2.0.0 (the app asks ^1.0.0: refused)
  hx-needy 1.0.0 1.1.0 (1.1.0 -> hx-missing ^1)   HXSA-3: <1.1.0 (its fix needs an absent package: refused)
"""
import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import zipfile


ESCAPE = "module.exports = s => String(s).replace(/</g, '&lt;').replace(/>/g, '&gt;');\n"

PACKAGES = {
    "hx-escape": {v: {} for v in ["0.9.0", "0.9.3", "1.0.0", "1.0.1", "1.0.2", "2.0.0"]},
    "hx-router": {"2.1.0": {"hx-escape": "~1.0.0"}},
    "hx-legacy": {"1.0.0": {"hx-escape": "0.9.x"}},
    "hx-pinned": {"1.0.0": {}, "2.0.0": {}},
    "hx-needy": {"1.0.0": {}, "1.1.0": {"hx-missing": "^1.0.0"}},
}


def tarball(name, version, deps, traversal=False):
    files = {
        "package.json": json.dumps({"name": name, "version": version, "main": "index.js", "dependencies": deps}, indent=2),
        "index.js": ESCAPE,
        "README.md": f"{name} {version}\n",
    }
    if version in ("1.0.0", "0.9.0"):
        files["old.js"] = "// only in the old releases\n"
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", format=tarfile.USTAR_FORMAT) as t:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo("package/" + path)
            info.size, info.mode, info.mtime = len(data), 0o644, 499162500
            t.addfile(info, io.BytesIO(data))
        if traversal:
            data = b"* * * * * root id\n"
            info = tarfile.TarInfo("package/../../../../etc/cron.d/evil")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return out.getvalue(), files


def integrity(data):
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(f"{layout}/blobs/sha256/{digest}", "wb") as f:
        f.write(data)
    return "sha256:" + digest


def image(layout, tag, app, dest, cmd='["node", "/app/server.js"]'):
    """Copies the layout's TAG to DEST with one more layer: APP as /app (owned by root), CMD (JSON) its command."""
    if dest != layout:
        shutil.copytree(layout, dest)
    index = json.load(open(f"{dest}/index.json"))
    desc = [m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag][0]
    manifest = json.load(open(f"{dest}/blobs/sha256/{desc['digest'][7:]}"))
    config = json.load(open(f"{dest}/blobs/sha256/{manifest['config']['digest'][7:]}"))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        def owned(info):
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            return info
        t.add(app, arcname="app", filter=owned)
    layer = gzip.compress(raw.getvalue(), mtime=0)
    config["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(raw.getvalue()).hexdigest())
    config.setdefault("history", []).append({"created_by": "make-npm-fixture.py: /app"})
    config.setdefault("config", {})["Cmd"] = json.loads(cmd)
    cbytes = json.dumps(config).encode()
    manifest["config"] = {"mediaType": manifest["config"]["mediaType"], "digest": blob(dest, cbytes), "size": len(cbytes)}
    manifest["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": blob(dest, layer),
                               "size": len(layer)})
    mbytes = json.dumps(manifest).encode()
    index["manifests"] = [{"mediaType": desc["mediaType"], "digest": blob(dest, mbytes), "size": len(mbytes),
                           "annotations": {"org.opencontainers.image.ref.name": tag}}]
    with open(f"{dest}/index.json", "w") as f:
        json.dump(index, f)


def main():
    installed = {}  # name@version -> files
    lock_entries = {}
    for name, versions in PACKAGES.items():
        doc = {"name": name, "dist-tags": {"latest": list(versions)[-1]}, "versions": {}}
        os.makedirs(f"{DIR}/registry/{name}/-", exist_ok=True)
        for version, deps in versions.items():
            evil = HOSTILE == "traversal" and name == "hx-escape" and version == "1.0.2"
            data, files = tarball(name, version, deps, traversal=evil)
            sri = integrity(data)
            if HOSTILE == "integrity" and name == "hx-escape" and version == "1.0.2":
                data, _ = tarball(name, version, deps | {"evil": "*"})
            path = f"{name}/-/{name}-{version}.tgz"
            with open(f"{DIR}/registry/{path}", "wb") as f:
                f.write(data)
            doc["versions"][version] = {
                "name": name, "version": version, "dependencies": deps,
                "dist": {"tarball": f"{URL}/{path}", "integrity": sri, "shasum": hashlib.sha1(data).hexdigest()},
            }
            installed[f"{name}@{version}"] = (files, f"{URL}/{path}", sri)
        with open(f"{DIR}/registry/{name}/index.html", "w") as f:
            json.dump(doc, f)

    # The app: its tree as npm would lay it out.
    tree = {
        "node_modules/hx-escape": "hx-escape@1.0.0",
        "node_modules/hx-router": "hx-router@2.1.0",
        "node_modules/hx-legacy": "hx-legacy@1.0.0",
        "node_modules/hx-legacy/node_modules/hx-escape": "hx-escape@0.9.0",
        "node_modules/hx-pinned": "hx-pinned@1.0.0",
        "node_modules/hx-needy": "hx-needy@1.0.0",
    }
    app_deps = {"hx-escape": "^1.0.0", "hx-router": "^2.0.0", "hx-legacy": "^1.0.0", "hx-pinned": "^1.0.0",
                "hx-needy": "^1.0.0"}
    app = f"{DIR}/app"
    for rel, spec in tree.items():
        files, resolved, sri = installed[spec]
        os.makedirs(f"{app}/{rel}", exist_ok=True)
        for path, text in files.items():
            with open(f"{app}/{rel}/{path}", "w") as f:
                f.write(text)
        name, version = spec.rsplit("@", 1)
        entry = {"version": version, "resolved": resolved, "integrity": sri}
        deps = PACKAGES[name][version]
        if deps:
            entry["dependencies"] = deps
        lock_entries[rel] = entry
    manifest = {"name": "hx-app", "version": "1.0.0", "dependencies": app_deps}
    with open(f"{app}/package.json", "w") as f:
        json.dump(manifest, f, indent=2)
    lock = {"name": "hx-app", "version": "1.0.0", "lockfileVersion": 3, "requires": True,
            "packages": {"": manifest | {"name": "hx-app"}} | lock_entries}
    with open(f"{app}/package-lock.json", "w") as f:
        f.write(json.dumps(lock, indent=2) + "\n")
    with open(f"{app}/check.js", "w") as f:
        f.write("const esc = require('hx-escape');\n"
                "const v = n => require(n + '/package.json').version;\n"
                "console.log(esc('<b>'), v('hx-escape'), require('hx-legacy/node_modules/hx-escape/package.json').version);\n")
    with open(f"{app}/server.js", "w") as f:
        f.write("const http = require('http');\nconst esc = require('hx-escape');\n"
                "const s = http.createServer((q, r) => r.end(esc('<b>') + '\\n'));\n"
                "s.listen(process.env.PORT || 0, '127.0.0.1', () => console.log('listening on port ' + s.address().port));\n")

    advisories = [
        ("HXSA-1", "hx-escape", [{"introduced": "0"}, {"fixed": "0.9.3"}, {"introduced": "1.0.0"}, {"fixed": "1.0.2"}]),
        ("HXSA-2", "hx-pinned", [{"introduced": "0"}, {"fixed": "2.0.0"}]),
        ("HXSA-3", "hx-needy", [{"introduced": "0"}, {"fixed": "1.1.0"}]),
    ]
    with zipfile.ZipFile(f"{DIR}/osv-npm-all.zip", "w") as z:
        for vid, pkg, events in advisories:
            z.writestr(f"{vid}.json", json.dumps({
                "id": vid, "modified": "2026-01-01T00:00:00Z", "summary": f"{pkg} escapes badly",
                "affected": [{"package": {"ecosystem": "npm", "name": pkg},
                              "ranges": [{"type": "SEMVER", "events": events}]}],
                "database_specific": {"severity": "HIGH"},
            }))


if sys.argv[1] == "--image":
    image(*sys.argv[2:7])
else:
    DIR, URL = sys.argv[1], sys.argv[2].rstrip("/")
    HOSTILE = sys.argv[3] if len(sys.argv) > 3 else ""
    main()
